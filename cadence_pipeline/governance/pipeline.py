"""Weekly review block 2: pipeline variance against the trailing four-week average.

A week's value is divided by its seasonal factor (volume metrics only) and compared with
the mean of the previous weeks' deseasonalised values. A week outside the tolerance is a
breach that raises a root-cause review at the next monthly, unless the trailing average
rests on too few leads (low volume) or too few earlier weeks (insufficient history).

Weekly counts of wins and SAL decisions are small, so the fixed tolerance alone fires on
counting noise most weeks. A week outside the tolerance is therefore a breach only when a
test also rejects "same as the trailing weeks" at `noise_alpha`: a Poisson test for
counts, a binomial test for rates and a Mann-Whitney test for durations. Otherwise its
status is `within_noise`. Setting `noise_alpha` to 1 restores the bare tolerance rule.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from scipy.stats import binomtest, mannwhitneyu, poisson

from cadence_pipeline.governance.config import PipelineConfig

ALL_MOTIONS = "all"
VOLUME_METRICS = ("volume_in", "mql_volume", "volume_out")
RATE_METRICS = ("sal_acceptance_rate", "b2b_share")
DURATION_METRICS = ("mql_to_sal_days", "sal_to_won_days")
METRICS = (
    "volume_in",
    "mql_volume",
    "volume_out",
    "sal_acceptance_rate",
    "mql_to_sal_days",
    "sal_to_won_days",
    "b2b_share",
)

# Row statuses of pipeline_variance.
OK = "ok"
BREACH = "breach"
LOW_VOLUME = "low_volume"
INSUFFICIENT_HISTORY = "insufficient_history"
NOT_APPLICABLE = "not_applicable"
PARTIAL_WEEK = "partial_week"
WITHIN_NOISE = "within_noise"


@dataclass(frozen=True)
class Measure:
    """A metric's value for one week and motion, with the count of records it rests on.

    Duration metrics keep their individual durations in `samples` for the noise test.
    """

    value: float | None
    base: int
    samples: tuple[float, ...] = ()


@dataclass(frozen=True)
class LeadRow:
    motion: str


@dataclass(frozen=True)
class EventRow:
    motion: str
    stage: str
    at: datetime
    mql_at: datetime | None = None
    sal_at: datetime | None = None


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400.0


def weekly_measures(
    leads: Iterable[LeadRow], events: Iterable[EventRow], motions: Sequence[str]
) -> dict[tuple[str, str], Measure]:
    """Compute every metric of one week, per motion and for all motions together.

    `leads` are the leads created in the week; `events` are the stage events that happened
    in it. A rate with no records under it has value None.
    """
    leads = list(leads)
    events = list(events)
    out: dict[tuple[str, str], Measure] = {}
    for motion in [*motions, ALL_MOTIONS]:
        mine = [lead for lead in leads if motion in (ALL_MOTIONS, lead.motion)]
        mine_events = [event for event in events if motion in (ALL_MOTIONS, event.motion)]
        by_stage: dict[str, list[EventRow]] = {}
        for event in mine_events:
            by_stage.setdefault(event.stage, []).append(event)
        accepted = by_stage.get("sal", [])
        rejected = by_stage.get("sal_rejected", [])
        decisions = accepted + rejected
        won = by_stage.get("won", [])

        out[(motion, "volume_in")] = Measure(float(len(mine)), len(mine))
        out[(motion, "mql_volume")] = Measure(
            float(len(by_stage.get("mql", []))), len(by_stage.get("mql", []))
        )
        out[(motion, "volume_out")] = Measure(float(len(won)), len(won))
        out[(motion, "sal_acceptance_rate")] = Measure(
            len(accepted) / len(decisions) if decisions else None, len(decisions)
        )
        to_sal = [_days(e.at, e.mql_at) for e in decisions if e.mql_at is not None]
        out[(motion, "mql_to_sal_days")] = Measure(
            statistics.median(to_sal) if to_sal else None, len(to_sal), tuple(to_sal)
        )
        to_won = [_days(e.at, e.sal_at) for e in won if e.sal_at is not None]
        out[(motion, "sal_to_won_days")] = Measure(
            statistics.median(to_won) if to_won else None, len(to_won), tuple(to_won)
        )
        if motion == ALL_MOTIONS:
            b2b = sum(1 for lead in mine if lead.motion == "b2b")
            out[(motion, "b2b_share")] = Measure(b2b / len(mine) if mine else None, len(mine))
    return out


@dataclass(frozen=True)
class VarianceRow:
    motion: str
    metric: str
    value: float | None
    base: int
    seasonal_factor: float
    trailing_4w_avg: float | None
    trailing_base: int
    trailing_weeks: int
    variance: float | None
    within_tolerance: bool | None
    status: str
    p_value: float | None = None


def noise_p_value(
    metric: str,
    measure: Measure,
    expected: float,
    trailing: list[Measure],
) -> float | None:
    """Two-sided p-value that this week's value is the trailing weeks' level plus noise.

    `expected` is the trailing average in this week's units (seasonal factor applied for
    counts). Returns None where no test applies.
    """
    if measure.value is None:
        return None
    if metric in VOLUME_METRICS:
        observed = round(measure.value)
        lower = poisson.cdf(observed, expected)
        upper = poisson.sf(observed - 1, expected)
        return float(min(1.0, 2 * min(lower, upper)))
    if metric in RATE_METRICS:
        if measure.base == 0 or not 0 < expected < 1:
            return None
        successes = round(measure.value * measure.base)
        return float(binomtest(successes, measure.base, expected).pvalue)
    if metric in DURATION_METRICS:
        earlier = [value for m in trailing for value in m.samples]
        if not measure.samples or not earlier:
            return None
        return float(mannwhitneyu(measure.samples, earlier, alternative="two-sided").pvalue)
    return None


def seasonal_factor(week: str, config: PipelineConfig) -> float:
    iso_week = date.fromisoformat(week).isocalendar().week
    return config.seasonal_factors.get(iso_week, 1.0)


def _deseasonalise(metric: str, measure: Measure, factor: float) -> float | None:
    if measure.value is None:
        return None
    return measure.value / factor if metric in VOLUME_METRICS else measure.value


def evaluate_variance(
    week: str,
    current: Mapping[tuple[str, str], Measure],
    trailing: Mapping[str, Mapping[tuple[str, str], Measure]],
    config: PipelineConfig,
    *,
    partial: bool = False,
) -> list[VarianceRow]:
    """Judge each metric of `week` against the trailing weeks.

    `trailing` maps each earlier week that was extracted (at most `trailing_weeks` of
    them, the nearest first or last, order does not matter) to its measures. A week that
    was never extracted is absent, which is what makes history insufficient.
    """
    factor = seasonal_factor(week, config)
    rows = []
    for (motion, metric), measure in sorted(current.items()):
        history = []
        earlier_measures = []
        trailing_base = 0
        for earlier_week, measures in trailing.items():
            earlier = measures.get((motion, metric))
            if earlier is None or earlier.value is None:
                continue
            value = _deseasonalise(metric, earlier, seasonal_factor(earlier_week, config))
            history.append(value)
            earlier_measures.append(earlier)
            trailing_base += earlier.base
        average = statistics.fmean(history) if history else None
        value = _deseasonalise(metric, measure, factor)
        variance = None
        within = None
        p_value = None
        if value is None:
            status = NOT_APPLICABLE
        elif partial:
            status = PARTIAL_WEEK
        elif len(history) < config.trailing_weeks:
            status = INSUFFICIENT_HISTORY
        elif trailing_base < config.min_trailing_leads or not average:
            status = LOW_VOLUME
        else:
            variance = value / average - 1.0
            within = abs(variance) <= config.tolerance
            status = OK if within else BREACH
            if not within and config.noise_alpha < 1:
                expected = average * factor if metric in VOLUME_METRICS else average
                p_value = noise_p_value(metric, measure, expected, earlier_measures)
                if p_value is not None and p_value >= config.noise_alpha:
                    status = WITHIN_NOISE
        rows.append(
            VarianceRow(
                motion=motion,
                metric=metric,
                value=measure.value,
                base=measure.base,
                seasonal_factor=factor,
                trailing_4w_avg=average,
                trailing_base=trailing_base,
                trailing_weeks=len(history),
                variance=variance,
                within_tolerance=within,
                status=status,
                p_value=p_value,
            )
        )
    return rows
