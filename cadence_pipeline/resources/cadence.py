"""Dagster resources: the run's settings and warehouse, the lead connectors, and Slack."""

import logging
import os
from datetime import UTC, datetime
from functools import cached_property

from dagster import ConfigurableResource

from cadence_pipeline.assets.common import WeekWindow
from cadence_pipeline.governance.config import GovernanceConfig
from cadence_pipeline.governance.weeks import shift_week, week_bounds, week_key
from cadence_pipeline.resources.connector import LeadConnector
from cadence_pipeline.resources.slack import DigestPoster
from cadence_pipeline.resources.warehouse import Warehouse
from cadence_pipeline.settings import Settings, load_run_state, load_settings

log = logging.getLogger(__name__)


class CadenceResource(ConfigurableResource):
    """The run's state folder, warehouse and governance configuration.

    Empty fields fall back to the environment (CADENCE_HOME, CADENCE_WAREHOUSE_URL,
    CADENCE_CONFIG, CADENCE_SLACK_TARGET) when the resource is first used.
    """

    home: str = ""
    warehouse_url: str = ""
    slack_target: str = ""

    @cached_property
    def settings(self) -> Settings:
        env = dict(os.environ)
        if self.home:
            env["CADENCE_HOME"] = self.home
        if self.warehouse_url:
            env["CADENCE_WAREHOUSE_URL"] = self.warehouse_url
        if self.slack_target:
            env["CADENCE_SLACK_TARGET"] = self.slack_target
        return load_settings(env)

    @cached_property
    def governance(self) -> GovernanceConfig:
        return self.settings.load_governance()

    @cached_property
    def warehouse(self) -> Warehouse:
        warehouse = Warehouse(self.settings.warehouse_url)
        warehouse.ensure_schema()
        return warehouse

    @property
    def demo_mode(self) -> bool:
        state = load_run_state(self.settings)
        return state is not None and state.mode == "demo"

    def as_of(self) -> datetime:
        """Return "now" for this run: the stored as-of of a demo run, else the clock."""
        state = load_run_state(self.settings)
        if state is not None:
            return state.span.as_of
        return datetime.now(UTC)

    def week_window(self, week: str) -> WeekWindow:
        """Return the bounds of `week` and whether it is partial for this run.

        A week is partial while the as-of instant falls inside it, and the last week of a
        stored demo span is partial when its data stopped before the week's end.
        """
        start, end = week_bounds(week, self.governance.timezone)
        as_of = self.as_of()
        state = load_run_state(self.settings)
        partial = as_of < end or (
            state is not None and state.span.partial_last_week and week == state.span.last_week
        )
        return WeekWindow(week=week, start=start, end=end, as_of=as_of, partial=partial)

    def latest_complete_week(self) -> str:
        """Return the week whose digest is posted: the last complete week as of this run."""
        state = load_run_state(self.settings)
        if state is not None:
            return state.span.last_complete_week
        return shift_week(week_key(self.as_of(), self.governance.timezone), -1)

    def connectors(self) -> list[LeadConnector]:
        """Build the lead connectors: emulators in demo mode, live APIs otherwise."""
        from cadence_pipeline.resources.connectors import build_connectors

        return build_connectors(self.settings, self.governance, demo=self.demo_mode)

    def digest_poster(self) -> DigestPoster:
        """Build the poster for the configured Slack target (emulator, file or live)."""
        settings = self.settings
        channel = self.governance.slack.channel
        if settings.slack_target == "emulator":
            from cadence_pipeline.emulators import ensure_emulators

            running = ensure_emulators(settings.home)
            return DigestPoster(
                "emulator", channel, base_url=running.slack_url, token=running.token
            )
        if settings.slack_target == "file":
            return DigestPoster("file", channel, outbox=settings.home / "slack_outbox")
        return DigestPoster("live", channel)
