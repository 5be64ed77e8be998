"""Partner CSV drops: `<drop_dir>/<partner_id>/*.csv`, described by `partner.yaml`.

Manifest keys are those of `PartnerConfig`: `source` (required), `source_type`, `motion`,
`owner`, `encoding` (default utf-8-sig; `auto` decides per file between UTF-8 and cp1252),
`delimiter` (default `auto`: comma, semicolon or tab, detected per file), `timezone` (the
zone of datetimes written without an offset), `datetime_format`, `date_format` and
`excel_dates` (how date columns are written; one configuration per partner, never guessed
per row) and `columns` (lead field -> CSV column; `created_at` is required). A partner
without `partner.yaml` may be described under `connectors.partner_files.partners`. Without
a `lead_id` column a lead's id is `<partner_id>:<file stem>:<line>`, stable as long as the
file is not rewritten.

Every file gets a `FileReport` with rows read, loaded and quarantined, and
`rows_read == rows_loaded + rows_quarantined` holds for each file. A row that cannot be read
is quarantined with its file, line and reason. A file that cannot be read as a whole (no
manifest, ambiguous delimiter, missing column) quarantines every row with that reason, and
the other files and partners are still read.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from cadence_pipeline.governance.config import GovernanceConfig
from cadence_pipeline.governance.records import Lead, RecordError
from cadence_pipeline.resources.connector import FetchResult, FileReport, QuarantinedRow
from cadence_pipeline.resources.mapping import (
    DATETIME_FIELDS,
    has_activity,
    lead_from_record,
    parse_instant,
    require_aware,
)
from cadence_pipeline.resources.mapping_config import (
    PartnerConfig,
    error_key,
    load_connectors_config,
)

logger = logging.getLogger(__name__)

MANIFEST = "partner.yaml"
MANIFEST_KEYS = set(PartnerConfig.model_fields)
LEAD_FIELDS = set(Lead.__dataclass_fields__) - {"crm", "extra", "source_type", "signals"}
DETECTED_DELIMITERS = (",", ";", "\t")
# Records read to detect the delimiter; enough to see quoting and row widths.
SNIFF_RECORDS = 50
# Excel's 1900 date system counts days from 1899-12-30 for serials from 61 (1900-03-01) on.
# Serials below 61 are shifted by Excel's fictitious 1900-02-29, so they are rejected.
EXCEL_EPOCH = datetime(1899, 12, 30)
EXCEL_MIN_SERIAL = 61
EXCEL_MAX_SERIAL = 2_958_465  # 9999-12-31
_SERIAL = re.compile(r"\d+(\.\d+)?")
_UNDECODED = re.compile("[\udc80-\udcff]")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_QUOTING_FIX = "close the open quote, or write a quote inside a value as two quotes"


@dataclass
class PartnerManifest:
    """A partner's validated description, with its folder name and where it was read."""

    partner_id: str
    path: Path
    config: PartnerConfig

    def __getattr__(self, name: str) -> Any:
        # The manifest keys (source, columns, encoding, ...) read through to the config.
        if name in MANIFEST_KEYS:
            return getattr(self.config, name)
        raise AttributeError(name)


class ManifestError(ValueError):
    """A partner.yaml that cannot be used; `key` names the offending key."""

    def __init__(self, path: Path, key: str, problem: str, fix: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: key {key!r} {problem}. Fix: {fix}")


class FileError(ValueError):
    """A file that cannot be read as a whole; every row of it is quarantined."""

    def __init__(self, line: int, field_name: str, problem: str, fix: str) -> None:
        self.line = line
        self.field_name = field_name
        self.problem = problem
        self.fix = fix
        super().__init__(f"line {line}: {field_name} {problem}. Fix: {fix}")


_MANIFEST_FIXES = {
    "source": "name the lead source, e.g. source: partner_acme",
    "columns": "map lead fields to CSV columns, e.g. columns: {created_at: Created, email: Email}",
    "motion": "use b2b or b2c",
    "timezone": "use an IANA name such as Europe/Berlin",
    "delimiter": "use one character such as ; or a name (comma, semicolon, tab) or auto",
    "encoding": "use auto or a codec name such as utf-8-sig or cp1252",
}


def load_manifest(folder: Path, configured: PartnerConfig | None = None) -> PartnerManifest:
    """Read and check `<folder>/partner.yaml`, raising ManifestError with the key and the fix.

    Without the file, `configured` (the partner's entry in the connectors configuration) is
    used when given.
    """
    path = folder / MANIFEST
    if not path.is_file():
        if configured is not None:
            return PartnerManifest(partner_id=folder.name, path=path, config=configured)
        raise ManifestError(
            path,
            MANIFEST,
            "is missing",
            "add a partner.yaml next to the CSV files, or describe the partner under "
            "connectors.partner_files.partners",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ManifestError(
            path, MANIFEST, f"is not valid YAML ({error})", "fix the syntax"
        ) from error
    if not isinstance(data, dict):
        raise ManifestError(path, MANIFEST, "is not a mapping", "write key: value lines")
    unknown = sorted(set(data) - MANIFEST_KEYS)
    if unknown:
        raise ManifestError(
            path,
            unknown[0],
            "is not a manifest key",
            f"use only {', '.join(sorted(MANIFEST_KEYS))}",
        )
    try:
        config = PartnerConfig.model_validate(data)
    except ValidationError as error:
        key, problem = error_key(error, "")
        top = key.split(".", 1)[0]
        raise ManifestError(
            path, top, problem, _MANIFEST_FIXES.get(top, "fix the value")
        ) from error
    return PartnerManifest(partner_id=folder.name, path=path, config=config)


class PartnerFileConnector:
    """Reads partner CSV drops under `drop_dir`, one folder per partner."""

    crm = "partner_file"

    def __init__(
        self, *, drop_dir: Path, config: GovernanceConfig, partner_ids: list[str] | None = None
    ) -> None:
        self.drop_dir = Path(drop_dir)
        self.config = config
        self.partner_ids = partner_ids
        self.configured = load_connectors_config(config.connectors).partner_files.partners

    def partner_folders(self) -> list[Path]:
        if not self.drop_dir.is_dir():
            return []
        folders = sorted(path for path in self.drop_dir.iterdir() if path.is_dir())
        if self.partner_ids is not None:
            folders = [path for path in folders if path.name in self.partner_ids]
        return folders

    def fetch_leads(self, start: datetime, end: datetime) -> FetchResult:
        """Return leads with activity in [start, end) from every partner file, plus rejects.

        `files` and `rejected` describe whole files, because a file is read whole; only the
        leads are filtered by the window.
        """
        start, end = require_aware(start, "start"), require_aware(end, "end")
        everything = self.read_all()
        everything.leads = [lead for lead in everything.leads if has_activity(lead, start, end)]
        return everything

    def read_all(self) -> FetchResult:
        """Read every row of every partner file; `pages` counts files read."""
        result = FetchResult()
        for folder in self.partner_folders():
            for path in sorted(folder.glob("*.csv")):
                result.extend(self.read_path(path))
        return result

    def read_path(self, path: Path) -> FetchResult:
        """Read one delivered file, loading its partner's manifest from the file's folder."""
        folder = Path(path).parent
        try:
            manifest = load_manifest(folder, self.configured.get(folder.name))
        except ManifestError as error:
            logger.error("partner %s: %s", folder.name, error)
            return self._reject_file(
                folder.name,
                Path(path),
                FileError(1, error.key, error.problem, error.fix),
                origin=str(error.path),
                record_id=f"{folder.name}:{Path(path).name}",
            )
        return self.read_file(manifest, Path(path))

    def read_file(self, manifest: PartnerManifest, path: Path) -> FetchResult:
        """Read one file of a partner: every row is loaded or quarantined with its reason."""
        data = path.read_bytes()
        try:
            text, encoding = _decode(data, manifest.encoding)
            delimiter = _choose_delimiter(text, manifest)
        except FileError as error:
            return self._reject_file(manifest.partner_id, path, error, data=data)
        report = _new_report(manifest.partner_id, path)
        report.encoding, report.delimiter = encoding, delimiter
        result = FetchResult(pages=1, files=[report])
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            return result
        except csv.Error as error:
            problem = FileError(1, "header", f"cannot be parsed ({error})", "fix the quoting")
            return self._reject_file(manifest.partner_id, path, problem, data=data)
        try:
            _check_header(header, manifest, delimiter)
        except FileError as error:
            return self._reject_file(manifest.partner_id, path, error, data=data)
        for line, row, parse_error in _records(reader):
            if parse_error is None and not any(cell.strip() for cell in row):
                continue
            report.rows_read += 1
            try:
                if parse_error is not None:
                    raise _row_error(path, line, "row", parse_error, _QUOTING_FIX)
                lead = self._row_lead(manifest, path, line, header, row, report)
            except RecordError as error:
                _quarantine(result, report, path, line, error)
                continue
            report.rows_loaded += 1
            result.leads.append(lead)
        logger.info(
            "partner %s file %s: %d rows read, %d loaded, %d quarantined",
            manifest.partner_id,
            path.name,
            report.rows_read,
            report.rows_loaded,
            report.rows_quarantined,
        )
        return result

    # Rows.
    def _row_lead(
        self,
        manifest: PartnerManifest,
        path: Path,
        line: int,
        header: list[str],
        row: list[str],
        report: FileReport,
    ) -> Lead:
        if len(row) != len(header):
            raise _row_error(
                path,
                line,
                "row",
                f"has {len(row)} fields but the header has {len(header)}",
                f"quote values that contain {report.delimiter!r}, or fix the row",
            )
        record = dict(zip(header, row, strict=True))
        for column, value in record.items():
            match = _UNDECODED.search(value)
            if match:
                raise _row_error(
                    path,
                    line,
                    "encoding",
                    f"column {column!r} holds byte 0x{ord(match.group()) - 0xDC00:02X}, which "
                    f"is not valid {report.encoding}",
                    "save the file in the manifest's encoding, or set encoding: in "
                    "partner.yaml (e.g. cp1252 or auto)",
                )
        origin = f"{path}:{line}"
        if "lead_id" in manifest.columns:
            record_id = None
            row_id = record[manifest.columns["lead_id"]].strip() or f"{path.name}:{line}"
        else:
            record_id = row_id = f"{manifest.partner_id}:{path.stem}:{line}"
        for lead_field in DATETIME_FIELDS:
            column = manifest.columns.get(lead_field)
            if column is not None:
                record[column] = self._instant(manifest, record[column], column, origin, row_id)
        lead = lead_from_record(
            record,
            crm=self.crm,
            fields=manifest.columns,
            config=self.config,
            origin=origin,
            default_motion=manifest.motion,
            timezone=manifest.timezone,
            naive_timezone=manifest.timezone,
            record_id=record_id,
            source=None if "source" in manifest.columns else manifest.source,
            source_type=manifest.source_type,
        )
        if manifest.owner:
            lead.extra["owner"] = manifest.owner
        lead.extra["partner_id"] = manifest.partner_id
        return lead

    def _instant(
        self, manifest: PartnerManifest, value: str, column: str, origin: str, record_id: str
    ) -> datetime | None:
        """Parse a date column with the partner's configured format, never a guessed one."""
        text = value.strip()
        if not text:
            return None
        zone = manifest.timezone or self.config.timezone

        def reject(problem: str, fix: str) -> RecordError:
            return RecordError(
                record_id=record_id, field_name=column, problem=problem, fix=fix, origin=origin
            )

        if manifest.excel_dates and _SERIAL.fullmatch(text):
            return _excel_instant(text, manifest.timezone, zone, reject)
        formats = [name for name in (manifest.datetime_format, manifest.date_format) if name]
        if not formats:
            return parse_instant(
                text,
                field_name=column,
                timezone=zone,
                origin=origin,
                record_id=record_id,
                naive_timezone=manifest.timezone,
            )
        if manifest.datetime_format:
            try:
                parsed = datetime.strptime(text, manifest.datetime_format)
            except ValueError:
                parsed = None
            if parsed is not None:
                if parsed.tzinfo is None:
                    if manifest.timezone is None:
                        raise reject(
                            "is a datetime without a time zone offset",
                            "set timezone: in partner.yaml to the zone the partner writes in",
                        )
                    parsed = parsed.replace(tzinfo=ZoneInfo(manifest.timezone))
                return parsed.astimezone(UTC)
        if manifest.date_format:
            try:
                day = datetime.strptime(text, manifest.date_format).date()
            except ValueError:
                day = None
            if day is not None:
                return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
        expected = " or ".join(repr(name) for name in formats)
        if manifest.excel_dates:
            expected += " or an Excel serial date"
        raise reject(
            f"does not match the configured format {expected}",
            "fix the value, or correct datetime_format/date_format in partner.yaml",
        )

    # Whole-file rejection.
    def _reject_file(
        self,
        partner_id: str,
        path: Path,
        error: FileError,
        *,
        data: bytes | None = None,
        origin: str | None = None,
        record_id: str | None = None,
    ) -> FetchResult:
        """Quarantine every row of a file that cannot be read, with the file's reason."""
        report = _new_report(partner_id, path)
        report.file_error = f"{error.field_name} {error.problem}"
        result = FetchResult(pages=1, files=[report])
        lines = _record_lines(data if data is not None else path.read_bytes())
        for line in lines or [error.line]:
            rejected = RecordError(
                record_id=record_id or f"{path.name}:{line}",
                field_name=error.field_name,
                problem=error.problem,
                fix=error.fix,
                origin=origin or f"{path}:{line}",
            )
            if lines:
                report.rows_read += 1
                _quarantine(result, report, path, line, rejected)
            else:
                result.rejected.append(rejected)  # no rows: the file error is still reported
        logger.error("partner %s file %s rejected: %s", partner_id, path.name, error)
        return result


def _new_report(partner_id: str, path: Path) -> FileReport:
    stat = path.stat()
    return FileReport(
        source_id=partner_id, file=str(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns
    )


def _quarantine(
    result: FetchResult, report: FileReport, path: Path, line: int, error: RecordError
) -> None:
    report.rows_quarantined += 1
    report.quarantined.append(
        QuarantinedRow(
            file=str(path),
            line=line,
            field_name=error.field_name,
            reason=f"{error.problem}. Fix: {error.fix}",
            record_id=error.record_id,
        )
    )
    result.rejected.append(error)


def _row_error(path: Path, line: int, field_name: str, problem: str, fix: str) -> RecordError:
    return RecordError(
        record_id=f"{path.name}:{line}",
        field_name=field_name,
        problem=problem,
        fix=fix,
        origin=f"{path}:{line}",
    )


# Decoding.
def _decode(data: bytes, encoding: str) -> tuple[str, str]:
    """Return the text and the encoding used; undecodable bytes stay as surrogates.

    Rows holding such a byte are quarantined one by one, so one bad byte does not cost the
    whole file.
    """
    has_bom = data.startswith(codecs.BOM_UTF8)
    if encoding == "auto":
        if has_bom:
            return data.decode("utf-8-sig", errors="surrogateescape"), "utf-8-sig"
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="surrogateescape"), "cp1252"
    if has_bom:
        if encoding not in ("utf-8", "utf-8-sig"):
            raise FileError(
                1,
                "encoding",
                f"starts with a UTF-8 byte order mark but the manifest says {encoding}",
                "set encoding: utf-8-sig (or auto) in partner.yaml",
            )
        encoding = "utf-8-sig"
    return data.decode(encoding, errors="surrogateescape"), encoding


def _record_lines(data: bytes) -> list[int]:
    """Return the first line of every non-blank record after the header, for any delimiter."""
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    lines: list[int] = []
    try:
        next(reader)
    except (StopIteration, csv.Error):
        return lines
    for line, row, parse_error in _records(reader):
        if parse_error is not None or any(cell.strip() for cell in row):
            lines.append(line)
    return lines


def _records(reader: Any) -> Iterator[tuple[int, list[str], str | None]]:
    """Yield (first line, row, parse error or None) for every record after the header.

    A quoting error ends only its own record; the reader resumes at the next line.
    """
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            spanned = reader.line_num - line + 1
            extent = f" (lines {line}-{reader.line_num})" if spanned > 1 else ""
            yield line, [], f"cannot be parsed{extent}: {error}"
            line = reader.line_num + 1
            continue
        yield line, row, None
        line = reader.line_num + 1


# Delimiters and header.
def _sample_rows(text: str, delimiter: str) -> list[list[str]] | None:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append(row)
            if len(rows) > SNIFF_RECORDS:
                break
    except csv.Error:
        return rows or None  # a quoting error later in the file is reported per row
    return rows


def _choose_delimiter(text: str, manifest: PartnerManifest) -> str:
    """Return the manifest's delimiter, or detect it; raise FileError when several fit."""
    if manifest.delimiter != "auto":
        return manifest.delimiter
    expected = set(manifest.columns.values())
    fits: dict[str, list[list[str]]] = {}
    for candidate in DETECTED_DELIMITERS:
        rows = _sample_rows(text, candidate)
        if not rows:
            continue
        header = [name.strip() for name in rows[0]]
        widths = {len(row) for row in rows}
        if expected <= set(header) and widths == {len(header)}:
            fits[candidate] = rows
    distinct = {repr(rows) for rows in fits.values()}
    if len(distinct) == 1:
        return next(iter(fits))
    names = ", ".join(_DELIMITER_NAMES[candidate] for candidate in DETECTED_DELIMITERS)
    if not fits:
        raise FileError(
            1,
            "delimiter",
            f"could not be detected: no delimiter among {names} splits the header into the "
            f"mapped columns ({', '.join(sorted(expected))}) with every row as wide as the "
            "header",
            "set delimiter: in partner.yaml, or fix the header and the rows",
        )
    found = " and ".join(_DELIMITER_NAMES[candidate] for candidate in fits)
    raise FileError(
        1,
        "delimiter",
        f"is ambiguous: {found} both split the header into the mapped columns and every row "
        "evenly, but into different values",
        "set delimiter: in partner.yaml for this partner",
    )


def _check_header(header: list[str], manifest: PartnerManifest, delimiter: str) -> None:
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise FileError(
            1,
            duplicates[0],
            f"appears {header.count(duplicates[0])} times in the header",
            "give every column a unique name",
        )
    missing = [column for column in manifest.columns.values() if column not in header]
    if missing:
        raise FileError(
            1,
            missing[0],
            f"is not a column of the file; missing columns: {', '.join(missing)}; "
            f"header read with delimiter {delimiter!r}: {', '.join(header)}",
            f"rename the column in the file or in {MANIFEST} columns",
        )


def _excel_instant(text: str, naive_zone: str | None, date_zone: str, reject: Any) -> datetime:
    """Convert an Excel serial date (days since 1899-12-30, fraction = time of day)."""
    serial = float(text)
    if not EXCEL_MIN_SERIAL <= serial <= EXCEL_MAX_SERIAL:
        raise reject(
            f"is the Excel serial {text}, outside {EXCEL_MIN_SERIAL}..{EXCEL_MAX_SERIAL} "
            "(1900-03-01 to 9999-12-31)",
            "export the column as a date, or check that it holds dates",
        )
    local = EXCEL_EPOCH + timedelta(seconds=round(serial * 86400))
    if serial.is_integer():
        return local.replace(tzinfo=ZoneInfo(date_zone)).astimezone(UTC)
    if naive_zone is None:
        raise reject(
            "is an Excel serial datetime, which has no time zone",
            "set timezone: in partner.yaml to the zone the partner writes in",
        )
    return local.replace(tzinfo=ZoneInfo(naive_zone)).astimezone(UTC)


def file_counts(result: FetchResult) -> list[Mapping[str, Any]]:
    """Return one row per file (file, read, loaded, quarantined, error) for a counts table."""
    return [
        {
            "source_id": report.source_id,
            "file": report.file,
            "rows_read": report.rows_read,
            "rows_loaded": report.rows_loaded,
            "rows_quarantined": report.rows_quarantined,
            "file_error": report.file_error,
        }
        for report in result.files
    ]
