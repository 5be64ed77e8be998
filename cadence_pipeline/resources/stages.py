"""Stage dates and regressions from a record's status or lifecycle-stage history.

A stage's date is the first time the record entered it. A later move back down the funnel
(MQL back to an open status, SAL back to MQL) is a regression: it is recorded, and entering
the stage again does not create a second MQL or SAL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cadence_pipeline.governance.records import STAGES, Lead
from cadence_pipeline.resources.mapping_config import is_regression


@dataclass(frozen=True)
class Transition:
    """One change of the tracked status: when, and the status value it changed to."""

    at: datetime
    value: str | None


@dataclass
class StageHistory:
    first_entered: dict[str, datetime] = field(default_factory=dict)
    regressions: list[dict[str, str | None]] = field(default_factory=list)


def read_history(
    transitions: Iterable[Transition], stage_of: Mapping[str, str | None]
) -> StageHistory:
    """Return first-entry dates per stage and the regressions, from transitions in any order.

    `stage_of` maps a status value to a stage; values it does not list are no stage.
    """
    history = StageHistory()
    previous: str | None = None
    for transition in sorted(transitions, key=lambda item: item.at):
        stage = stage_of.get(transition.value or "")
        if is_regression(previous, stage):
            history.regressions.append(
                {"from": previous, "to": stage, "at": transition.at.isoformat()}
            )
        if stage is not None and stage not in history.first_entered:
            history.first_entered[stage] = transition.at
        previous = stage
    return history


def apply_history(lead: Lead, history: StageHistory) -> None:
    """Set each stage's date to the earliest of the mapped date field and history's first entry.

    Date fields may hold the last entry into a stage (HubSpot overwrites
    `hs_lifecyclestage_*_date` when a contact re-enters one), so the earlier value is the
    first entry. `sql` has no Lead attribute, so its date goes to `extra["sql_at"]` as an
    ISO string. Regressions go to `extra["stage_regressions"]`.
    """
    for stage, at in history.first_entered.items():
        if stage in STAGES:
            current = lead.stage_time(stage)
            if current is None or at < current:
                setattr(lead, f"{stage}_at", at)
        elif stage == "sql":
            current_sql = lead.extra.get("sql_at")
            if current_sql is None or at < datetime.fromisoformat(current_sql):
                lead.extra["sql_at"] = at.isoformat()
    if history.regressions:
        lead.extra["stage_regressions"] = history.regressions
