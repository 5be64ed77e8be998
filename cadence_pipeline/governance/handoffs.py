"""Weekly review block 5: MQL and SAL rejection codes and their remediation routes.

Every code maps to a remediation route, or gets an owner within the owner SLA (24 hours by
default). A code with no route is `awaiting_owner` while it is younger than the SLA at the
end of the week, and `unmapped` after that, which escalates to monthly definition
governance. Codes marked as definition mismatches are counted toward definition
fragmentation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cadence_pipeline.governance.config import HandoffConfig

MAPPED = "mapped"
AWAITING_OWNER = "awaiting_owner"
UNMAPPED = "unmapped"

STAGE_OF_EVENT = {"mql_rejected": "mql", "sal_rejected": "sal"}


@dataclass(frozen=True)
class Rejection:
    stage: str  # "mql" or "sal"
    code: str
    at: datetime


@dataclass(frozen=True)
class CodeRow:
    stage: str
    rejection_code: str
    count: int
    share: float
    remediation_route: str | None
    owner: str | None
    status: str
    first_seen_at: datetime
    definition_mismatch: bool


def normalise_code(code: str | None) -> str:
    """Return a snake_case rejection code; a blank code is `unspecified`."""
    text = "".join(ch if ch.isalnum() else "_" for ch in (code or "").strip().lower())
    text = "_".join(part for part in text.split("_") if part)
    return text or "unspecified"


def evaluate_codes(
    rejections: Iterable[Rejection],
    week_end: datetime,
    config: HandoffConfig,
    first_seen: Mapping[str, datetime] | None = None,
) -> list[CodeRow]:
    """Count each stage's codes in the week with their share, route and status.

    `first_seen` maps codes to the first time they appeared in earlier weeks; a code not
    in it first appeared at its earliest rejection this week.
    """
    rejections = list(rejections)
    first_seen = dict(first_seen or {})
    for rejection in sorted(rejections, key=lambda r: r.at):
        first_seen.setdefault(rejection.code, rejection.at)
    counts = Counter((r.stage, r.code) for r in rejections)
    totals = Counter(r.stage for r in rejections)
    sla = timedelta(hours=config.owner_sla_hours)

    rows = []
    for (stage, code), count in sorted(counts.items()):
        route = config.routes.get(code)
        if route is not None:
            status = MAPPED
        elif week_end - first_seen[code] < sla:
            status = AWAITING_OWNER
        else:
            status = UNMAPPED
        rows.append(
            CodeRow(
                stage=stage,
                rejection_code=code,
                count=count,
                share=count / totals[stage],
                remediation_route=route.route if route else None,
                owner=route.owner if route else None,
                status=status,
                first_seen_at=first_seen[code],
                definition_mismatch=bool(route and route.definition_mismatch),
            )
        )
    return rows
