from datetime import UTC, datetime, timedelta

import pytest

from cadence_pipeline.governance.config import load_config
from cadence_pipeline.governance.sources import (
    BELOW_THRESHOLD,
    GATE_FAIL,
    GATE_PASS,
    GATE_PENDING,
    LOW_VOLUME,
    NOT_APPLICABLE,
    OK,
    ONBOARDING,
    PAUSED,
    Judged,
    SourceInfo,
    onboarding_gate,
    source_timeline,
)

CONFIG = load_config()  # new sources 90% within 72 h or first 50 leads; standard 80%
FIRST = datetime(2026, 11, 3, 9, tzinfo=UTC)  # a Tuesday in the week of 2026-11-02
WEEKS = ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23"]


def _batch(start: datetime, n: int, passed: int, spacing: timedelta) -> list[Judged]:
    return [Judged(start + i * spacing, i < passed) for i in range(n)]


def _info(established: bool = False) -> SourceInfo:
    return SourceInfo(
        source="partner_feed",
        source_type="content_syndication",
        motion="b2b",
        owner="partner_manager",
        first_seen_at=FIRST,
        first_week="2026-11-02",
        established=established,
    )


def test_gate_judges_first_72_hours():
    # 100 leads in 72 hours: the first 50 pass at 92%, the next 50 at 40%. The first sample
    # does not fail, so the whole window decides: 66 of 100, wholly below 90%.
    good = [Judged(FIRST + timedelta(minutes=30 * i), i not in (3, 17, 31, 44)) for i in range(50)]
    bad = [Judged(FIRST + timedelta(hours=30, minutes=30 * i), i < 20) for i in range(50)]
    history = good + bad
    passed_first = sum(j.passed for j in good)
    gate = onboarding_gate(history, FIRST, 0.9, CONFIG, known_until=FIRST + timedelta(days=7))
    assert passed_first == 46
    assert gate.outcome == GATE_FAIL
    assert gate.basis == "window"
    assert gate.sample == 100
    assert gate.pass_rate == pytest.approx(66 / 100)
    assert gate.decided_at == FIRST + timedelta(hours=72)


def test_failing_first_sample_decides_at_its_last_lead():
    # 60 leads in 60 hours, 25 pass: the first 50 (25 pass) already lie wholly below 90%.
    history = _batch(FIRST, 60, 25, timedelta(hours=1))
    gate = onboarding_gate(history, FIRST, 0.9, CONFIG, known_until=FIRST + timedelta(days=7))
    assert gate.outcome == GATE_FAIL
    assert gate.basis == "first_sample"
    assert gate.sample == 50
    assert gate.decided_at == history[49].created_at


def test_gate_falls_back_to_first_sample():
    # Ten leads a day: 72 hours hold 30, so the first 50 leads decide, at the 50th lead.
    history = _batch(FIRST, 70, 20, timedelta(hours=2.4))
    gate = onboarding_gate(history, FIRST, 0.9, CONFIG, known_until=FIRST + timedelta(days=14))
    assert gate.basis == "first_sample"
    assert gate.sample == 50
    assert gate.decided_at == history[49].created_at
    assert gate.outcome == GATE_FAIL


def test_gate_waits_for_enough_leads():
    history = _batch(FIRST, 30, 10, timedelta(hours=1))
    gate = onboarding_gate(history, FIRST, 0.9, CONFIG, known_until=FIRST + timedelta(days=7))
    assert gate.outcome == GATE_PENDING
    assert gate.decided_at is None


def test_gate_passes_at_threshold():
    history = _batch(FIRST, 60, 57, timedelta(hours=1))
    gate = onboarding_gate(history, FIRST, 0.9, CONFIG, known_until=FIRST + timedelta(days=7))
    assert gate.outcome == GATE_PASS


def test_failed_source_is_paused_then_reonboarded():
    first_week = _batch(FIRST, 50, 20, timedelta(hours=1))
    # Re-onboarding: 100 leads at 75% in the third week, then 300 at 97% in the fourth,
    # which lifts the 400 leads since the pause to 91.5%.
    third = _batch(datetime(2026, 11, 16, 9, tzinfo=UTC), 100, 75, timedelta(hours=1))
    fourth = _batch(datetime(2026, 11, 23, 9, tzinfo=UTC), 300, 291, timedelta(minutes=30))
    timeline = source_timeline(_info(), first_week + third + fourth, WEEKS, CONFIG)
    by_week = {row.week: row for row in timeline}
    assert by_week["2026-11-02"].status == PAUSED
    assert by_week["2026-11-02"].escalate is True
    assert by_week["2026-11-02"].leads == 50
    assert by_week["2026-11-09"].status == PAUSED
    assert by_week["2026-11-09"].leads == 0
    assert by_week["2026-11-16"].status == ONBOARDING
    assert "improving" in by_week["2026-11-16"].note
    assert by_week["2026-11-16"].threshold == pytest.approx(0.9)
    assert by_week["2026-11-23"].status == OK
    assert "back to live" in by_week["2026-11-23"].note


def test_reonboarding_just_under_threshold_stays_onboarding():
    first_week = _batch(FIRST, 50, 20, timedelta(hours=1))
    # One lucky week at 90% after a week at 84%: 174 of 200 since the pause is 87%.
    third = _batch(datetime(2026, 11, 16, 9, tzinfo=UTC), 100, 84, timedelta(hours=1))
    fourth = _batch(datetime(2026, 11, 23, 9, tzinfo=UTC), 100, 90, timedelta(hours=1))
    timeline = source_timeline(_info(), first_week + third + fourth, WEEKS, CONFIG)
    last = timeline[-1]
    assert last.pass_rate == pytest.approx(0.90)
    assert last.status == ONBOARDING
    assert "87% of 200 leads since the pause" in last.note


def test_established_source_escalates_two_weeks_running():
    weeks = [
        _batch(datetime(2026, 11, 2, 9, tzinfo=UTC), 100, 95, timedelta(hours=1)),
        _batch(datetime(2026, 11, 9, 9, tzinfo=UTC), 100, 60, timedelta(hours=1)),
        _batch(datetime(2026, 11, 16, 9, tzinfo=UTC), 100, 60, timedelta(hours=1)),
    ]
    info = _info(established=True)
    timeline = source_timeline(info, [j for week in weeks for j in week], WEEKS[:3], CONFIG)
    statuses = [(row.status, row.escalate) for row in timeline]
    assert statuses == [(OK, False), (BELOW_THRESHOLD, False), (BELOW_THRESHOLD, True)]
    assert timeline[1].threshold == pytest.approx(0.80)


def test_small_sample_is_low_volume_not_flagged():
    history = _batch(datetime(2026, 11, 2, 9, tzinfo=UTC), 10, 5, timedelta(hours=1))
    (row,) = source_timeline(_info(established=True), history, WEEKS[:1], CONFIG)
    assert row.status == LOW_VOLUME
    assert row.escalate is False
    assert row.ci_low < 0.5 < row.ci_high


def test_source_without_validated_fields_is_not_applicable():
    history = [Judged(FIRST + timedelta(hours=i), None) for i in range(12)]
    (row,) = source_timeline(_info(established=True), history, WEEKS[:1], CONFIG)
    assert row.status == NOT_APPLICABLE
    assert row.leads == 12
    assert row.pass_rate is None


def test_clear_failure_decides_before_window_closes():
    # 60 leads in the first hour at 33%: the first 50 already fail, 71 hours early.
    history = _batch(FIRST, 60, 20, timedelta(minutes=1))
    gate = onboarding_gate(history, FIRST, 0.9, CONFIG, known_until=FIRST + timedelta(hours=1))
    assert gate.outcome == GATE_FAIL
    assert gate.basis == "first_sample"
    assert gate.decided_at == history[49].created_at


def test_pass_waits_for_window_to_close():
    history = _batch(FIRST, 60, 60, timedelta(minutes=1))
    early = onboarding_gate(history, FIRST, 0.9, CONFIG, known_until=FIRST + timedelta(hours=1))
    assert early.outcome == GATE_PENDING
    closed = onboarding_gate(history, FIRST, 0.9, CONFIG, known_until=FIRST + timedelta(days=4))
    assert closed.outcome == GATE_PASS
    assert closed.basis == "window"
