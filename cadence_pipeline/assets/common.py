"""Shared pieces of the weekly assets: the partitions and the week a run is computing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, WeeklyPartitionsDefinition

from cadence_pipeline.governance.escalations import Finding
from cadence_pipeline.governance.weeks import shift_week, week_start
from cadence_pipeline.settings import RunState

# Weeks before the first reviewed week that the trailing averages need.
DEFAULT_HISTORY_WEEKS = 16


def weekly_partitions(
    state: RunState | None,
    timezone: str,
    today: date | None = None,
    history_start: date | None = None,
) -> WeeklyPartitionsDefinition:
    """Monday-start weekly partitions covering the stored run span, or recent history.

    With a run state (set by `cadence demo`), the partitions are exactly the span that run
    filled, the partial last week included. Without one, they start `DEFAULT_HISTORY_WEEKS`
    weeks back, or at `history_start`, and end with the week in progress, which the onboarding
    check runs.
    """
    if state is not None:
        end = shift_week(state.span.last_week, 1)
        # end_offset=1 keeps the week in progress (a partial last week) as a partition.
        return WeeklyPartitionsDefinition(
            start_date=state.span.first_week,
            end_date=end,
            day_offset=1,
            timezone=timezone,
            end_offset=1,
        )
    today = today or date.today()
    first = week_start(history_start or today - timedelta(weeks=DEFAULT_HISTORY_WEEKS))
    return WeeklyPartitionsDefinition(
        start_date=first.isoformat(), day_offset=1, timezone=timezone, end_offset=1
    )


@dataclass(frozen=True)
class WeekWindow:
    """The week a run computes: its UTC bounds, the run's as-of instant and completeness."""

    week: str
    start: datetime
    end: datetime
    as_of: datetime
    partial: bool

    @property
    def observed_at(self) -> datetime:
        """The instant the week is judged at: its end, or the as-of while it is in progress."""
        return min(self.as_of, self.end)


def finding_rows(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Rows of `weekly_findings` for a block's findings."""
    return [
        {
            "rule": f.rule,
            "subject": f.subject,
            "owner": f.owner,
            "escalated_to": f.escalated_to,
            "drift_mode": f.drift_mode,
            "raised_in": f.raised_in,
            "summary": f.summary,
            "evidence": json.dumps(dict(f.evidence), default=str, sort_keys=True),
        }
        for f in findings
    ]


def next_week(week: str) -> str:
    return shift_week(week, 1)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Render a small markdown table for asset metadata."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def governance_check(
    check_name: str, flagged: Sequence[str], label: str, **metadata: Any
) -> AssetCheckResult:
    """Return a WARN check that passes when nothing is flagged.

    The checks built here have WARN severity and their specs are not blocking, so a breach
    never stops the digest that reports it.
    """
    return AssetCheckResult(
        check_name=check_name,
        passed=not flagged,
        severity=AssetCheckSeverity.WARN,
        metadata={label: ", ".join(flagged) or "none", **metadata},
    )
