from datetime import UTC, datetime, timedelta

import pytest

from cadence_pipeline.governance.config import PipelineConfig
from cadence_pipeline.governance.pipeline import (
    BREACH,
    INSUFFICIENT_HISTORY,
    LOW_VOLUME,
    NOT_APPLICABLE,
    OK,
    PARTIAL_WEEK,
    WITHIN_NOISE,
    EventRow,
    LeadRow,
    Measure,
    evaluate_variance,
    weekly_measures,
)

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _volume(value: float) -> dict:
    return {("b2b", "volume_in"): Measure(value, int(value))}


def _trailing(*values: float) -> dict:
    weeks = ["2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26"]
    return {week: _volume(value) for week, value in zip(weeks, values, strict=False)}


def test_measures_count_leads_events_and_rates():
    leads = [LeadRow("b2b")] * 6 + [LeadRow("b2c")] * 4
    events = [
        EventRow("b2b", "sal", T0, mql_at=T0 - timedelta(days=2)),
        EventRow("b2b", "sal", T0, mql_at=T0 - timedelta(days=4)),
        EventRow("b2b", "sal_rejected", T0, mql_at=T0 - timedelta(days=3)),
        EventRow("b2c", "won", T0, sal_at=T0 - timedelta(days=10)),
    ]
    measures = weekly_measures(leads, events, ["b2b", "b2c"])
    assert measures[("b2b", "volume_in")] == Measure(6.0, 6)
    assert measures[("all", "volume_in")] == Measure(10.0, 10)
    assert measures[("b2b", "sal_acceptance_rate")].value == pytest.approx(2 / 3)
    assert measures[("b2b", "mql_to_sal_days")].value == pytest.approx(3.0)
    assert measures[("b2c", "volume_out")] == Measure(1.0, 1)
    assert measures[("b2c", "sal_to_won_days")].value == pytest.approx(10.0)
    assert measures[("all", "b2b_share")].value == pytest.approx(0.6)
    assert measures[("b2c", "sal_acceptance_rate")].value is None


BARE_RULE = PipelineConfig(noise_alpha=1.0)


def test_week_outside_tolerance_is_breach():
    # Trailing average (100 + 110 + 90 + 100) / 4 = 100; 120 is +20%.
    (row,) = evaluate_variance("2026-11-02", _volume(120), _trailing(100, 110, 90, 100), BARE_RULE)
    assert row.trailing_4w_avg == pytest.approx(100.0)
    assert row.variance == pytest.approx(0.20)
    assert row.within_tolerance is False
    assert row.status == BREACH


def test_breach_explained_by_counting_noise_is_within_noise():
    # 120 against a Poisson mean of 100: P(X >= 120) is about 0.03, two-sided p about 0.06.
    (row,) = evaluate_variance(
        "2026-11-02", _volume(120), _trailing(100, 110, 90, 100), PipelineConfig()
    )
    assert row.within_tolerance is False
    assert row.p_value == pytest.approx(0.0612, abs=0.01)
    assert row.status == WITHIN_NOISE


def test_large_count_breach_is_not_noise():
    (row,) = evaluate_variance(
        "2026-11-02", _volume(1200), _trailing(1000, 1000, 1000, 1000), PipelineConfig()
    )
    assert row.p_value < 0.001
    assert row.status == BREACH


def test_rate_drop_is_judged_with_binomial_test():
    current = {("b2b", "sal_acceptance_rate"): Measure(0.40, 200)}
    trailing = {
        week: {("b2b", "sal_acceptance_rate"): Measure(0.62, 200)}
        for week in ["2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26"]
    }
    (row,) = evaluate_variance("2026-11-02", current, trailing, PipelineConfig())
    assert row.variance == pytest.approx(0.40 / 0.62 - 1)
    assert row.status == BREACH


def test_duration_shift_is_judged_on_samples():
    slow = Measure(6.0, 20, tuple([6.0] * 20))
    usual = Measure(4.0, 20, tuple(4.0 + 0.1 * i for i in range(20)))
    trailing = {
        week: {("b2b", "mql_to_sal_days"): usual}
        for week in ["2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26"]
    }
    (row,) = evaluate_variance(
        "2026-11-02", {("b2b", "mql_to_sal_days"): slow}, trailing, PipelineConfig()
    )
    assert row.p_value < 0.05
    assert row.status == BREACH


def test_week_inside_tolerance_is_ok():
    (row,) = evaluate_variance(
        "2026-11-02", _volume(86), _trailing(100, 110, 90, 100), PipelineConfig()
    )
    assert row.variance == pytest.approx(-0.14)
    assert row.within_tolerance is True
    assert row.status == OK


def test_seasonal_factor_divides_out():
    # ISO week 45 (2026-11-02) has factor 1.2: 120 / 1.2 = 100, exactly the average.
    config = PipelineConfig(seasonal_factors={45: 1.2}, noise_alpha=1.0)
    (row,) = evaluate_variance("2026-11-02", _volume(120), _trailing(100, 100, 100, 100), config)
    assert row.seasonal_factor == pytest.approx(1.2)
    assert row.variance == pytest.approx(0.0)
    assert row.status == OK


def test_fewer_than_four_weeks_is_insufficient_history():
    (row,) = evaluate_variance(
        "2026-11-02", _volume(300), _trailing(100, 100, 100), PipelineConfig()
    )
    assert row.status == INSUFFICIENT_HISTORY
    assert row.within_tolerance is None
    assert row.variance is None


def test_trailing_under_twenty_leads_is_low_volume():
    # 4 + 5 + 6 + 4 = 19 leads under the average: too few to judge a +100% week.
    (row,) = evaluate_variance("2026-11-02", _volume(10), _trailing(4, 5, 6, 4), PipelineConfig())
    assert row.trailing_base == 19
    assert row.status == LOW_VOLUME
    assert row.within_tolerance is None


def test_missing_rate_is_not_applicable():
    current = {("b2b", "sal_acceptance_rate"): Measure(None, 0)}
    (row,) = evaluate_variance("2026-11-02", current, {}, PipelineConfig())
    assert row.status == NOT_APPLICABLE


def test_partial_week_is_not_judged():
    (row,) = evaluate_variance(
        "2026-11-02", _volume(20), _trailing(100, 100, 100, 100), PipelineConfig(), partial=True
    )
    assert row.status == PARTIAL_WEEK
    assert row.within_tolerance is None
