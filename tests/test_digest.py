"""The weekly digest's layout, its Slack rendering within Slack's limits, and empty weeks."""

import json
import re

from cadence_pipeline.governance.digest import build_weekly_digest
from cadence_pipeline.resources.slack import SECTION_LIMIT, render_blocks

WEEK = "2026-11-23"


def _escalation(subject: str, *, occurrences: int = 1, first_week: str = WEEK, owner="data_lead"):
    return {
        "escalation_id": f"esc-{subject}",
        "rule": "validation.onboarding_gate",
        "subject": subject,
        "owner": owner,
        "escalated_to": None,
        "drift_mode": "validation_rollback",
        "occurrences": occurrences,
        "first_week": first_week,
        "summary": f"new source {subject} paused",
    }


def _digest(**overrides):
    tables = {
        "pass_rates": [],
        "variance": [],
        "classes": [],
        "dormant": [],
        "rejections": [],
        "escalations": [],
    }
    tables.update(overrides)
    return build_weekly_digest(
        WEEK, as_of_text="2026-11-30 06:00 UTC", mention=lambda seat: f"<{seat}>", **tables
    )


def test_empty_week_says_not_applicable():
    variance = [
        {
            "motion": "b2b",
            "metric": "sal_acceptance_rate",
            "value": None,
            "variance": None,
            "status": "not_applicable",
        }
    ]
    markdown = _digest(variance=variance).to_markdown()
    assert "no leads from any source this week: pass rates n/a" in markdown
    assert "sal acceptance rate n/a" in markdown
    assert "no new escalation this week" in markdown


def test_blocks_in_review_order_with_counts():
    digest = _digest(
        escalations=[
            _escalation("partner_a"),
            _escalation("partner_b", occurrences=3, first_week="2026-11-09"),
        ]
    )
    titles = [section.title for section in digest.sections]
    assert titles == [
        "1. Action register",
        "2. Pipeline variance",
        "3. Validation pass rate by source",
        "4. Signal-class performance",
        "5. Handoff disputes",
        "6. Decisions and owners",
    ]
    assert "2 escalations present this week: 1 new, 1 carried over" in digest.context
    assert any("partner_b" in line for line in digest.sections[0].lines)
    assert any("<data_lead>" in line for line in digest.sections[5].lines)


def test_escalation_without_owner_is_a_blocker():
    digest = _digest(escalations=[_escalation("partner_a", owner=None)])
    assert digest.blockers
    assert "has no owner" in digest.blockers[0]


def test_closed_escalations_are_listed():
    digest = _digest(escalations=[], resolved=[_escalation("partner_a")])
    assert any("not raised this week, closed" in line for line in digest.sections[0].lines)


def test_long_digest_splits_within_slack_limits():
    many = [_escalation(f"source_{i:04d}") for i in range(2000)]
    messages = render_blocks(_digest(escalations=many))
    assert len(messages) > 1
    for blocks in messages:
        assert len(blocks) <= 50
        for block in blocks:
            text = block.to_dict().get("text", {})
            assert len(text.get("text", "")) <= SECTION_LIMIT
    payload = json.dumps([[b.to_dict() for b in blocks] for blocks in messages])
    assert "source_1999" in payload
    assert not re.search(r"[\w.+-]+@[\w-]+\.\w+", payload)
