"""The one interface every lead connector implements, so assets do not care where leads live."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cadence_pipeline.governance.records import Lead, RecordError


@dataclass
class QuarantinedRow:
    """One file row that could not become a lead: where it is and why."""

    file: str
    line: int
    field_name: str
    reason: str
    record_id: str


@dataclass
class FileReport:
    """Row counts of one delivered file; `rows_read == rows_loaded + rows_quarantined`.

    `rows_read` counts the data rows of the file (the header and blank lines are not rows).
    `file_error` is set when the file as a whole could not be read, for example because of an
    ambiguous delimiter. Every row is then quarantined with that reason.
    """

    source_id: str
    file: str
    size: int
    mtime_ns: int
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    encoding: str | None = None
    delimiter: str | None = None
    file_error: str | None = None
    quarantined: list[QuarantinedRow] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined


@dataclass
class FetchResult:
    """Leads pulled for one window, the records that could not be mapped, and request counts.

    `merged_ids` maps the id of a record merged away (a Salesforce lead with
    `MasterRecordId`, a HubSpot id in `hs_merged_object_ids`) to the id that survived, so a
    snapshot can retire the old id. `files` contains per-file counts for file sources.
    `warnings` collects conditions worth showing an operator that did not fail the pull.
    """

    leads: list[Lead] = field(default_factory=list)
    rejected: list[RecordError] = field(default_factory=list)
    requests: int = 0
    pages: int = 0
    merged_ids: dict[str, str] = field(default_factory=dict)
    files: list[FileReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def extend(self, other: FetchResult) -> None:
        self.leads.extend(other.leads)
        self.rejected.extend(other.rejected)
        self.requests += other.requests
        self.pages += other.pages
        self.merged_ids.update(other.merged_ids)
        self.files.extend(other.files)
        self.warnings.extend(other.warnings)


class LeadConnector(Protocol):
    """Pulls every lead with any activity in a half-open UTC window [start, end).

    Activity means the lead was created, or reached a stage (MQL, MQL rejection, SAL,
    SAL rejection, won), or produced a signal inside the window. Each returned lead is the
    full current record, so the caller can place each event in the week it happened.
    """

    crm: str

    def fetch_leads(self, start: datetime, end: datetime) -> FetchResult: ...
