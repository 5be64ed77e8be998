"""Partner CSV drops: `<drop_dir>/<partner_id>/*.csv`, described by `partner.yaml`.

Manifest keys: `source` (required), `source_type`, `motion`, `owner`, `encoding` (default
utf-8-sig), `delimiter` (default ","), `timezone` (the zone of datetimes written without an
offset), `datetime_format` (a strptime format for datetime columns) and `columns` (lead field
-> CSV column; `created_at` is required). Without a `lead_id` column a lead's id is
`<partner_id>:<file stem>:<line>`, stable as long as the file is not rewritten.

A row that cannot be read becomes a `RecordError` naming the file and line. A file that
cannot be read at all (bad manifest, wrong encoding, missing column) becomes one
`RecordError` for that file, and the other partners are still read.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from cadence_pipeline.governance.config import MOTIONS, GovernanceConfig
from cadence_pipeline.governance.records import Lead, RecordError
from cadence_pipeline.resources.connector import FetchResult
from cadence_pipeline.resources.mapping import has_activity, lead_from_record, require_aware

logger = logging.getLogger(__name__)

MANIFEST = "partner.yaml"
MANIFEST_KEYS = {
    "source",
    "source_type",
    "motion",
    "owner",
    "encoding",
    "delimiter",
    "timezone",
    "datetime_format",
    "columns",
}
LEAD_FIELDS = set(Lead.__dataclass_fields__) - {"crm", "extra", "source_type"}


@dataclass
class PartnerManifest:
    partner_id: str
    path: Path
    source: str
    columns: dict[str, str]
    source_type: str | None = None
    motion: str | None = None
    owner: str | None = None
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    timezone: str | None = None
    datetime_format: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ManifestError(ValueError):
    """A partner.yaml that cannot be used; `key` names the offending key."""

    def __init__(self, path: Path, key: str, problem: str, fix: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: key {key!r} {problem}. Fix: {fix}")


def load_manifest(folder: Path) -> PartnerManifest:
    """Read and check `<folder>/partner.yaml`, raising ManifestError with the key and the fix."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ManifestError(
            path, MANIFEST, "is missing", "add a partner.yaml next to the CSV files"
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
    if not data.get("source"):
        raise ManifestError(
            path, "source", "is missing", "name the lead source, e.g. source: partner_acme"
        )
    columns = data.get("columns")
    if not isinstance(columns, dict) or "created_at" not in columns:
        raise ManifestError(
            path,
            "columns",
            "must map lead fields to CSV columns and include created_at",
            "add columns: {created_at: <column>, email: <column>, ...}",
        )
    unknown_fields = sorted(set(columns) - LEAD_FIELDS)
    if unknown_fields:
        raise ManifestError(
            path,
            f"columns.{unknown_fields[0]}",
            "is not a lead field",
            f"use lead fields such as {', '.join(sorted(LEAD_FIELDS)[:6])}, ...",
        )
    motion = data.get("motion")
    if motion is not None and str(motion).lower() not in MOTIONS:
        raise ManifestError(path, "motion", f"is {motion!r}", f"use one of {', '.join(MOTIONS)}")
    timezone = data.get("timezone")
    if timezone is not None:
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ManifestError(
                path,
                "timezone",
                f"is {timezone!r}, not an IANA zone",
                "use a name such as Europe/Berlin",
            ) from error
    delimiter = str(data.get("delimiter", ","))
    if len(delimiter) != 1:
        raise ManifestError(
            path, "delimiter", f"is {delimiter!r}", "use one character such as , or ;"
        )
    encoding = str(data.get("encoding", "utf-8-sig"))
    try:
        "".encode(encoding)
    except LookupError as error:
        raise ManifestError(
            path,
            "encoding",
            f"is {encoding!r}, an unknown codec",
            "use a Python codec name such as utf-8-sig or cp1252",
        ) from error
    return PartnerManifest(
        partner_id=folder.name,
        path=path,
        source=str(data["source"]),
        columns={str(key): str(value) for key, value in columns.items()},
        source_type=data.get("source_type"),
        motion=str(motion).lower() if motion is not None else None,
        owner=data.get("owner"),
        encoding=encoding,
        delimiter=delimiter,
        timezone=str(timezone) if timezone is not None else None,
        datetime_format=data.get("datetime_format"),
    )


class PartnerFileConnector:
    """Reads partner CSV drops under `drop_dir`, one folder per partner."""

    crm = "partner_file"

    def __init__(
        self, *, drop_dir: Path, config: GovernanceConfig, partner_ids: list[str] | None = None
    ) -> None:
        self.drop_dir = Path(drop_dir)
        self.config = config
        self.partner_ids = partner_ids

    def partner_folders(self) -> list[Path]:
        if not self.drop_dir.is_dir():
            return []
        folders = sorted(path for path in self.drop_dir.iterdir() if path.is_dir())
        if self.partner_ids is not None:
            folders = [path for path in folders if path.name in self.partner_ids]
        return folders

    def fetch_leads(self, start: datetime, end: datetime) -> FetchResult:
        """Return leads with activity in [start, end) from every partner file, plus rejects."""
        start, end = require_aware(start, "start"), require_aware(end, "end")
        everything = self.read_all()
        result = FetchResult(
            rejected=everything.rejected, requests=everything.requests, pages=everything.pages
        )
        result.leads = [lead for lead in everything.leads if has_activity(lead, start, end)]
        return result

    def read_all(self) -> FetchResult:
        """Read every row of every partner file; `pages` counts files read."""
        result = FetchResult()
        for folder in self.partner_folders():
            files = sorted(folder.glob("*.csv"))
            try:
                manifest = load_manifest(folder)
            except ManifestError as error:
                logger.error("partner %s: %s", folder.name, error)
                for path in files or [folder / "*.csv"]:
                    result.rejected.append(
                        RecordError(
                            record_id=f"{folder.name}:{path.name}",
                            field_name=error.key,
                            problem=error.problem,
                            fix=error.fix,
                            origin=str(error.path),
                        )
                    )
                continue
            for path in files:
                result.pages += 1
                result.extend(self.read_file(manifest, path))
        return result

    def read_file(self, manifest: PartnerManifest, path: Path) -> FetchResult:
        result = FetchResult()
        try:
            text = _decode(path, manifest.encoding)
        except RecordError as error:
            result.rejected.append(error)
            return result
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=manifest.delimiter, strict=True
        )
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            return result
        except csv.Error as error:
            result.rejected.append(
                _file_error(
                    path,
                    1,
                    "header",
                    f"cannot be parsed ({error})",
                    "fix the quoting of the header row",
                )
            )
            return result
        missing = [column for column in manifest.columns.values() if column not in header]
        if missing:
            result.rejected.append(
                _file_error(
                    path,
                    1,
                    missing[0],
                    f"is not a column of the file; missing columns: {', '.join(missing)}; "
                    f"header: {', '.join(header)}",
                    f"rename the column in the file or in {manifest.path.name} columns",
                )
            )
            return result
        for line, row in _rows(reader, path, result):
            if not any(cell.strip() for cell in row):
                continue
            origin = f"{path}:{line}"
            if len(row) != len(header):
                result.rejected.append(
                    _file_error(
                        path,
                        line,
                        "row",
                        f"has {len(row)} fields but the header has {len(header)}",
                        f"quote values that contain {manifest.delimiter!r}, or fix the row",
                    )
                )
                continue
            record = dict(zip(header, row, strict=True))
            try:
                lead = lead_from_record(
                    record,
                    crm=self.crm,
                    fields=manifest.columns,
                    config=self.config,
                    origin=origin,
                    default_motion=manifest.motion,
                    timezone=manifest.timezone,
                    naive_timezone=manifest.timezone,
                    datetime_format=manifest.datetime_format,
                    record_id=None
                    if "lead_id" in manifest.columns
                    else f"{manifest.partner_id}:{path.stem}:{line}",
                    source=None if "source" in manifest.columns else manifest.source,
                    source_type=manifest.source_type,
                )
            except RecordError as error:
                result.rejected.append(error)
                continue
            if manifest.owner:
                lead.extra["owner"] = manifest.owner
            lead.extra["partner_id"] = manifest.partner_id
            result.leads.append(lead)
        return result


def _decode(path: Path, encoding: str) -> str:
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise _file_error(
            path,
            line,
            "encoding",
            f"byte {error.start} is not valid {encoding}",
            "save the file in the manifest's encoding, or set encoding: in partner.yaml "
            "(e.g. cp1252)",
        ) from error


def _rows(reader: Any, path: Path, result: FetchResult) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line number, row); a quoting error rejects the rest of the file."""
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            result.rejected.append(
                _file_error(
                    path,
                    line,
                    "row",
                    f"cannot be parsed ({error}); the rest of the file was not read",
                    "close the open quote or escape it as two quotes",
                )
            )
            return
        yield line, row
        line = reader.line_num + 1


def _file_error(path: Path, line: int, field_name: str, problem: str, fix: str) -> RecordError:
    return RecordError(
        record_id=f"{path.name}:{line}",
        field_name=field_name,
        problem=problem,
        fix=fix,
        origin=f"{path}:{line}",
    )
