"""ISO weeks (Monday 00:00 in the configured timezone) and the span of weeks a run covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def week_start(day: date) -> date:
    """Return the Monday of the ISO week holding `day`."""
    return day - timedelta(days=day.weekday())


def week_key(moment: datetime, timezone: str = "UTC") -> str:
    """Return the ISO week key (`YYYY-MM-DD` of its Monday) of an aware instant."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no timezone; attach one first")
    local = moment.astimezone(ZoneInfo(timezone))
    return week_start(local.date()).isoformat()


def week_bounds(week: str, timezone: str = "UTC") -> tuple[datetime, datetime]:
    """Return the half-open window [start, end) of a week as UTC instants."""
    monday = date.fromisoformat(week)
    if monday.weekday() != 0:
        raise ValueError(f"week key {week!r} is not a Monday; use the ISO week's Monday")
    zone = ZoneInfo(timezone)
    start = datetime.combine(monday, time(0), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def shift_week(week: str, weeks: int) -> str:
    """Return the week key `weeks` weeks after (negative: before) `week`."""
    return (date.fromisoformat(week) + timedelta(weeks=weeks)).isoformat()


def weeks_between(first: str, last: str) -> list[str]:
    """Return every week key from `first` to `last`, both included."""
    out = []
    current = first
    while current <= last:
        out.append(current)
        current = shift_week(current, 1)
    return out


@dataclass(frozen=True)
class WeekSpan:
    """The weeks a run covers: `weeks` keys ending with the week holding the last record."""

    first_week: str
    last_week: str
    as_of: datetime
    partial_last_week: bool

    @property
    def weeks(self) -> list[str]:
        return weeks_between(self.first_week, self.last_week)

    @property
    def last_complete_week(self) -> str:
        return shift_week(self.last_week, -1) if self.partial_last_week else self.last_week


def span_for(last_record: datetime, weeks: int, as_of: datetime, timezone: str = "UTC") -> WeekSpan:
    """Count `weeks` weeks back from the week holding `last_record`, inclusive.

    The last week is partial when `as_of` falls before its end, because the data stops
    before the week is over. The digest then covers the week before it.
    """
    if weeks < 1:
        raise ValueError(f"--weeks must be at least 1, got {weeks}")
    last = week_key(last_record, timezone)
    _, end = week_bounds(last, timezone)
    return WeekSpan(
        first_week=shift_week(last, -(weeks - 1)),
        last_week=last,
        as_of=as_of,
        partial_last_week=as_of < end,
    )
