"""Escalations: stable ids, tiers and occurrence counts derived from earlier weeks.

An escalation is identified by its rule, its subject and the first week it was present.
The table contains one row per escalation and week in which it is present. A finding whose
rule and subject were present within the last `reopen_weeks` weeks continues that
escalation; otherwise it starts a new one. Rerunning any week with the same earlier rows
gives the same rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cadence_pipeline.governance.weeks import shift_week

DRIFT_MODES = (
    "validation_rollback",
    "mql_threshold_inflation",
    "signal_noise_creep",
    "definition_fragmentation",
)
TIERS = ("weekly", "monthly", "quarterly")


@dataclass(frozen=True)
class Finding:
    """One thing a weekly rule found that someone must act on."""

    rule: str
    subject: str
    owner: str | None
    summary: str
    escalated_to: str | None = None
    drift_mode: str | None = None
    raised_in: str = "weekly"
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.drift_mode is not None and self.drift_mode not in DRIFT_MODES:
            raise ValueError(f"unknown drift mode {self.drift_mode!r}; use one of {DRIFT_MODES}")
        for tier in (self.raised_in, self.escalated_to):
            if tier is not None and tier not in TIERS:
                raise ValueError(f"unknown review tier {tier!r}; use one of {TIERS}")


def escalation_id(rule: str, subject: str, first_week: str) -> str:
    digest = hashlib.sha256(f"{rule}|{subject}|{first_week}".encode()).hexdigest()
    return f"esc-{digest[:12]}"


def assign(
    week: str,
    findings: Iterable[Finding],
    earlier_rows: Iterable[Mapping[str, Any]],
    *,
    reopen_weeks: int = 4,
) -> list[dict[str, Any]]:
    """Turn this week's findings into escalation rows, continuing earlier escalations.

    `earlier_rows` are escalation rows of weeks before `week` (rows of other weeks are
    ignored). Two findings with the same rule and subject in one week collapse into one.
    """
    horizon = shift_week(week, -reopen_weeks)
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for row in earlier_rows:
        if not horizon <= row["week"] < week:
            continue
        key = (row["rule"], row["subject"])
        if key not in latest or row["week"] > latest[key]["week"]:
            latest[key] = row

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for finding in findings:
        key = (finding.rule, finding.subject)
        if key in rows:
            continue
        previous = latest.get(key)
        first_week = previous["first_week"] if previous else week
        occurrences = previous["occurrences"] + 1 if previous else 1
        rows[key] = {
            "escalation_id": escalation_id(finding.rule, finding.subject, first_week),
            "week": week,
            "raised_in": finding.raised_in,
            "escalated_to": finding.escalated_to,
            "rule": finding.rule,
            "drift_mode": finding.drift_mode,
            "subject": finding.subject,
            "owner": finding.owner,
            "status": "open" if occurrences == 1 else "carried_over",
            "first_week": first_week,
            "occurrences": occurrences,
            "summary": finding.summary,
            "evidence": json.dumps(dict(finding.evidence), sort_keys=True, default=str),
        }
    return sorted(rows.values(), key=lambda r: (r["rule"], r["subject"]))
