"""Weekly review block 3: validation pass rate by source and the new-source onboarding gate.

A source present in the first week of history, or listed as established in configuration,
is established. Any other source is new and must pass the onboarding gate: its first
`onboarding_hours` of leads, or its first `first_sample_size` leads where those hours hold
fewer, must reach the new-source threshold. A source whose whole Wilson interval lies
below that threshold is paused and goes back through onboarding. A paused source returns
to live once its leads since the pause, at least a first sample of them, reach the
new-source threshold. An established source is flagged only where its whole interval
lies below its standard, and escalates to the monthly when that happens
`weeks_below_to_escalate` weeks running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cadence_pipeline.governance.config import GovernanceConfig
from cadence_pipeline.governance.stats import wilson_interval
from cadence_pipeline.governance.weeks import week_bounds

OK = "ok"
BELOW_THRESHOLD = "below_threshold"
ONBOARDING = "onboarding"
PAUSED = "paused"
LOW_VOLUME = "low_volume"
NOT_APPLICABLE = "not_applicable"

GATE_PASS = "pass"
GATE_FAIL = "fail"
GATE_INCONCLUSIVE = "inconclusive"
GATE_PENDING = "pending"


@dataclass(frozen=True)
class Judged:
    """One lead's validation outcome: passed is None where no rule applied."""

    created_at: datetime
    passed: bool | None


@dataclass(frozen=True)
class SourceInfo:
    source: str
    source_type: str
    motion: str | None
    owner: str
    first_seen_at: datetime
    first_week: str
    established: bool


@dataclass(frozen=True)
class GateDecision:
    outcome: str
    decided_at: datetime | None
    basis: str  # "window" (the first hours) or "first_sample"
    sample: int
    passed: int
    pass_rate: float | None
    ci_low: float | None
    ci_high: float | None
    threshold: float


@dataclass(frozen=True)
class WeekStatus:
    week: str
    source: str
    leads: int
    evaluated: int
    passed: int | None
    pass_rate: float | None
    ci_low: float | None
    ci_high: float | None
    threshold: float
    status: str
    established: bool
    note: str = ""
    gate: GateDecision | None = None
    escalate: bool = False


def _judge(
    outcomes: Sequence[bool], threshold: float, confidence: float
) -> tuple[str, float | None, float | None, float | None]:
    if not outcomes:
        return GATE_PENDING, None, None, None
    passed = sum(outcomes)
    rate = passed / len(outcomes)
    low, high = wilson_interval(passed, len(outcomes), confidence)
    if rate >= threshold:
        return GATE_PASS, rate, low, high
    if high < threshold:
        return GATE_FAIL, rate, low, high
    return GATE_INCONCLUSIVE, rate, low, high


def onboarding_gate(
    history: Sequence[Judged],
    started_at: datetime,
    threshold: float,
    config: GovernanceConfig,
    *,
    known_until: datetime,
) -> GateDecision:
    """Judge a new source on its first hours of leads, or its first sample where fewer.

    `history` contains the source's leads from `started_at` on, in any order; only leads
    created before `known_until` are considered, so the decision is the one that could
    have been made at that instant. A first sample that arrives inside the window and
    whose whole interval already lies below the threshold fails the gate at once: the rest
    of the window cannot make those leads pass, and the owner should hear now.
    """
    rules = config.validation
    judged = sorted(
        (j for j in history if started_at <= j.created_at < known_until and j.passed is not None),
        key=lambda j: j.created_at,
    )
    window_end = started_at + timedelta(hours=rules.onboarding_hours)
    in_window = [j for j in judged if j.created_at < window_end]
    window_closed = known_until >= window_end
    enough = rules.first_sample_size
    first_sample = judged[:enough] if len(judged) >= enough else []
    early = bool(first_sample) and first_sample[-1].created_at < window_end
    if early and _judge([j.passed for j in first_sample], threshold, rules.confidence)[0] == (
        GATE_FAIL
    ):
        # A first sample that already fails decides at its last lead, whenever the gate is
        # evaluated, so the hourly check and the weekly review reach the same decision.
        sample, decided_at, basis = first_sample, first_sample[-1].created_at, "first_sample"
    elif window_closed and len(in_window) >= enough:
        sample, decided_at, basis = in_window, window_end, "window"
    elif first_sample and len(in_window) < enough:
        sample, decided_at, basis = first_sample, first_sample[-1].created_at, "first_sample"
    else:
        sample, decided_at, basis = [], None, "window"
    outcome, rate, low, high = _judge([j.passed for j in sample], threshold, rules.confidence)
    return GateDecision(
        outcome=outcome,
        decided_at=decided_at if outcome != GATE_PENDING else None,
        basis=basis,
        sample=len(sample),
        passed=sum(j.passed for j in sample),
        pass_rate=rate,
        ci_low=low,
        ci_high=high,
        threshold=threshold,
    )


def _week_numbers(
    judged: Sequence[Judged], confidence: float
) -> tuple[int, int, float | None, float | None, float | None]:
    evaluated = [j.passed for j in judged if j.passed is not None]
    if not evaluated:
        return 0, 0, None, None, None
    passed = sum(evaluated)
    low, high = wilson_interval(passed, len(evaluated), confidence)
    return len(evaluated), passed, passed / len(evaluated), low, high


def source_timeline(
    info: SourceInfo,
    history: Sequence[Judged],
    weeks: Sequence[str],
    config: GovernanceConfig,
    as_of: datetime | None = None,
) -> list[WeekStatus]:
    """Walk a source's weeks in order and return each week's status.

    The walk is a pure function of the source's judged leads, so rerunning any week gives
    the same status. `weeks` must be consecutive and start at or before the source's first
    week. `as_of`, the run's "now", bounds what the gate may know in a week in progress.
    """
    rules = config.validation
    standard = rules.threshold.resolve(info.source, info.source_type, info.motion)
    gate_threshold = rules.new_source_threshold.resolve(info.source, info.source_type, info.motion)
    phase = "live" if info.established else "gate"
    paused_at: datetime | None = None
    previous_rate: float | None = None
    below_run = 0
    out: list[WeekStatus] = []

    for week in weeks:
        start, end = week_bounds(week, config.timezone)
        this_week = [j for j in history if start <= j.created_at < end]
        evaluated, passed, rate, low, high = _week_numbers(this_week, rules.confidence)
        row = WeekStatus(
            week=week,
            source=info.source,
            leads=len(this_week),
            evaluated=evaluated,
            passed=passed if evaluated else None,
            pass_rate=rate,
            ci_low=low,
            ci_high=high,
            threshold=standard if phase == "live" else gate_threshold,
            status=OK,
            established=info.established,
        )
        if end <= info.first_seen_at:
            continue
        if this_week and evaluated == 0:
            out.append(replace(row, status=NOT_APPLICABLE, note="no validation rule applies"))
            continue

        if phase == "gate":
            if not this_week:
                continue
            gate = onboarding_gate(
                history,
                info.first_seen_at,
                gate_threshold,
                config,
                known_until=min(end, as_of) if as_of is not None else end,
            )
            if gate.outcome == GATE_FAIL:
                phase, paused_at = "paused", gate.decided_at
                row = replace(
                    row,
                    status=PAUSED,
                    gate=gate,
                    escalate=True,
                    note=f"failed the onboarding gate at {gate.pass_rate:.0%} "
                    f"on {gate.sample} leads ({gate.basis})",
                )
            elif gate.outcome == GATE_PASS:
                phase = "live"
                row = replace(
                    row,
                    status=OK,
                    gate=gate,
                    note=f"passed the onboarding gate at {gate.pass_rate:.0%}",
                )
            else:
                row = replace(
                    row, status=ONBOARDING, gate=gate, note=f"onboarding gate {gate.outcome}"
                )
            previous_rate = gate.pass_rate if gate.pass_rate is not None else rate
            out.append(row)
            continue

        if phase == "paused":
            # Leads after the decision are re-onboarding; the deciding lead is not.
            after = [j for j in this_week if paused_at is None or j.created_at > paused_at]
            evaluated, passed, rate, low, high = _week_numbers(after, rules.confidence)
            row = replace(
                row,
                evaluated=evaluated,
                passed=passed if evaluated else None,
                pass_rate=rate,
                ci_low=low,
                ci_high=high,
                threshold=gate_threshold,
            )
            if not evaluated:
                out.append(replace(row, status=PAUSED, note="paused: no re-onboarding leads"))
                continue
            # The return to live is judged on every lead since the pause, not on one lucky
            # week: a source that improved to just under its threshold stays in onboarding.
            since_pause = [j for j in history if paused_at < j.created_at < end]
            total, _, total_rate, _, _ = _week_numbers(since_pause, rules.confidence)
            trend = ""
            if previous_rate is not None:
                trend = "improving" if rate > previous_rate else "not improving"
                trend = f", {trend} from {previous_rate:.0%}"
            summary = f"{total_rate:.0%} of {total} leads since the pause"
            if total >= rules.first_sample_size and total_rate >= gate_threshold:
                phase = "live"
                row = replace(row, status=OK, note=f"re-onboarded: {summary}; back to live")
            else:
                row = replace(
                    row, status=ONBOARDING, note=f"re-onboarding at {rate:.0%}{trend}; {summary}"
                )
            previous_rate = rate
            out.append(row)
            continue

        # Live source judged against its standard.
        if not this_week:
            continue
        below = high is not None and high < standard
        below_run = below_run + 1 if below else 0
        if evaluated < rules.low_volume_leads:
            status = LOW_VOLUME
            note = "low volume" + ("; interval below standard" if below else "")
        elif below:
            status = BELOW_THRESHOLD
            note = f"below standard {below_run} week(s) running"
        else:
            status, note = OK, ""
        escalate = below and below_run >= rules.weeks_below_to_escalate
        out.append(replace(row, status=status, note=note, escalate=escalate))
    return out
