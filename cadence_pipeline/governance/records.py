"""The canonical lead record every connector produces, whatever CRM or file it came from."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# Fields a validation rule may read. A source "provides" a field when at least one of its
# leads in the batch has a value for it. Rules on fields a source never provides are not
# applicable to that source, so they never count as failures.
CONTACT_FIELDS = (
    "email",
    "phone",
    "country",
    "company",
    "industry",
    "employees",
    "title",
    "email_opt_out",
    "consent",
)

STAGES = ("mql", "mql_rejected", "sal", "sal_rejected", "won")


@dataclass
class Lead:
    """One lead as cadence models it. Instants are timezone-aware UTC datetimes."""

    lead_id: str
    crm: str
    source: str
    motion: str
    created_at: datetime
    source_type: str | None = None
    email: str | None = None
    phone: str | None = None
    country: str | None = None
    company: str | None = None
    industry: str | None = None
    employees: int | None = None
    title: str | None = None
    email_opt_out: bool | None = None
    consent: bool | None = None
    account_id: str | None = None
    signal_class: str | None = None
    signal_at: datetime | None = None
    mql_at: datetime | None = None
    mql_rejected_at: datetime | None = None
    mql_rejection_code: str | None = None
    sal_at: datetime | None = None
    sal_rejected_at: datetime | None = None
    sal_rejection_code: str | None = None
    won_at: datetime | None = None
    definition_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Every signal of the lead as (signal class, instant), oldest first. `signal_class` and
    # `signal_at` hold the first one; a CRM with campaign memberships may report several.
    signals: list[tuple[str, datetime]] = field(default_factory=list)

    def stage_time(self, stage: str) -> datetime | None:
        """Return when the lead reached `stage` (one of STAGES), or None."""
        return getattr(self, f"{stage}_at")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RecordError(ValueError):
    """A source record that cannot become a lead, with where it came from and how to fix it."""

    def __init__(self, *, record_id: str, field_name: str, problem: str, fix: str, origin: str):
        self.record_id = record_id
        self.field_name = field_name
        self.problem = problem
        self.fix = fix
        self.origin = origin
        super().__init__(
            f"{origin}: record {record_id}: field {field_name!r} {problem}. Fix: {fix}"
        )


def mask(value: object) -> str:
    """Mask a personal value for messages: keep its shape, hide its content."""
    if value is None:
        return "<empty>"
    text = str(value)
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain[:1]}***" if local else "***@***"
    if len(text) <= 2:
        return "*" * len(text)
    return f"{text[:1]}{'*' * (len(text) - 2)}{text[-1:]}"


def normalise_source(value: object) -> str:
    """Return a snake_case source id; a blank or missing source is `unspecified`.

    Spaces, hyphens and other separators become underscores, so "Paid Search",
    "paid-search" and "paid_search" are one source.
    """
    if value is None:
        return "unspecified"
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    text = re.sub(r"[^0-9a-z]+", "_", text).strip("_")
    return text or "unspecified"


_INSTANT_FIELDS = (
    "created_at",
    "signal_at",
    "mql_at",
    "mql_rejected_at",
    "sal_at",
    "sal_rejected_at",
    "won_at",
)


def lead_to_json(lead: Lead) -> str:
    """Serialise a lead for the raw snapshot; instants become ISO 8601 strings."""
    data = lead.to_dict()
    for name in _INSTANT_FIELDS:
        if data[name] is not None:
            data[name] = data[name].isoformat()
    data["signals"] = [[signal_class, at.isoformat()] for signal_class, at in lead.signals]
    return json.dumps(data, sort_keys=True, default=str)


def lead_from_json(text: str) -> Lead:
    """Rebuild a lead stored by `lead_to_json`."""
    data = json.loads(text)
    for name in _INSTANT_FIELDS:
        if data.get(name) is not None:
            data[name] = datetime.fromisoformat(data[name])
    data["signals"] = [
        (signal_class, datetime.fromisoformat(at)) for signal_class, at in data.get("signals", [])
    ]
    return Lead(**data)
