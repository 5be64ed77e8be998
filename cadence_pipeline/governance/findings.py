"""Turn each weekly block's results into findings for the escalation register."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cadence_pipeline.governance.config import GovernanceConfig
from cadence_pipeline.governance.escalations import Finding
from cadence_pipeline.governance.handoffs import UNMAPPED, CodeRow
from cadence_pipeline.governance.pipeline import BREACH, VarianceRow
from cadence_pipeline.governance.signals import BELOW_MODEL, ClassPerformance, Dormant
from cadence_pipeline.governance.sources import PAUSED, SourceInfo, WeekStatus


def pipeline_findings(rows: Iterable[VarianceRow], config: GovernanceConfig) -> list[Finding]:
    """Raise one finding per breach, without repeating a breach under another name.

    With a single motion, `all` repeats that motion, so only the motion's row is raised.
    Where every lead is an MQL, `mql_volume` repeats `volume_in` and is raised only when
    `volume_in` is not.
    """
    rows = list(rows)
    motions = {row.motion for row in rows if row.motion != "all"}
    breached = {(row.motion, row.metric) for row in rows if row.status == BREACH}
    out = []
    for row in rows:
        if row.status != BREACH or row.variance is None:
            continue
        if row.motion == "all" and len(motions) == 1 and row.metric != "b2b_share":
            continue
        if row.metric == "mql_volume" and (row.motion, "volume_in") in breached:
            continue
        drift = None
        if row.metric == "sal_acceptance_rate" and row.variance < 0:
            drift = "mql_threshold_inflation"
        out.append(
            Finding(
                rule="pipeline.variance",
                subject=f"{row.motion}/{row.metric}",
                owner=config.pipeline.owner,
                escalated_to="monthly",
                drift_mode=drift,
                summary=(
                    f"{row.metric} ({row.motion}) {row.variance:+.0%} against the trailing "
                    f"{row.trailing_weeks}-week average; root-cause review at the monthly"
                ),
                evidence={
                    "value": row.value,
                    "trailing_avg": row.trailing_4w_avg,
                    "variance": row.variance,
                    "seasonal_factor": row.seasonal_factor,
                },
            )
        )
    return out


def validation_findings(
    statuses: Iterable[WeekStatus], registry: Mapping[str, SourceInfo], config: GovernanceConfig
) -> list[Finding]:
    out = []
    for status in statuses:
        if not status.escalate:
            continue
        info = registry[status.source]
        if status.status == PAUSED and status.gate is not None:
            gate = status.gate
            out.append(
                Finding(
                    rule="validation.onboarding_gate",
                    subject=status.source,
                    owner=info.owner,
                    drift_mode="validation_rollback",
                    summary=(
                        f"new source {status.source} paused: {gate.pass_rate:.0%} of its first "
                        f"{gate.sample} leads passed validation against {gate.threshold:.0%}; "
                        "send it back through onboarding"
                    ),
                    evidence={
                        "decided_at": gate.decided_at,
                        "basis": gate.basis,
                        "sample": gate.sample,
                        "passed": gate.passed,
                        "ci": [gate.ci_low, gate.ci_high],
                    },
                )
            )
        else:
            out.append(
                Finding(
                    rule="validation.below_standard",
                    subject=status.source,
                    owner=config.validation.owner,
                    escalated_to="monthly",
                    drift_mode="validation_rollback",
                    summary=(
                        f"established source {status.source} below its {status.threshold:.0%} "
                        f"standard {config.validation.weeks_below_to_escalate} weeks running "
                        f"(this week {status.pass_rate:.0%})"
                    ),
                    evidence={"pass_rate": status.pass_rate, "ci": [status.ci_low, status.ci_high]},
                )
            )
    return out


def signal_findings(
    classes: Iterable[ClassPerformance],
    dormant: Iterable[Dormant],
    class_first_weeks: Mapping[str, str],
    week: str,
    recent_weeks: set[str],
    config: GovernanceConfig,
) -> list[Finding]:
    out = []
    for row in classes:
        if row.status != BELOW_MODEL:
            continue
        new_class = class_first_weeks.get(row.signal_class) in recent_weeks
        advice = "review the class at the monthly signal-architecture review"
        if new_class and row.motion == "b2c":
            advice = "retire the cohort and re-weight the signal mix"
        age = "provisional, window still open" if row.provisional else "window closed"
        out.append(
            Finding(
                rule="signals.below_model",
                subject=row.signal_class,
                owner=config.signals.owner,
                escalated_to="monthly",
                drift_mode="signal_noise_creep",
                summary=(
                    f"signal class {row.signal_class} ({row.motion}) qualifies at "
                    f"{row.qualification_rate:.1%} against a model {row.expected_rate:.1%} at the "
                    f"same age ({row.change:+.0%}, {age}); {advice}"
                ),
                evidence={
                    "signals": row.signals,
                    "qualified": row.qualified,
                    "p_value": row.p_value,
                    "new_class": new_class,
                    "week": week,
                },
            )
        )
    for item in dormant:
        if item.subject_type != "cohort":
            continue
        out.append(
            Finding(
                rule="signals.dormancy",
                subject=f"cohort:{item.subject}",
                owner="b2c_lead",
                summary=f"B2C cohort {item.subject} dark for {item.days_dark} days",
                evidence={"last_signal_at": item.last_signal_at},
            )
        )
    return out


def handoff_findings(
    rows: Iterable[CodeRow], definition_versions: Mapping[str, int], config: GovernanceConfig
) -> list[Finding]:
    out = []
    for row in rows:
        if row.status != UNMAPPED:
            continue
        out.append(
            Finding(
                rule="handoffs.unmapped_code",
                subject=f"{row.stage}:{row.rejection_code}",
                owner=config.handoffs.owner,
                escalated_to="monthly",
                drift_mode="definition_fragmentation",
                summary=(
                    f"{row.stage.upper()} rejection code {row.rejection_code} has no remediation "
                    f"route and no owner after {config.handoffs.owner_sla_hours} hours "
                    f"({row.count} rejections this week)"
                ),
                evidence={"count": row.count, "share": row.share},
            )
        )
    if len(definition_versions) > 1:
        versions = ", ".join(f"{v} ({n})" for v, n in sorted(definition_versions.items()))
        out.append(
            Finding(
                rule="definitions.versions_differ",
                subject="mql_definition",
                owner="revops_lead",
                escalated_to="monthly",
                drift_mode="definition_fragmentation",
                summary=f"MQLs this week were scored under several definition versions: {versions}",
                evidence=dict(definition_versions),
            )
        )
    return out
