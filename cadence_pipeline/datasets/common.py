"""Parts shared by the data-set conversions: errors, the summary, rejected rows, CSV reading."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cadence_pipeline.governance.records import Lead
from cadence_pipeline.governance.weeks import WeekSpan, span_for


class DatasetError(ValueError):
    """A data set that cannot be converted; the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class ConversionSummary:
    """Result of a conversion: the leads and rejected rows written, the span anchor, notes."""

    kind: str
    path: Path
    crm: str
    leads_written: int
    rejected_rows: int
    last_record: datetime
    as_of: datetime
    notes: tuple[str, ...] = ()

    def span(self, weeks: int, timezone: str = "UTC") -> WeekSpan:
        """Return the `weeks` weeks ending with the week of the data's last record.

        The last week is partial when the run's as-of falls inside it or the data stops
        before its Sunday.
        """
        span = span_for(self.last_record, weeks, self.as_of, timezone)
        partial = span.partial_last_week or data_ends_before_week_end(self.last_record, timezone)
        return replace(span, partial_last_week=partial)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


@dataclass
class Rejections:
    """Rows, or values within rows, that a conversion could not use, each with its reason."""

    rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, file: str, line: int, record_id: str, field_name: str, reason: str) -> None:
        self.rows.append(
            {
                "file": file,
                "line": line,
                "record_id": record_id,
                "field": field_name,
                "reason": reason,
            }
        )

    def __len__(self) -> int:
        return len(self.rows)


def find_file(folder: Path, name: str) -> Path | None:
    """Return the file called `name` in `folder`, matching case-insensitively, or None."""
    exact = folder / name
    if exact.is_file():
        return exact
    for candidate in folder.iterdir():
        if candidate.is_file() and candidate.name.lower() == name.lower():
            return candidate
    return None


def read_rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) for each CSV record, after checking the required columns.

    The line number is the file line on which the record ends (the header is line 1), so
    a message can point an operator at it. Raises DatasetError when a column is missing.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except UnicodeDecodeError as error:
            raise DatasetError(
                f"{path}: the header is not UTF-8 ({error.reason}). Fix: use the data set's "
                "original file, or save the file as UTF-8"
            ) from error
        missing = [column for column in required if column not in header]
        if missing:
            raise DatasetError(
                f"{path}: required column(s) {', '.join(repr(c) for c in missing)} missing; "
                f"the header has {', '.join(repr(c) for c in header) or 'no columns'}. "
                "Fix: use the data set's original file, or rename the column to the expected name."
            )
        try:
            for row in reader:
                yield reader.line_num, {key: (value or "") for key, value in row.items() if key}
        except UnicodeDecodeError as error:
            raise DatasetError(
                f"{path}: line {reader.line_num + 1} is not UTF-8 ({error.reason} at byte "
                f"{error.start} of the read block). Fix: use the data set's original file, or "
                "save the file as UTF-8"
            ) from error


def parse_day(value: str) -> date:
    """Parse a `YYYY-MM-DD` calendar date; raise ValueError otherwise."""
    return date.fromisoformat(value.strip())


def local_midnight(day: date, timezone: str) -> datetime:
    """Return midnight at the start of `day` in `timezone` as a UTC instant."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def end_of_week(moment: datetime, timezone: str) -> datetime:
    """Return Monday 00:00 after the ISO week (in `timezone`) holding `moment`, in UTC.

    A data set's "now" is the end of the week of its last record: every event of that week
    is kept, and the week is still marked partial when the data stops before its Sunday.
    """
    day = moment.astimezone(ZoneInfo(timezone)).date()
    return local_midnight(day + timedelta(days=7 - day.weekday()), timezone)


def data_ends_before_week_end(last_record: datetime, timezone: str) -> bool:
    """True when the last record falls before the Sunday of its week: a partial week."""
    return last_record.astimezone(ZoneInfo(timezone)).date().weekday() < 6


def latest_instant(leads: Sequence[Lead]) -> datetime:
    """Return the latest instant recorded on any of `leads`."""
    moments = []
    for lead in leads:
        for name in (
            "created_at",
            "mql_at",
            "mql_rejected_at",
            "sal_at",
            "sal_rejected_at",
            "won_at",
        ):
            moment = getattr(lead, name)
            if moment is not None:
                moments.append(moment)
    return max(moments)
