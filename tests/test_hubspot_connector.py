"""HubSpotConnector against the emulator: search windows past the cap, list paging, retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cadence_pipeline.emulators import EMULATOR_TOKEN, Fault, start_emulators
from cadence_pipeline.governance.config import load_config
from cadence_pipeline.resources.hubspot import HubSpotConnector
from cadence_pipeline.resources.mapping import ConnectorError

CONFIG = load_config()
START = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 9, tzinfo=UTC)


def contact(index: int, created: datetime, **properties) -> dict:
    iso = created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    values = {
        "email": f"contact{index}@example.com",
        "createdate": iso,
        "lead_source": "Paid Social",
        "motion": None,
        "numemployees": "12",
        "hs_email_optout": "false",
        "marketing_consent": "true",
    }
    values.update(properties)
    return {
        "id": str(index),
        "properties": values,
        "createdAt": iso,
        "updatedAt": iso,
        "archived": False,
    }


def write_contacts(fixtures: Path, rows: list[dict]) -> None:
    path = fixtures / "hubspot" / "contacts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def connector(running, **kwargs) -> HubSpotConnector:
    options = {
        "request_timeout": 2.0,
        "backoff_factor": 0.01,
        "searches_per_second": 0,
        "search_result_cap": running.hubspot.search_result_cap,
        "search_page_size": running.hubspot.search_page_max,
    }
    options.update(kwargs)
    return HubSpotConnector(
        config=CONFIG, access_token=EMULATOR_TOKEN, host=running.hubspot_url, **options
    )


def start(tmp_path, rows, **limits):
    fixtures = tmp_path / "fixtures"
    write_contacts(fixtures, rows)
    limits.setdefault("hubspot_search_rate_per_second", None)
    return start_emulators(fixtures, tmp_path / "state", **limits)


@pytest.mark.timeout(30)
def test_fetch_maps_contacts(tmp_path):
    rows = [contact(index, START + timedelta(hours=index)) for index in range(1, 11)]
    rows.append(
        contact(
            11,
            START - timedelta(days=30),
            hs_lifecyclestage_marketingqualifiedlead_date="1793966400000",
        )
    )
    rows.append(contact(12, START - timedelta(days=30)))
    rows.append(contact(13, END))
    with start(tmp_path, rows) as running:
        result = connector(running).fetch_leads(START, END)
    ids = sorted(int(lead.lead_id) for lead in result.leads)
    assert ids == [*range(1, 12)]
    lead = next(lead for lead in result.leads if lead.lead_id == "11")
    assert lead.mql_at == datetime(2026, 11, 6, 12, tzinfo=UTC)
    assert lead.motion == "b2c"
    assert lead.source == "paid_social"
    assert lead.employees == 12
    assert lead.consent is True


@pytest.mark.timeout(30)
def test_fetch_splits_window_past_cap(tmp_path):
    rows = [contact(index, START + timedelta(minutes=7 * index)) for index in range(1, 251)]
    with start(tmp_path, rows, hubspot_search_result_cap=40, hubspot_search_page_max=15) as running:
        result = connector(running).fetch_leads(START, END)
    assert len(result.leads) == 250
    assert len({lead.lead_id for lead in result.leads}) == 250


@pytest.mark.timeout(30)
def test_fetch_keyset_on_shared_timestamp(tmp_path):
    same = START + timedelta(hours=5)
    rows = [contact(index, same) for index in range(1, 101)]
    rows += [contact(index, START + timedelta(hours=index - 99)) for index in range(101, 131)]
    with start(tmp_path, rows, hubspot_search_result_cap=25, hubspot_search_page_max=10) as running:
        result = connector(running).fetch_leads(START, END)
    assert len({lead.lead_id for lead in result.leads}) == 130


@pytest.mark.timeout(30)
def test_bad_contacts_are_returned_with_reason(tmp_path):
    rows = [
        contact(1, START),
        contact(2, START, motion="retail"),
        contact(3, START, hs_lifecyclestage_customer_date="2026-11-04T10:00:00"),
        contact(4, START, numemployees="a few"),
    ]
    with start(tmp_path, rows) as running:
        result = connector(running).fetch_leads(START, END)
    assert [lead.lead_id for lead in result.leads] == ["1"]
    fields = {error.record_id: error.field_name for error in result.rejected}
    assert fields == {"2": "motion", "3": "hs_lifecyclestage_customer_date", "4": "numemployees"}


@pytest.mark.timeout(30)
def test_list_contacts_pages_on_after(tmp_path):
    rows = [contact(index, START) for index in range(1, 251)]
    with start(tmp_path, rows) as running:
        result = connector(running).list_contacts()
    assert len(result.leads) == 250
    assert result.pages == 3


@pytest.mark.timeout(30)
def test_search_retries_429_and_5xx(tmp_path):
    rows = [contact(index, START) for index in range(1, 6)]
    with start(tmp_path, rows) as running:
        running.hubspot.faults.add(
            "POST",
            "/crm/v3/objects/contacts/search",
            Fault.rate_limited(retry_after=0),
            Fault.http_status(502),
            Fault.drop(),
        )
        result = connector(running).fetch_leads(START, END)
        assert running.hubspot.faults.pending() == 0
    assert len(result.leads) == 5


@pytest.mark.timeout(30)
def test_search_rate_limit_is_retried(tmp_path):
    rows = [contact(index, START + timedelta(minutes=index)) for index in range(1, 41)]
    with start(
        tmp_path, rows, hubspot_search_rate_per_second=3, hubspot_search_page_max=10
    ) as running:
        result = connector(running, search_page_size=10).fetch_leads(START, END)
    assert len(result.leads) == 40


@pytest.mark.timeout(30)
def test_timeout_is_clear(tmp_path):
    with start(tmp_path, [contact(1, START)]) as running:
        running.hubspot.faults.add("POST", "/crm", *[Fault.delay(2)] * 3)
        with pytest.raises(ConnectorError, match="did not answer"):
            connector(running, request_timeout=0.2, max_retries=1).fetch_leads(START, END)


@pytest.mark.timeout(30)
def test_expired_token_is_clear(tmp_path):
    with start(tmp_path, [contact(1, START)]) as running:
        running.hubspot.faults.add("POST", "/crm", Fault.expired_session())
        with pytest.raises(ConnectorError) as caught:
            connector(running).fetch_leads(START, END)
    assert caught.value.status == 401
    assert caught.value.error_code == "EXPIRED_AUTHENTICATION"
    assert "token" in str(caught.value)


def test_fetch_rejects_naive_window(tmp_path):
    with start(tmp_path, []) as running, pytest.raises(ValueError, match="no time zone"):
        connector(running).fetch_leads(datetime(2026, 11, 2), END)
