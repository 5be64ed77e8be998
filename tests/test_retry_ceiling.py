"""A Retry-After longer than the ceiling fails the pull at once instead of blocking it."""

from datetime import UTC, datetime

import pytest

from cadence_pipeline.emulators import Fault, start_emulators
from cadence_pipeline.governance.config import load_config
from cadence_pipeline.resources.hubspot import HubSpotConnector
from cadence_pipeline.resources.mapping import ConnectorError
from cadence_pipeline.resources.retry import MAX_RETRY_AFTER_SECONDS
from cadence_pipeline.resources.salesforce import SalesforceConnector
from cadence_pipeline.simulator import generate

AS_OF = datetime(2026, 12, 4, tzinfo=UTC)
WINDOW = (datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))


@pytest.fixture
def running(tmp_path):
    generate(tmp_path / "fixtures", as_of=AS_OF, weeks=1, seed=2)
    with start_emulators(tmp_path / "fixtures", tmp_path / "state") as emulators:
        yield emulators


@pytest.mark.timeout(int(MAX_RETRY_AFTER_SECONDS * 2))
def test_salesforce_long_retry_after_fails_fast(running):
    connector = SalesforceConnector(
        config=load_config(), instance_url=running.salesforce_url, session_id=running.token
    )
    wait = MAX_RETRY_AFTER_SECONDS * 4
    running.salesforce.faults.add("GET", "/services/data", Fault.rate_limited(wait))
    # Honouring the wait would sleep past the test's timeout; the ceiling fails at once.
    with pytest.raises(ConnectorError, match="429"):
        connector.fetch_leads(*WINDOW)


@pytest.mark.timeout(int(MAX_RETRY_AFTER_SECONDS * 2))
def test_hubspot_long_retry_after_fails_fast(running):
    connector = HubSpotConnector(
        config=load_config(), host=running.hubspot_url, access_token=running.token
    )
    wait = MAX_RETRY_AFTER_SECONDS * 4
    running.hubspot.faults.add("POST", "/crm/v3/objects/contacts/search", Fault.rate_limited(wait))
    # Honouring the wait would sleep past the test's timeout; the ceiling fails at once.
    with pytest.raises(ConnectorError, match="429"):
        connector.fetch_leads(*WINDOW)
