"""Map CRM and file records to `Lead` through a configured field mapping, strictly.

A value that cannot be read (a missing id, an unparseable or naive datetime, an unknown
motion) raises `RecordError` naming the field, the record and the fix, with personal values
masked. Connectors collect these in `FetchResult.rejected`, so no record is silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from cadence_pipeline.governance.config import MOTIONS, GovernanceConfig
from cadence_pipeline.governance.records import (
    Lead,
    RecordError,
    mask,
    normalise_source,
)

DATETIME_FIELDS = (
    "created_at",
    "signal_at",
    "mql_at",
    "mql_rejected_at",
    "sal_at",
    "sal_rejected_at",
    "won_at",
)
# Lead fields that place a lead in a window: created, a stage reached, or a signal.
ACTIVITY_FIELDS = DATETIME_FIELDS
BOOLEAN_FIELDS = ("email_opt_out", "consent")
INTEGER_FIELDS = ("employees",)
TRUE_WORDS = {"true", "yes", "y", "1"}
FALSE_WORDS = {"false", "no", "n", "0"}

# Epoch milliseconds below 10^11 (before March 1973) are almost surely epoch seconds.
_MIN_EPOCH_MS = 10**11
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DIGITS = re.compile(r"-?\d+")


class ConnectorError(RuntimeError):
    """A source could not be read as a whole: the API or file error, and what to do next."""

    def __init__(
        self, message: str, *, crm: str, error_code: str | None = None, status: int | None = None
    ) -> None:
        self.crm = crm
        self.error_code = error_code
        self.status = status
        super().__init__(message)


def _shown(field_name: str, value: object) -> str:
    """Show a value in an error message masked, since any column may hold personal data."""
    return mask(value)


def _shape(value: object) -> str:
    """Show the format of a datetime value without its content: digits become 9, letters a."""
    text = str(value)[:40]
    return "'" + re.sub(r"[A-SU-Ya-z]", "a", re.sub(r"\d", "9", text)) + "'"


def parse_instant(
    value: object,
    *,
    field_name: str,
    timezone: str,
    origin: str,
    record_id: str,
    naive_timezone: str | None = None,
    datetime_format: str | None = None,
) -> datetime | None:
    """Parse a CRM or file datetime value as an aware UTC datetime, or None when blank.

    Accepts Salesforce's `2026-11-02T09:15:00.000+0000`, ISO strings with `Z` or an offset,
    epoch milliseconds (int or digit string), and date-only `YYYY-MM-DD`, which is midnight in
    `timezone`. A string without an offset is rejected unless `naive_timezone` names the zone
    the source writes in; it is never read in the machine's local zone. `datetime_format` is a
    strptime format tried first (used for partner files).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None

    def reject(problem: str, fix: str) -> RecordError:
        return RecordError(
            record_id=record_id, field_name=field_name, problem=problem, fix=fix, origin=origin
        )

    if isinstance(value, bool):
        raise reject(f"is a boolean ({value}), not a datetime", "send an ISO 8601 datetime")
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) or (
        isinstance(value, str) and _DIGITS.fullmatch(value.strip())
    ):
        millis = int(value)
        if abs(millis) < _MIN_EPOCH_MS:
            raise reject(
                f"is {_shape(value)}, which looks like epoch seconds, not milliseconds",
                "send epoch milliseconds or an ISO 8601 datetime with an offset",
            )
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    elif isinstance(value, str):
        text = value.strip()
        parsed = None
        if datetime_format:
            try:
                parsed = datetime.strptime(text, datetime_format)
            except ValueError:
                parsed = None
        if parsed is None and _DATE_ONLY.fullmatch(text):
            try:
                day = datetime.strptime(text, "%Y-%m-%d").date()
            except ValueError as error:
                raise reject(f"is {_shape(value)}, not a valid date", "use YYYY-MM-DD") from error
            return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)
        if parsed is None:
            normalised = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
            if re.search(r"[+-]\d{4}$", normalised):
                normalised = f"{normalised[:-2]}:{normalised[-2:]}"
            try:
                parsed = datetime.fromisoformat(normalised)
            except ValueError as error:
                expected = f"the format {datetime_format!r}" if datetime_format else "ISO 8601"
                raise reject(
                    f"is {_shape(value)}, which is not a datetime in {expected}",
                    "send an ISO 8601 datetime with an offset, e.g. 2026-11-02T09:15:00Z",
                ) from error
    else:
        raise reject(f"has type {type(value).__name__}, not a datetime", "send an ISO 8601 string")
    if parsed.tzinfo is None:
        if naive_timezone is None:
            raise reject(
                f"is {_shape(value)}, a datetime without a time zone offset",
                "send the offset (e.g. +00:00 or Z), or configure the timezone this source "
                "writes in",
            )
        parsed = parsed.replace(tzinfo=ZoneInfo(naive_timezone))
    return parsed.astimezone(UTC)


def parse_bool(value: object, *, field_name: str, origin: str, record_id: str) -> bool | None:
    """Parse true/false, yes/no, y/n, 1/0 (any case); blank is None."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise RecordError(
        record_id=record_id,
        field_name=field_name,
        problem=f"is {_shown(field_name, value)}, not a boolean",
        fix="use true/false, yes/no or 1/0",
        origin=origin,
    )


def parse_int(value: object, *, field_name: str, origin: str, record_id: str) -> int | None:
    """Parse a non-negative integer count such as employees; `1,200` and `1200.0` are read."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError(
            record_id=record_id,
            field_name=field_name,
            problem="is a boolean, not a number",
            fix="send a whole number",
            origin=origin,
        )
    text = str(value).strip().replace(",", "").replace("_", "")
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if number != number or not number.is_integer() or number < 0:
        raise RecordError(
            record_id=record_id,
            field_name=field_name,
            problem=f"is {_shown(field_name, value)}, not a whole non-negative number",
            fix="send a whole number such as 250",
            origin=origin,
        )
    return int(number)


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def lead_from_record(
    record: Mapping[str, Any],
    *,
    crm: str,
    fields: Mapping[str, str],
    config: GovernanceConfig,
    origin: str,
    default_motion: str | None = None,
    timezone: str | None = None,
    naive_timezone: str | None = None,
    datetime_format: str | None = None,
    record_id: str | None = None,
    source: str | None = None,
    source_type: str | None = None,
) -> Lead:
    """Build a Lead from one API or file record, raising RecordError for a bad value.

    `fields` maps lead field names to the record's own names. `record_id` overrides the id,
    because a partner file without an id column uses its file and line. `source` and
    `source_type` override the record's values, because a partner file names them once.
    """
    zone = timezone or config.timezone
    id_field = fields.get("lead_id")
    lead_id = record_id or _text(record.get(id_field) if id_field else None)
    if lead_id is None:
        raise RecordError(
            record_id="<no id>",
            field_name=id_field or "lead_id",
            problem="is missing, so the record cannot be tracked",
            fix=f"give every record a value in {id_field or 'the id column'}",
            origin=origin,
        )

    def raw(lead_field: str) -> Any:
        name = fields.get(lead_field)
        return record.get(name) if name else None

    values: dict[str, Any] = {}
    for lead_field in DATETIME_FIELDS:
        values[lead_field] = parse_instant(
            raw(lead_field),
            field_name=fields.get(lead_field, lead_field),
            timezone=zone,
            origin=origin,
            record_id=lead_id,
            naive_timezone=naive_timezone,
            datetime_format=datetime_format,
        )
    if values["created_at"] is None:
        created_name = fields.get("created_at", "created_at")
        raise RecordError(
            record_id=lead_id,
            field_name=created_name,
            problem="is missing, so the lead cannot be placed in a week",
            fix=f"make sure every record carries {created_name}",
            origin=origin,
        )
    for lead_field in BOOLEAN_FIELDS:
        values[lead_field] = parse_bool(
            raw(lead_field),
            field_name=fields.get(lead_field, lead_field),
            origin=origin,
            record_id=lead_id,
        )
    values["employees"] = parse_int(
        raw("employees"),
        field_name=fields.get("employees", "employees"),
        origin=origin,
        record_id=lead_id,
    )
    for lead_field in (
        "email",
        "phone",
        "country",
        "company",
        "industry",
        "title",
        "account_id",
        "signal_class",
        "mql_rejection_code",
        "sal_rejection_code",
        "definition_version",
    ):
        values[lead_field] = _text(raw(lead_field))

    motion_raw = _text(raw("motion"))
    motion = (motion_raw or default_motion or "").strip().lower()
    if motion not in MOTIONS:
        motion_name = fields.get("motion", "motion")
        shown = _shown(motion_name, motion_raw) if motion_raw else "missing"
        raise RecordError(
            record_id=lead_id,
            field_name=motion_name,
            problem=f"is {shown}, not one of the motions {', '.join(MOTIONS)}",
            fix=f"set {motion_name} to one of {', '.join(MOTIONS)}, or configure a "
            "default_motion for this connector",
            origin=origin,
        )
    source_id = normalise_source(source if source is not None else raw("source"))
    return Lead(
        lead_id=lead_id,
        crm=crm,
        source=source_id,
        motion=motion,
        source_type=source_type or config.source_type(source_id),
        **values,
    )


def has_activity(lead: Lead, start: datetime, end: datetime) -> bool:
    """Return whether the lead was created, changed stage or signalled in [start, end)."""
    for lead_field in ACTIVITY_FIELDS:
        instant = getattr(lead, lead_field)
        if instant is not None and start <= instant < end:
            return True
    return False


def require_aware(value: datetime, name: str) -> datetime:
    """Return `value` in UTC, raising ValueError for a naive datetime instead of guessing."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name}={value.isoformat()} has no time zone; pass an aware datetime "
            "(e.g. datetime(2026, 11, 2, tzinfo=UTC)) so the window is not shifted"
        )
    return value.astimezone(UTC)
