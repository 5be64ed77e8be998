"""The cadence code location: weekly assets, the weekly job and schedule, and resources.

The weekly partitions follow the run span that `cadence demo` stored under CADENCE_HOME,
so `dagster dev` shows the same partitions the demo filled. Without a stored span the
partitions cover recent history and the weekly schedule runs on.
"""

from __future__ import annotations

from dagster import Definitions, define_asset_job, definitions, in_process_executor

from cadence_pipeline.assets.common import weekly_partitions
from cadence_pipeline.assets.digests import build_digest_assets
from cadence_pipeline.assets.escalations import build_escalation_assets
from cadence_pipeline.assets.handoffs import build_handoff_assets
from cadence_pipeline.assets.ingest import build_ingest_assets
from cadence_pipeline.assets.pipeline import build_pipeline_assets
from cadence_pipeline.assets.signals import build_signal_assets
from cadence_pipeline.assets.validation import build_validation_assets
from cadence_pipeline.resources.cadence import CadenceResource
from cadence_pipeline.schedules.weekly import weekly_review_schedule
from cadence_pipeline.settings import Settings, load_run_state, load_settings

WEEKLY_JOB = "weekly_review"


def build_definitions(settings: Settings | None = None) -> Definitions:
    settings = settings or load_settings()
    state = load_run_state(settings)
    governance = settings.load_governance()
    partitions = weekly_partitions(state, governance.timezone)

    raw, leads = build_ingest_assets(partitions)
    validation = build_validation_assets(partitions, leads)
    pipeline = build_pipeline_assets(partitions, leads)
    signals = build_signal_assets(partitions, leads)
    handoffs = build_handoff_assets(partitions, leads)
    blocks = [*validation, *pipeline, *signals, *handoffs]
    (escalations,) = build_escalation_assets(partitions, blocks)
    (digest,) = build_digest_assets(partitions, escalations, blocks)
    assets = [raw, leads, *blocks, escalations, digest]

    weekly_job = define_asset_job(
        WEEKLY_JOB,
        selection=assets,
        partitions_def=partitions,
        description="Every weekly asset for one ISO week, ending with the review digest.",
    )
    demo = state is not None and state.mode == "demo"
    return Definitions(
        assets=assets,
        jobs=[weekly_job],
        schedules=[weekly_review_schedule(weekly_job, running=not demo)],
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
