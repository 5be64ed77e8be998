from datetime import UTC, datetime

from cadence_pipeline.definitions import WEEKLY_JOB, build_definitions
from cadence_pipeline.governance.weeks import WeekSpan
from cadence_pipeline.settings import RunState, load_settings, save_run_state

WEEKLY_ASSETS = {
    "raw_crm_records",
    "leads",
    "lead_validation",
    "validation_pass_rate",
    "pipeline_variance",
    "signal_class_performance",
    "handoff_rejections",
    "escalations",
    "weekly_digest",
}


def test_definitions_load_with_names(cadence_home):
    defs = build_definitions(load_settings())
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert keys == WEEKLY_ASSETS
    job = defs.resolve_job_def(WEEKLY_JOB)
    assert job.name == WEEKLY_JOB
    schedule = defs.resolve_schedule_def("weekly_review_schedule")
    assert schedule.cron_schedule == "0 6 * * 1"
    assert schedule.job_name == WEEKLY_JOB


def test_partitions_start_on_monday(cadence_home):
    defs = build_definitions(load_settings())
    partitions = defs.resolve_job_def(WEEKLY_JOB).partitions_def
    keys = partitions.get_partition_keys(current_time=datetime(2026, 12, 4, tzinfo=UTC))
    assert all(datetime.fromisoformat(key).weekday() == 0 for key in keys)
    assert keys[-1] == "2026-11-23"  # the week of 2026-11-30 is not over on 2026-12-04


def test_partitions_follow_stored_span(cadence_home):
    settings = load_settings()
    span = WeekSpan("2026-08-17", "2026-11-30", datetime(2026, 12, 4, tzinfo=UTC), True)
    save_run_state(settings, RunState(mode="demo", data="simulator:7", span=span))
    defs = build_definitions(settings)
    partitions = defs.resolve_job_def(WEEKLY_JOB).partitions_def
    keys = partitions.get_partition_keys(current_time=datetime(2030, 1, 1, tzinfo=UTC))
    assert keys[0] == "2026-08-17"
    assert keys[-1] == "2026-11-30"
    assert len(keys) == 16
