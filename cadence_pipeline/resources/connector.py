"""The one interface every lead connector implements, so assets do not care where leads live."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cadence_pipeline.governance.records import Lead, RecordError


@dataclass
class FetchResult:
    """Leads pulled for one window, the records that could not be mapped, and request counts."""

    leads: list[Lead] = field(default_factory=list)
    rejected: list[RecordError] = field(default_factory=list)
    requests: int = 0
    pages: int = 0

    def extend(self, other: FetchResult) -> None:
        self.leads.extend(other.leads)
        self.rejected.extend(other.rejected)
        self.requests += other.requests
        self.pages += other.pages


class LeadConnector(Protocol):
    """Pulls every lead with any activity in a half-open UTC window [start, end).

    Activity means the lead was created, or reached a stage (MQL, MQL rejection, SAL,
    SAL rejection, won), or produced a signal inside the window. Each returned lead is the
    full current record, so the caller can place each event in the week it happened.
    """

    crm: str

    def fetch_leads(self, start: datetime, end: datetime) -> FetchResult: ...
