"""Weekly review block 4: signal-class qualification against the class's model.

A signal qualifies when its lead reaches the qualifying stage within the window. A cohort
is judged at the age it has reached when observed, against the model's expectation at
that same age, so a class can be judged in its first week before its window has closed.
The model takes time to qualification as exponential with a configured mean, truncated
at the window: expected(age) = rate * (1 - exp(-age / mean)) / (1 - exp(-window / mean)).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scipy.stats import norm

from cadence_pipeline.governance.config import SignalConfig

OK = "ok"
BELOW_MODEL = "below_model"
LOW_VOLUME = "low_volume"


@dataclass(frozen=True)
class Signal:
    lead_id: str
    signal_class: str
    motion: str
    signal_at: datetime
    qualified_at: datetime | None
    account_id: str | None = None


@dataclass(frozen=True)
class ClassPerformance:
    signal_class: str
    motion: str
    signals: int
    qualified: int
    qualification_rate: float | None
    expected_rate: float | None
    change: float | None
    provisional: bool
    p_value: float | None
    status: str


def expected_share_at_age(age_days: float, config: SignalConfig) -> float:
    """Share of eventual qualifiers that have qualified `age_days` after their signal."""
    window = config.window_days
    age = min(max(age_days, 0.0), window)
    mean = config.mean_days_to_qualify
    return (1.0 - math.exp(-age / mean)) / (1.0 - math.exp(-window / mean))


def class_expected_rate(signal_class: str, motion: str, config: SignalConfig) -> float:
    configured = config.classes.get(signal_class)
    if configured is not None:
        return configured.expected_rate
    return config.expected_rate.resolve(motion=motion)


def _qualified(signal: Signal, observed_at: datetime, window: timedelta) -> bool:
    if signal.qualified_at is None or signal.qualified_at > observed_at:
        return False
    return signal.signal_at <= signal.qualified_at <= signal.signal_at + window


def evaluate_classes(
    signals: Iterable[Signal], observed_at: datetime, config: SignalConfig
) -> list[ClassPerformance]:
    """Compare each class's qualification rate with its model at the signals' ages.

    A class falls below model when its rate is more than `drop_tolerance` under the
    expectation and the shortfall is unlikely to be noise: a one-sided normal test on the
    sum of per-signal Bernoulli expectations gives a p-value under `config.alpha`. Classes with
    fewer than `min_signals` signals are marked low volume and never flagged.
    """
    window = timedelta(days=config.window_days)
    groups: dict[tuple[str, str], list[Signal]] = {}
    for signal in signals:
        groups.setdefault((signal.signal_class, signal.motion), []).append(signal)

    results = []
    for (signal_class, motion), members in sorted(groups.items()):
        model_rate = class_expected_rate(signal_class, motion, config)
        expectations = []
        qualified = 0
        provisional = False
        for signal in members:
            age = (observed_at - signal.signal_at).total_seconds() / 86400.0
            provisional = provisional or age < config.window_days
            expectations.append(model_rate * expected_share_at_age(age, config))
            qualified += _qualified(signal, observed_at, window)
        n = len(members)
        rate = qualified / n
        expected = sum(expectations) / n
        change = rate / expected - 1.0 if expected > 0 else None
        variance = sum(p * (1 - p) for p in expectations)
        p_value = None
        if variance > 0:
            p_value = float(norm.cdf((qualified - sum(expectations)) / math.sqrt(variance)))
        if n < config.min_signals:
            status = LOW_VOLUME
        elif (
            change is not None
            and change < -config.drop_tolerance
            and (p_value is not None and p_value < config.alpha)
        ):
            status = BELOW_MODEL
        else:
            status = OK
        results.append(
            ClassPerformance(
                signal_class=signal_class,
                motion=motion,
                signals=n,
                qualified=qualified,
                qualification_rate=rate,
                expected_rate=expected,
                change=change,
                provisional=provisional,
                p_value=p_value,
                status=status,
            )
        )
    return results


@dataclass(frozen=True)
class Dormant:
    subject_type: str
    subject: str
    motion: str
    last_signal_at: datetime
    days_dark: int


def find_dormant(
    history: Sequence[Signal],
    as_of: datetime,
    config: SignalConfig,
    *,
    min_prior_signals: int = 3,
    lookback_days: int = 90,
    account_activity: Mapping[str, datetime] | None = None,
) -> list[Dormant]:
    """List B2C cohorts (signal classes) and B2B accounts dark for more than `dormancy_days`.

    Only subjects that were active (at least `min_prior_signals` signals in the
    `lookback_days` before their last signal) count, so one-off accounts do not flood the
    review, and subjects dark for longer than the lookback have already been reported.
    `account_activity` maps B2B accounts to their last CRM activity (a call, a meeting);
    an account with recent activity is not dark even without signals.
    """
    subjects: dict[tuple[str, str, str], list[datetime]] = {}
    for signal in history:
        if signal.signal_at > as_of:
            continue
        if signal.motion == "b2c":
            key = ("cohort", signal.signal_class, signal.motion)
        elif signal.account_id:
            key = ("account", signal.account_id, signal.motion)
        else:
            continue
        subjects.setdefault(key, []).append(signal.signal_at)

    out = []
    activity = account_activity or {}
    for (subject_type, subject, motion), times in sorted(subjects.items()):
        last = max(times)
        if subject_type == "account" and subject in activity:
            last = max(last, min(activity[subject], as_of))
        dark = (as_of - last).days
        if not config.dormancy_days < dark <= lookback_days:
            continue
        recent = [t for t in times if last - timedelta(days=lookback_days) <= t]
        if len(recent) < min_prior_signals:
            continue
        out.append(Dormant(subject_type, subject, motion, last, dark))
    return out
