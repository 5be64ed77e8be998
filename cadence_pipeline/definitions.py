"""The cadence code location: weekly assets, jobs, the schedule, sensors and resources.

The weekly partitions follow the run span that `cadence demo` stored under CADENCE_HOME,
so `dagster dev` shows the same partitions the demo filled. Without a stored span the code
location runs live: partitions cover recent history, and the schedule and sensors run.
"""

from dagster import (
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
    definitions,
    in_process_executor,
)

from cadence_pipeline.assets.common import weekly_partitions
from cadence_pipeline.assets.digests import build_digest_assets
from cadence_pipeline.assets.escalations import build_escalation_assets
from cadence_pipeline.assets.handoffs import build_handoff_assets
from cadence_pipeline.assets.ingest import build_ingest_assets
from cadence_pipeline.assets.onboarding import build_onboarding_assets
from cadence_pipeline.assets.pipeline import build_pipeline_assets
from cadence_pipeline.assets.signals import build_signal_assets
from cadence_pipeline.assets.validation import build_validation_assets
from cadence_pipeline.resources.cadence import CadenceResource
from cadence_pipeline.resources.connectors import partner_drop_dir
from cadence_pipeline.schedules.weekly import weekly_review_schedule
from cadence_pipeline.sensors.onboarding import build_onboarding_sensor
from cadence_pipeline.sensors.partner_files import build_partner_file_sensor, partner_file_week
from cadence_pipeline.settings import Settings, load_run_state, load_settings

WEEKLY_JOB = "weekly_review"
ONBOARDING_JOB = "onboarding_check"


def build_definitions(settings: Settings | None = None) -> Definitions:
    settings = settings or load_settings()
    state = load_run_state(settings)
    governance = settings.load_governance()
    partitions = weekly_partitions(
        state, governance.timezone, history_start=governance.history_start
    )

    snapshot, raw, leads = build_ingest_assets(partitions)
    lead_validation, pass_rate = build_validation_assets(partitions, leads)
    (gate,) = build_onboarding_assets(partitions, lead_validation)
    pipeline = build_pipeline_assets(partitions, leads)
    signals = build_signal_assets(partitions, leads)
    handoffs = build_handoff_assets(partitions, leads)
    blocks = [lead_validation, pass_rate, *pipeline, *signals, *handoffs]
    (escalations,) = build_escalation_assets(partitions, blocks)
    (digest,) = build_digest_assets(partitions, escalations, [*blocks, gate])
    assets = [snapshot, raw, leads, *blocks, gate, escalations, digest]

    weekly_job = define_asset_job(
        WEEKLY_JOB,
        selection=assets,
        description="Every weekly asset for one ISO week, ending with the review digest.",
    )
    onboarding_job = define_asset_job(
        ONBOARDING_JOB,
        selection=[snapshot, raw, leads, lead_validation, gate],
        description="Pulls and validates a week's leads so far and runs the onboarding gate.",
    )
    live = state is None or state.mode != "demo"
    drop_dir = partner_drop_dir(settings, demo=not live)
    return Definitions(
        assets=assets,
        jobs=[weekly_job, onboarding_job],
        schedules=[weekly_review_schedule(WEEKLY_JOB, governance.timezone, running=live)],
        sensors=[
            build_onboarding_sensor(ONBOARDING_JOB, running=live),
            build_partner_file_sensor(
                job_name=ONBOARDING_JOB,
                drop_dir=drop_dir,
                partition_for_file=partner_file_week(governance),
                default_status=(
                    DefaultSensorStatus.RUNNING
                    if live and drop_dir.is_dir()
                    else DefaultSensorStatus.STOPPED
                ),
            ),
        ],
        resources={
            "cadence": CadenceResource(
                home=str(settings.home),
                warehouse_url=settings.warehouse_url,
                slack_target=settings.slack_target,
            )
        },
        # A process per step costs seconds on small machines; weekly steps are light.
        executor=in_process_executor,
    )


@definitions
def defs() -> Definitions:
    """Load the code location lazily, so importing this module reads no environment."""
    return build_definitions()
