"""Loopback emulators of the Salesforce REST, HubSpot CRM v3 and Slack Web APIs.

`start_emulators` starts all three on free ports of 127.0.0.1 and returns their URLs.
`ensure_emulators` starts them once per process for a CADENCE_HOME, so every Dagster run
process in demo mode reaches them without a separate service. Clients authenticate with
`EMULATOR_TOKEN`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cadence_pipeline.emulators.base import EMULATOR_TOKEN, Fault, FaultPlan
from cadence_pipeline.emulators.hubspot import HubSpotEmulator
from cadence_pipeline.emulators.salesforce import SalesforceEmulator
from cadence_pipeline.emulators.slack import SlackEmulator

__all__ = [
    "EMULATOR_TOKEN",
    "Fault",
    "FaultPlan",
    "HubSpotEmulator",
    "RunningEmulators",
    "SalesforceEmulator",
    "SlackEmulator",
    "ensure_emulators",
    "start_emulators",
]

logger = logging.getLogger(__name__)

# Keyword limits accepted by start_emulators, and the emulator each one configures.
LIMITS = {
    "salesforce_page_size": ("salesforce", "page_size"),
    "salesforce_bulk_page_size": ("salesforce", "bulk_page_size"),
    "salesforce_bulk_job_seconds": ("salesforce", "bulk_job_seconds"),
    "salesforce_daily_api_limit": ("salesforce", "daily_api_limit"),
    "hubspot_list_page_max": ("hubspot", "list_page_max"),
    "hubspot_search_page_max": ("hubspot", "search_page_max"),
    "hubspot_search_result_cap": ("hubspot", "search_result_cap"),
    "hubspot_search_rate_per_second": ("hubspot", "search_rate_per_second"),
    "hubspot_batch_read_max": ("hubspot", "batch_read_max"),
    "hubspot_history_batch_read_max": ("hubspot", "history_batch_read_max"),
    "latency": ("*", "latency"),
}


@dataclass
class RunningEmulators:
    """The three running emulators and their base URLs."""

    salesforce: SalesforceEmulator
    hubspot: HubSpotEmulator
    slack: SlackEmulator
    token: str = EMULATOR_TOKEN

    @property
    def salesforce_url(self) -> str:
        return self.salesforce.url

    @property
    def hubspot_url(self) -> str:
        return self.hubspot.url

    @property
    def slack_url(self) -> str:
        """Base URL for slack-sdk's `WebClient(base_url=...)`, ending in `/api/`."""
        return f"{self.slack.url}/api/"

    @property
    def slack_messages_path(self) -> Path:
        return self.slack.messages_path

    def stop(self) -> None:
        """Stop the three servers in parallel, so stopping costs one poll interval."""
        stoppers = [
            threading.Thread(target=emulator.stop, name=f"stop-{emulator.name}")
            for emulator in (self.salesforce, self.hubspot, self.slack)
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()

    def __enter__(self) -> RunningEmulators:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_emulators(fixtures_dir: Path, state_dir: Path, **limits: Any) -> RunningEmulators:
    """Start the three emulators on free loopback ports.

    `limits` takes the keys of `LIMITS` (page sizes, the search result cap and rate, daily
    API limit, base latency in seconds), so tests can cross pages and caps with few records.
    """
    unknown = sorted(set(limits) - set(LIMITS))
    if unknown:
        raise TypeError(
            f"unknown emulator limits {', '.join(unknown)}; use any of {', '.join(LIMITS)}"
        )
    options: dict[str, dict[str, Any]] = {"salesforce": {}, "hubspot": {}, "slack": {}}
    for key, value in limits.items():
        target, option = LIMITS[key]
        for name in options if target == "*" else (target,):
            options[name][option] = value
    started: list[Any] = []
    try:
        salesforce = SalesforceEmulator(Path(fixtures_dir), **options["salesforce"]).start()
        started.append(salesforce)
        hubspot = HubSpotEmulator(Path(fixtures_dir), **options["hubspot"]).start()
        started.append(hubspot)
        slack = SlackEmulator(Path(state_dir), **options["slack"]).start()
        started.append(slack)
    except BaseException:
        for emulator in started:
            emulator.stop()
        raise
    return RunningEmulators(salesforce=salesforce, hubspot=hubspot, slack=slack)


_singletons: dict[Path, RunningEmulators] = {}
_singleton_lock = threading.Lock()


def ensure_emulators(home: Path) -> RunningEmulators:
    """Return this process's emulators for `home`, starting them on first use.

    They serve `home/fixtures` (re-read when a fixture file changes) and record Slack posts
    under `home/emulators`. They run in daemon threads and stop when the process exits.
    """
    key = Path(home).expanduser().resolve()
    with _singleton_lock:
        running = _singletons.get(key)
        if running is None:
            running = start_emulators(key / "fixtures", key / "emulators")
            _singletons[key] = running
            logger.info(
                "demo emulators for %s: salesforce %s, hubspot %s, slack %s",
                key,
                running.salesforce_url,
                running.hubspot_url,
                running.slack_url,
            )
        return running


def stop_process_emulators() -> None:
    """Stop every emulator `ensure_emulators` started in this process (for tests)."""
    with _singleton_lock:
        for running in _singletons.values():
            running.stop()
        _singletons.clear()
