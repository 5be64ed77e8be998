import pytest

from cadence_pipeline.governance.escalations import Finding, assign, escalation_id


def _finding(subject: str = "partner_x", rule: str = "validation.onboarding_gate") -> Finding:
    return Finding(
        rule=rule,
        subject=subject,
        owner="data_lead",
        summary="paused",
        drift_mode="validation_rollback",
    )


def test_new_finding_starts_an_escalation():
    (row,) = assign("2026-11-02", [_finding()], [])
    assert row["first_week"] == "2026-11-02"
    assert row["occurrences"] == 1
    assert row["escalation_id"] == escalation_id(
        "validation.onboarding_gate", "partner_x", "2026-11-02"
    )
    assert row["status"] == "open"


def test_finding_continues_last_weeks_escalation():
    (first,) = assign("2026-11-02", [_finding()], [])
    (second,) = assign("2026-11-09", [_finding()], [first])
    assert second["escalation_id"] == first["escalation_id"]
    assert second["first_week"] == "2026-11-02"
    assert second["occurrences"] == 2
    assert second["status"] == "carried_over"


def test_finding_after_long_gap_is_a_new_escalation():
    (first,) = assign("2026-09-07", [_finding()], [])
    (later,) = assign("2026-11-09", [_finding()], [first])
    assert later["first_week"] == "2026-11-09"
    assert later["escalation_id"] != first["escalation_id"]


def test_same_rule_and_subject_collapse_in_one_week():
    rows = assign("2026-11-02", [_finding(), _finding()], [])
    assert len(rows) == 1


def test_rerun_gives_same_rows():
    earlier = assign("2026-11-02", [_finding("a"), _finding("b")], [])
    assert assign("2026-11-09", [_finding("a")], earlier) == assign(
        "2026-11-09", [_finding("a")], earlier
    )


def test_unknown_drift_mode_is_rejected():
    with pytest.raises(ValueError, match="unknown drift mode"):
        Finding(rule="r", subject="s", owner=None, summary="x", drift_mode="creep")
