from datetime import UTC, datetime

from dagster import DefaultScheduleStatus, build_schedule_context, build_sensor_context

from cadence_pipeline.definitions import ONBOARDING_JOB, WEEKLY_JOB, build_definitions
from cadence_pipeline.governance.weeks import WeekSpan, week_key
from cadence_pipeline.resources.cadence import CadenceResource
from cadence_pipeline.resources.warehouse import Warehouse
from cadence_pipeline.settings import RunState, load_settings, save_run_state

WEEKLY_ASSETS = {
    "crm_snapshot",
    "raw_crm_records",
    "leads",
    "lead_validation",
    "validation_pass_rate",
    "pipeline_variance",
    "signal_class_performance",
    "handoff_rejections",
    "onboarding_gate",
    "escalations",
    "weekly_digest",
}


def test_definitions_load_with_names(cadence_home):
    defs = build_definitions(load_settings())
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert keys == WEEKLY_ASSETS
    job = defs.resolve_job_def(WEEKLY_JOB)
    assert job.name == WEEKLY_JOB
    assert defs.resolve_job_def(ONBOARDING_JOB).name == ONBOARDING_JOB
    schedule = defs.resolve_schedule_def("weekly_review_schedule")
    assert schedule.cron_schedule == "0 6 * * 1"
    assert schedule.job_name == WEEKLY_JOB
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    for name in ("onboarding_sources", "partner_file_drops"):
        assert defs.resolve_sensor_def(name).job_name == ONBOARDING_JOB


def test_schedule_targets_week_just_ended(cadence_home):
    defs = build_definitions(load_settings())
    schedule = defs.resolve_schedule_def("weekly_review_schedule")
    tick = datetime(2026, 11, 30, 6, tzinfo=UTC)  # Monday morning
    context = build_schedule_context(
        scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-23"
    assert request.run_key == "weekly:2026-11-23"


def test_onboarding_sensor_runs_week_in_progress(cadence_home):
    settings = load_settings()
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("onboarding_sources")
    resources = {"cadence": CadenceResource(home=str(settings.home))}
    repository = defs.get_repository_def()
    with build_sensor_context(resources=resources, repository_def=repository) as context:
        assert sensor.evaluate_tick(context).skip_message == "no source is onboarding"
    Warehouse(settings.warehouse_url).upsert_source(
        {
            "source": "new_partner",
            "first_seen_at": datetime(2026, 12, 1, tzinfo=UTC),
            "first_week": "2026-11-30",
            "established": False,
            "status": "onboarding",
        }
    )
    with build_sensor_context(resources=resources, repository_def=repository) as context:
        (request,) = sensor.evaluate_tick(context).run_requests
    assert request.partition_key == week_key(datetime.now(UTC))
    assert request.run_key.startswith("onboarding:")


def test_partitions_start_on_monday(cadence_home):
    defs = build_definitions(load_settings())
    partitions = defs.resolve_job_def(WEEKLY_JOB).partitions_def
    keys = partitions.get_partition_keys(current_time=datetime(2026, 12, 4, tzinfo=UTC))
    assert all(datetime.fromisoformat(key).weekday() == 0 for key in keys)
    # The week in progress is a partition too: the onboarding check runs it.
    assert keys[-1] == "2026-11-30"


def test_partitions_follow_stored_span(cadence_home):
    settings = load_settings()
    span = WeekSpan("2026-08-17", "2026-11-30", datetime(2026, 12, 4, tzinfo=UTC), True)
    save_run_state(settings, RunState(mode="demo", data="simulator:7", span=span))
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def("weekly_review_schedule")
    assert schedule.default_status == DefaultScheduleStatus.STOPPED
    partitions = defs.resolve_job_def(WEEKLY_JOB).partitions_def
    keys = partitions.get_partition_keys(current_time=datetime(2030, 1, 1, tzinfo=UTC))
    assert keys[0] == "2026-08-17"
    assert keys[-1] == "2026-11-30"
    assert len(keys) == 16
