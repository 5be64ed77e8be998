from datetime import UTC, datetime, timedelta

import pytest

from cadence_pipeline.governance.config import load_config
from cadence_pipeline.governance.handoffs import (
    AWAITING_OWNER,
    MAPPED,
    UNMAPPED,
    Rejection,
    evaluate_codes,
    normalise_code,
)

CONFIG = load_config().handoffs
WEEK_END = datetime(2026, 11, 9, tzinfo=UTC)


def _rejections(stage: str, code: str, n: int, at: datetime) -> list[Rejection]:
    return [Rejection(stage, code, at) for _ in range(n)]


def test_shares_per_stage_with_routes():
    at = WEEK_END - timedelta(days=3)
    rows = evaluate_codes(
        _rejections("sal", "buyer_fit_insufficient", 3, at)
        + _rejections("sal", "no_budget", 1, at)
        + _rejections("mql", "wrong_contact", 2, at),
        WEEK_END,
        CONFIG,
    )
    by_code = {(r.stage, r.rejection_code): r for r in rows}
    fit = by_code[("sal", "buyer_fit_insufficient")]
    assert fit.count == 3
    assert fit.share == pytest.approx(0.75)
    assert fit.remediation_route == "scoring_model_review"
    assert fit.status == MAPPED
    assert by_code[("mql", "wrong_contact")].share == pytest.approx(1.0)


def test_novel_code_within_sla_awaits_owner():
    rows = evaluate_codes(
        _rejections("sal", "student", 2, WEEK_END - timedelta(hours=5)), WEEK_END, CONFIG
    )
    assert rows[0].status == AWAITING_OWNER
    assert rows[0].remediation_route is None


def test_novel_code_past_sla_is_unmapped():
    rows = evaluate_codes(
        _rejections("sal", "student", 2, WEEK_END - timedelta(hours=30)), WEEK_END, CONFIG
    )
    assert rows[0].status == UNMAPPED


def test_first_seen_in_earlier_week_counts_toward_sla():
    rows = evaluate_codes(
        _rejections("sal", "student", 1, WEEK_END - timedelta(hours=2)),
        WEEK_END,
        CONFIG,
        first_seen={"student": WEEK_END - timedelta(days=8)},
    )
    assert rows[0].status == UNMAPPED


def test_codes_normalise_to_snake_case():
    assert normalise_code("Buyer Fit Insufficient") == "buyer_fit_insufficient"
    assert normalise_code("  ") == "unspecified"
    assert normalise_code(None) == "unspecified"
