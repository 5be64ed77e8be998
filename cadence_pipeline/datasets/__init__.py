"""Recognise public data sets by their files and convert them to CRM fixtures.

`detect` returns the kind of data set in a folder. `convert` writes its records as the
API-native fixtures the emulators serve. It also writes `rejected_rows.csv`, which lists
every row or value the conversion could not use, with the reason and the fix.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cadence_pipeline.datasets.common import ConversionSummary, DatasetError, Rejections
from cadence_pipeline.datasets.maven import PIPELINE_FILE, convert_maven
from cadence_pipeline.datasets.olist import MQL_FILE, convert_olist
from cadence_pipeline.datasets.x_education import LEADS_FILE, convert_x_education
from cadence_pipeline.simulator.fixtures import FixtureWriter

logger = logging.getLogger(__name__)

__all__ = ["KINDS", "ConversionSummary", "DatasetError", "convert", "detect"]

# The file that identifies each data set, matched case-insensitively.
KINDS = {
    "olist": MQL_FILE,
    "maven": PIPELINE_FILE,
    "x_education": LEADS_FILE,
}


def _folder(path: Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: not found. Fix: pass the folder that contains the data set")
    return path.parent if path.is_file() else path


def detect(path: Path) -> str:
    """Return the kind of data set in the folder `path` (a file in it works too).

    Raises DatasetError listing the files looked for when none is present.
    """
    folder = _folder(path)
    names = {candidate.name.lower() for candidate in folder.iterdir() if candidate.is_file()}
    found = [kind for kind, file_name in KINDS.items() if file_name.lower() in names]
    if len(found) == 1:
        return found[0]
    expected = "; ".join(f"{kind}: {file_name}" for kind, file_name in KINDS.items())
    if found:
        raise DatasetError(
            f"{folder}: contains files of several data sets ({', '.join(found)}). "
            "Fix: put each data set in a folder of its own"
        )
    raise DatasetError(
        f"{folder}: no recognised data set; looked for {expected}. "
        "Fix: pass the folder holding one of these files, as downloaded"
    )


def convert(
    path: Path,
    fixtures_dir: Path,
    *,
    timezone: str = "UTC",
    as_of: datetime | None = None,
) -> ConversionSummary:
    """Convert the data set at `path` to fixtures under `fixtures_dir` and return a summary.

    Date-only values are midnight in `timezone`. `as_of` defaults to the end of the ISO week of
    the data's last record (X Education: a fixed instant, since its dates are synthetic).
    Stage dates at or after `as_of` are left off and listed in `rejected_rows.csv`.
    """
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise DatasetError(
            f"unknown IANA timezone {timezone!r}; use a name such as Europe/Berlin"
        ) from error
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    folder = _folder(path)
    kind = detect(folder)
    rejections = Rejections()
    writer = FixtureWriter(fixtures_dir)
    writer.reset()
    try:
        if kind == "olist":
            result = convert_olist(folder, rejections, timezone, as_of)
        elif kind == "maven":
            result = convert_maven(folder, rejections, timezone, as_of)
        else:
            result = convert_x_education(folder, rejections, as_of)
    finally:
        # Written even when the conversion fails, so the operator can see every bad row.
        writer.write_rejected(rejections.rows)
    leads = sorted(result.leads, key=lambda lead: lead.created_at)
    if kind == "x_education":
        written = writer.write_hubspot(leads)
        crm = "hubspot"
    else:
        written = writer.write_salesforce(leads)
        crm = "salesforce"
    notes = list(result.notes)
    if rejections.rows:
        notes.append(f"{len(rejections)} rows or values not used: see rejected_rows.csv")
    summary = ConversionSummary(
        kind=kind,
        path=folder,
        crm=crm,
        leads_written=written,
        rejected_rows=len(rejections),
        last_record=result.last_record,
        as_of=result.as_of,
        notes=tuple(notes),
    )
    writer.write_manifest({"kind": kind, "summary": summary.to_dict()})
    logger.info(
        "converted %s data set at %s: %d leads, %d rejected rows",
        kind,
        folder,
        written,
        len(rejections),
    )
    return summary
