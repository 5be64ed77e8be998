"""A seeded variant of the two reference scenarios, with other rates, volumes and names.

The weekly rules must find them from the raw records alone, as they find the defaults.
"""

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from cadence_pipeline.cli import run_demo
from cadence_pipeline.emulators import stop_process_emulators
from cadence_pipeline.resources.warehouse import Warehouse
from cadence_pipeline.settings import load_settings
from cadence_pipeline.simulator import (
    CohortLaunchSpec,
    SignalClassSpec,
    SourceSpec,
    default_spec,
)

AS_OF = datetime(2026, 11, 26, 15, tzinfo=UTC)  # a Thursday


def variant_spec():
    base = default_spec()
    return dataclasses.replace(
        base,
        sources=(
            SourceSpec("events_berlin", "events", "b2b", 90, 0.93, {"booth_scan": 1.0}),
            SourceSpec("webform_trial", "form", "b2b", 120, 0.95, {"trial_request": 1.0}),
            SourceSpec(
                "tiktok_ads", "paid_social", "b2c", 420, 0.92, {"video_view": 1.0}, owner="b2c_lead"
            ),
        ),
        signal_classes={
            "booth_scan": SignalClassSpec("b2b", 0.25),
            "trial_request": SignalClassSpec("b2b", 0.25),
            "video_view": SignalClassSpec("b2c", 0.15),
        },
        partner=dataclasses.replace(
            base.partner,
            partner_id="leadmesh",
            source_id="leadmesh_partner",
            owner="chair",
            weeks_before_last_complete=3,
            launch_daily_leads=30,
            launch_pass_rate=0.33,
            resume_pass_rate=0.55,
            recovered_pass_rate=0.82,
        ),
        cohort=CohortLaunchSpec(
            signal_class="tiktok_lookalike",
            host_source="tiktok_ads",
            weeks_before_last_complete=1,
            weekly_signals=380,
            relative_rate=0.6,
        ),
        novel_codes=(),
    )


@pytest.fixture(scope="module")
def variant_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("variant")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CADENCE_HOME", str(home))
        patch.setenv("CADENCE_SLACK_TARGET", "emulator")
        patch.delenv("CADENCE_WAREHOUSE_URL", raising=False)
        patch.delenv("CADENCE_CONFIG", raising=False)
        settings = load_settings()
        run_demo(settings, weeks=10, as_of=AS_OF, data=None, seed=23, spec=variant_spec())
        yield settings
    stop_process_emulators()


@pytest.mark.timeout(300)
def test_variant_partner_is_paused_and_owner_alerted(variant_home):
    warehouse = Warehouse(variant_home.warehouse_url)
    rows = warehouse.rows("validation_pass_rate", source="leadmesh_partner")
    first = min(rows, key=lambda row: row["week"])
    assert first["status"] == "paused"
    assert first["pass_rate"] == pytest.approx(0.33, abs=0.08)
    (alert,) = warehouse.rows("source_alerts", source="leadmesh_partner")
    assert alert["owner"] == "chair"
    assert "Head of Demand Gen" in alert["text"]
    later = [row for row in rows if row["week"] > first["week"] and row["leads"]]
    assert later
    assert {row["status"] for row in later} == {"onboarding"}


@pytest.mark.timeout(300)
def test_variant_cohort_is_flagged_as_noise_creep(variant_home):
    warehouse = Warehouse(variant_home.warehouse_url)
    flagged = warehouse.rows("escalations", rule="signals.below_model")
    assert {row["subject"] for row in flagged} == {"tiktok_lookalike"}
    assert {row["drift_mode"] for row in flagged} == {"signal_noise_creep"}
    evidence = json.loads(flagged[0]["evidence"])
    assert evidence["new_class"] is True
    assert "retire the cohort" in flagged[0]["summary"]


@pytest.mark.timeout(300)
def test_variant_established_sources_are_not_flagged(variant_home):
    warehouse = Warehouse(variant_home.warehouse_url)
    statuses = {
        row["status"]
        for row in warehouse.rows("validation_pass_rate")
        if row["source"] != "leadmesh_partner"
    }
    assert statuses <= {"ok", "low_volume"}
