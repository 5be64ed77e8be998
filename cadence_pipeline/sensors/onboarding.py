"""The onboarding sensor: checks sources in onboarding between weekly reviews.

While any source is onboarding, the sensor requests one `onboarding_check` run an hour for
the week in progress. That run pulls the week's leads so far, validates them and evaluates
the onboarding gate, so a failing source is paused and its owner alerted within the hour
rather than at the next weekly review. New partner files trigger the same job through the
partner-file sensor as soon as they land.
"""

from datetime import UTC, datetime

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from cadence_pipeline.governance.weeks import week_key
from cadence_pipeline.resources.cadence import CadenceResource

CHECK_INTERVAL_SECONDS = 15 * 60


def build_onboarding_sensor(job_name: str, *, running: bool) -> SensorDefinition:
    @sensor(
        name="onboarding_sources",
        job_name=job_name,
        minimum_interval_seconds=CHECK_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
        description=(
            "While any source is onboarding, runs the onboarding check for the week in "
            "progress once an hour."
        ),
    )
    def onboarding_sources(
        context: SensorEvaluationContext, cadence: CadenceResource
    ) -> RunRequest | SkipReason:
        onboarding = cadence.warehouse.rows(
            "source_registry", columns=["source"], status="onboarding"
        )
        if not onboarding:
            return SkipReason("no source is onboarding")
        now = datetime.now(UTC)
        week = week_key(now, cadence.governance.timezone)
        sources = ", ".join(sorted(row["source"] for row in onboarding))
        context.log.info("sources onboarding: %s", sources)
        return RunRequest(
            run_key=f"onboarding:{now:%Y-%m-%dT%H}",
            partition_key=week,
            tags={"cadence/onboarding_sources": sources[:200]},
        )

    return onboarding_sources
