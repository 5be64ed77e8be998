"""The weekly review schedule: Monday morning in the configured timezone, last week's data."""

from datetime import timedelta

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)

from cadence_pipeline.governance.weeks import week_key

WEEKLY_CRON = "0 6 * * 1"  # Mondays at 06:00


def weekly_review_schedule(job_name: str, timezone: str, *, running: bool) -> ScheduleDefinition:
    """Tick every Monday at 06:00 in `timezone` and run the week that has just ended.

    The weekly partitions include the week in progress (the onboarding check runs it), so
    the target is named explicitly rather than taken as the last partition.
    """

    @schedule(
        name="weekly_review_schedule",
        cron_schedule=WEEKLY_CRON,
        job_name=job_name,
        execution_timezone=timezone,
        default_status=DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED,
        description="Computes last week's review and posts its digest on Monday morning.",
    )
    def weekly_review(context: ScheduleEvaluationContext) -> RunRequest:
        tick = context.scheduled_execution_time
        week = week_key(tick - timedelta(days=7), timezone)
        return RunRequest(run_key=f"weekly:{week}", partition_key=week)

    return weekly_review
