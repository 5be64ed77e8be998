import math
from datetime import UTC, datetime, timedelta

import pytest

from cadence_pipeline.governance.config import load_config
from cadence_pipeline.governance.signals import (
    BELOW_MODEL,
    LOW_VOLUME,
    OK,
    Signal,
    evaluate_classes,
    expected_share_at_age,
    find_dormant,
)

CONFIG = load_config().signals  # window 14 days, mean 4 days, B2B model 25%, B2C 15%
T0 = datetime(2026, 11, 2, 12, tzinfo=UTC)


def _signals(
    n: int, qualified: int, *, cls: str = "webinar", motion: str = "b2b", qualify_after: float = 2.0
) -> list[Signal]:
    return [
        Signal(
            lead_id=f"L{i}",
            signal_class=cls,
            motion=motion,
            signal_at=T0,
            qualified_at=T0 + timedelta(days=qualify_after) if i < qualified else None,
        )
        for i in range(n)
    ]


def test_expected_share_follows_truncated_exponential():
    by_hand = (1 - math.exp(-7 / 4)) / (1 - math.exp(-14 / 4))
    assert expected_share_at_age(7, CONFIG) == pytest.approx(by_hand)
    assert expected_share_at_age(14, CONFIG) == pytest.approx(1.0)
    assert expected_share_at_age(30, CONFIG) == pytest.approx(1.0)


def test_closed_window_class_far_below_model_is_flagged():
    (row,) = evaluate_classes(_signals(100, 10), T0 + timedelta(days=20), CONFIG)
    assert row.qualification_rate == pytest.approx(0.10)
    assert row.expected_rate == pytest.approx(0.25)
    assert row.change == pytest.approx(-0.60)
    assert row.provisional is False
    assert row.status == BELOW_MODEL


def test_young_cohort_is_judged_at_its_age():
    # Seven days old: the model expects 25% x 0.852 = 21.3% so far; 21 of 100 is on model.
    (row,) = evaluate_classes(_signals(100, 21), T0 + timedelta(days=7), CONFIG)
    by_hand = 0.25 * (1 - math.exp(-7 / 4)) / (1 - math.exp(-14 / 4))
    assert row.expected_rate == pytest.approx(by_hand)
    assert row.provisional is True
    assert row.status == OK


def test_qualification_after_observation_does_not_count():
    (row,) = evaluate_classes(_signals(50, 50, qualify_after=9), T0 + timedelta(days=7), CONFIG)
    assert row.qualified == 0


def test_noisy_drop_is_not_flagged():
    # 25 signals, 4 qualified (16% vs 25%, -36%): the shortfall is well within noise.
    (row,) = evaluate_classes(_signals(25, 4), T0 + timedelta(days=20), CONFIG)
    assert row.change == pytest.approx(-0.36)
    assert row.status == OK


def test_small_class_is_low_volume():
    (row,) = evaluate_classes(_signals(10, 0), T0 + timedelta(days=20), CONFIG)
    assert row.status == LOW_VOLUME


def test_b2c_cohort_uses_b2c_model():
    (row,) = evaluate_classes(
        _signals(200, 30, cls="lookalike", motion="b2c"), T0 + timedelta(days=20), CONFIG
    )
    assert row.expected_rate == pytest.approx(0.15)
    assert row.status == OK


def test_cohort_dark_over_thirty_days_is_dormant():
    history = [
        Signal(f"L{i}", "newsletter", "b2c", T0 - timedelta(days=40 + i), None) for i in range(3)
    ]
    (item,) = find_dormant(history, T0, CONFIG)
    assert item.subject_type == "cohort"
    assert item.subject == "newsletter"
    assert item.days_dark == 40


def test_recent_or_one_off_subjects_are_not_dormant():
    recent = [
        Signal(f"L{i}", "newsletter", "b2c", T0 - timedelta(days=20 + i), None) for i in range(3)
    ]
    one_off = [Signal("A1", "webinar", "b2b", T0 - timedelta(days=45), None, account_id="acct")]
    assert find_dormant(recent + one_off, T0, CONFIG) == []


def test_recent_account_activity_keeps_account_out_of_dormancy():
    history = [
        Signal(f"L{i}", "webinar", "b2b", T0 - timedelta(days=40 + i), None, account_id="acct")
        for i in range(3)
    ]
    (item,) = find_dormant(history, T0, CONFIG)
    assert item.subject == "acct"
    active = {"acct": T0 - timedelta(days=5)}
    assert find_dormant(history, T0, CONFIG, account_activity=active) == []
