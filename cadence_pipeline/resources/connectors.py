"""Choose and build the lead connectors for a run: emulators in demo mode, live APIs otherwise.

Live credentials come from the environment only:
- Salesforce: SALESFORCE_INSTANCE_URL with SALESFORCE_SESSION_ID, or SALESFORCE_USERNAME,
  SALESFORCE_PASSWORD, SALESFORCE_SECURITY_TOKEN (and SALESFORCE_DOMAIN, e.g. `test`).
- HubSpot: HUBSPOT_ACCESS_TOKEN (a private app token), HUBSPOT_HOST for another host.
- Partner files: CADENCE_PARTNER_DROP_DIR, a folder with one folder per partner.
A CRM with no credentials set is skipped with a log line. A run with no connector at all
fails, because it would publish empty weeks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from cadence_pipeline.governance.config import GovernanceConfig
from cadence_pipeline.resources.connector import LeadConnector
from cadence_pipeline.settings import Settings

log = logging.getLogger(__name__)


def partner_drop_dir(
    settings: Settings, *, demo: bool, env: Mapping[str, str] | None = None
) -> Path:
    """Return the partner CSV drop folder: the demo fixtures, or CADENCE_PARTNER_DROP_DIR."""
    if demo:
        return settings.fixtures_dir / "partner_files"
    env = os.environ if env is None else env
    configured = env.get("CADENCE_PARTNER_DROP_DIR")
    return Path(configured) if configured else settings.home / "partner_drops"


class NoConnectorError(RuntimeError):
    """No CRM or partner feed is configured for the run."""


def _demo_connectors(settings: Settings, config: GovernanceConfig) -> list[LeadConnector]:
    from cadence_pipeline.emulators import ensure_emulators
    from cadence_pipeline.resources.hubspot import HubSpotConnector
    from cadence_pipeline.resources.partner_files import PartnerFileConnector
    from cadence_pipeline.resources.salesforce import SalesforceConnector

    fixtures = settings.fixtures_dir
    connectors: list[LeadConnector] = []
    running = None
    if (fixtures / "salesforce").is_dir() or (fixtures / "hubspot").is_dir():
        running = ensure_emulators(settings.home)
    if (fixtures / "salesforce").is_dir():
        connectors.append(
            SalesforceConnector(
                config=config, instance_url=running.salesforce_url, session_id=running.token
            )
        )
    if (fixtures / "hubspot").is_dir():
        connectors.append(
            HubSpotConnector(config=config, host=running.hubspot_url, access_token=running.token)
        )
    if (fixtures / "partner_files").is_dir():
        connectors.append(PartnerFileConnector(config=config, drop_dir=fixtures / "partner_files"))
    return connectors


def _live_connectors(config: GovernanceConfig, env: Mapping[str, str]) -> list[LeadConnector]:
    from cadence_pipeline.resources.hubspot import HubSpotConnector
    from cadence_pipeline.resources.partner_files import PartnerFileConnector
    from cadence_pipeline.resources.salesforce import SalesforceConnector

    connectors: list[LeadConnector] = []
    if env.get("SALESFORCE_SESSION_ID") or env.get("SALESFORCE_USERNAME"):
        connectors.append(
            SalesforceConnector(
                config=config,
                instance_url=env.get("SALESFORCE_INSTANCE_URL"),
                session_id=env.get("SALESFORCE_SESSION_ID"),
                username=env.get("SALESFORCE_USERNAME"),
                password=env.get("SALESFORCE_PASSWORD"),
                security_token=env.get("SALESFORCE_SECURITY_TOKEN"),
                domain=env.get("SALESFORCE_DOMAIN"),
            )
        )
    else:
        log.info("Salesforce skipped: SALESFORCE_SESSION_ID or SALESFORCE_USERNAME is not set")
    if env.get("HUBSPOT_ACCESS_TOKEN"):
        connectors.append(
            HubSpotConnector(
                config=config,
                host=env.get("HUBSPOT_HOST", "https://api.hubapi.com"),
                access_token=env["HUBSPOT_ACCESS_TOKEN"],
            )
        )
    else:
        log.info("HubSpot skipped: HUBSPOT_ACCESS_TOKEN is not set")
    if env.get("CADENCE_PARTNER_DROP_DIR"):
        connectors.append(
            PartnerFileConnector(config=config, drop_dir=Path(env["CADENCE_PARTNER_DROP_DIR"]))
        )
    return connectors


def build_connectors(
    settings: Settings,
    config: GovernanceConfig,
    *,
    demo: bool,
    env: Mapping[str, str] | None = None,
) -> list[LeadConnector]:
    """Return the connectors of this run; raise NoConnectorError when there is none."""
    connectors = (
        _demo_connectors(settings, config)
        if demo
        else _live_connectors(config, os.environ if env is None else env)
    )
    if not connectors:
        where = (
            f"no fixtures under {settings.fixtures_dir}; run `cadence demo` first"
            if demo
            else "set Salesforce, HubSpot or partner-file credentials in the environment"
        )
        raise NoConnectorError(f"no lead connector is configured: {where}")
    return connectors
