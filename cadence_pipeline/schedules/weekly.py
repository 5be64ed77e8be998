"""The weekly review schedule: Monday morning in the configured timezone, last week's data."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, JobDefinition, build_schedule_from_partitioned_job

WEEKLY_HOUR = 6


def weekly_review_schedule(job: JobDefinition, *, running: bool):
    """Tick every Monday at 06:00 (partition timezone) for the week that just ended.

    The schedule inherits the weekly partitions' timezone and targets the last complete
    partition, so the digest is in Slack before a Monday review.
    """
    return build_schedule_from_partitioned_job(
        job,
        name="weekly_review_schedule",
        description="Computes last week's review and posts its digest on Monday morning.",
        hour_of_day=WEEKLY_HOUR,
        minute_of_hour=0,
        day_of_week=1,
        default_status=DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED,
    )
