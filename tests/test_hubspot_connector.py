"""HubSpotConnector against the emulator: search windows past the cap, list paging, retries."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

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
        with pytest.raises(ConnectorError, match="did not respond"):
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


# Lifecycle history, merges, date properties, incremental pulls.


def history(*entries: tuple[str, datetime]) -> dict:
    """A lifecyclestage history, newest first as the API returns it."""
    ordered = sorted(entries, key=lambda entry: entry[1], reverse=True)
    return {
        "lifecyclestage": [
            {"value": value, "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
            for value, at in ordered
        ]
    }


@pytest.mark.timeout(30)
def test_regression_is_not_a_new_mql(tmp_path):
    first_mql = START - timedelta(days=20)
    again = START + timedelta(days=2)
    row = contact(
        1,
        START - timedelta(days=30),
        lifecyclestage="marketingqualifiedlead",
        # HubSpot overwrites the date when the contact re-enters the stage.
        hs_lifecyclestage_marketingqualifiedlead_date=str(int(again.timestamp() * 1000)),
    )
    row["propertiesWithHistory"] = history(
        ("lead", START - timedelta(days=30)),
        ("marketingqualifiedlead", first_mql),
        ("lead", START - timedelta(days=10)),
        ("marketingqualifiedlead", again),
    )
    with start(tmp_path, [row]) as running:
        result = connector(running, property_history=True).fetch_leads(START, END)
    lead = result.leads[0]
    assert lead.mql_at == first_mql
    assert lead.extra["stage_regressions"] == [
        {"from": "mql", "to": None, "at": (START - timedelta(days=10)).isoformat()}
    ]


@pytest.mark.timeout(30)
def test_history_fills_missing_stage_dates(tmp_path):
    rows = []
    for index in range(1, 121):
        row = contact(index, START + timedelta(minutes=index), lifecyclestage="opportunity")
        row["propertiesWithHistory"] = history(
            ("salesqualifiedlead", START + timedelta(hours=2)),
            ("opportunity", START + timedelta(hours=3)),
        )
        rows.append(row)
    with start(tmp_path, rows) as running:
        result = connector(running, property_history=True).fetch_leads(START, END)
        batch_reads = [path for _, path in running.hubspot.request_log if "batch/read" in path]
    assert len(result.leads) == 120
    assert len(batch_reads) == 3  # 50 contacts a history read
    lead = result.leads[0]
    assert lead.sal_at == START + timedelta(hours=2)
    assert lead.extra["sql_at"] == (START + timedelta(hours=3)).isoformat()


@pytest.mark.timeout(30)
def test_history_read_is_retried(tmp_path):
    row = contact(1, START, lifecyclestage="lead")
    with start(tmp_path, [row]) as running:
        running.hubspot.faults.add(
            "POST", "/crm/v3/objects/contacts/batch/read", Fault.rate_limited(retry_after=0)
        )
        result = connector(running, property_history=True).fetch_leads(START, END)
        assert running.hubspot.faults.pending() == 0
    assert len(result.leads) == 1


@pytest.mark.timeout(30)
def test_merged_contact_counted_once(tmp_path):
    survivor = contact(1, START + timedelta(hours=1), hs_merged_object_ids="2;3")
    # Read before the merge landed: the old record is still in the search results.
    merged_away = contact(2, START + timedelta(hours=2))
    other = contact(4, START + timedelta(hours=3))
    with start(tmp_path, [survivor, merged_away, other]) as running:
        result = connector(running).fetch_leads(START, END)
    assert sorted(lead.lead_id for lead in result.leads) == ["1", "4"]
    assert result.merged_ids == {"2": "1", "3": "1"}
    survivor_lead = next(lead for lead in result.leads if lead.lead_id == "1")
    assert survivor_lead.extra["merged_ids"] == ["2", "3"]


def test_batch_read_of_merged_id_returns_survivor(tmp_path):
    survivor = contact(1, START, hs_merged_object_ids="2")
    with start(tmp_path, [survivor]) as running:
        response = requests.post(
            running.hubspot_url + "/crm/v3/objects/contacts/batch/read",
            json={"inputs": [{"id": "2"}], "propertiesWithHistory": ["lifecyclestage"]},
            headers={"Authorization": f"Bearer {EMULATOR_TOKEN}"},
            timeout=5,
        )
        too_many = requests.post(
            running.hubspot_url + "/crm/v3/objects/contacts/batch/read",
            json={"inputs": [{"id": str(i)} for i in range(51)], "propertiesWithHistory": ["x"]},
            headers={"Authorization": f"Bearer {EMULATOR_TOKEN}"},
            timeout=5,
        )
    assert [item["id"] for item in response.json()["results"]] == ["1"]
    assert too_many.status_code == 400
    assert "property histories is 50" in too_many.json()["message"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1793923200000", datetime(2026, 11, 6, tzinfo=UTC)),  # epoch ms
        ("2026-11-06T10:30:00.000Z", datetime(2026, 11, 6, 10, 30, tzinfo=UTC)),
        ("2026-11-06T11:30:00+01:00", datetime(2026, 11, 6, 10, 30, tzinfo=UTC)),
    ],
)
def test_datetime_properties_parse_to_utc(tmp_path, value, expected):
    row = contact(1, START - timedelta(days=30), hs_lifecyclestage_customer_date=value)
    with start(tmp_path, [row]) as running:
        result = connector(running).fetch_leads(START, END)
    assert result.leads[0].won_at == expected


@pytest.mark.timeout(30)
@pytest.mark.parametrize("value", ["1793923200000", "2026-11-06", "2026-11-06T00:00:00.000Z"])
def test_date_properties_are_calendar_dates(tmp_path, value):
    config = load_config(overrides={"timezone": "America/New_York"})
    row = contact(1, START, signal_date=value)
    with start(tmp_path, [row]) as running:
        hubspot = HubSpotConnector(
            config=config,
            access_token=EMULATOR_TOKEN,
            host=running.hubspot_url,
            searches_per_second=0,
            request_timeout=2.0,
            date_properties=["signal_date"],
        )
        result = hubspot.fetch_leads(START, END + timedelta(days=1))
    # Midnight of 2026-11-06 in New York is 05:00 UTC.
    assert result.leads[0].signal_at == datetime(2026, 11, 6, 5, tzinfo=UTC)


@pytest.mark.timeout(30)
def test_fetch_modified_includes_archived(tmp_path):
    inside = contact(1, START - timedelta(days=30))
    inside["properties"]["lastmodifieddate"] = "2026-11-03T10:00:00.000Z"
    outside = contact(2, START - timedelta(days=30))
    outside["properties"]["lastmodifieddate"] = "2026-11-09T00:00:00.000Z"
    archived = contact(3, START - timedelta(days=30))
    archived.update(archived=True, archivedAt="2026-11-04T10:00:00.000Z")
    old_archive = contact(4, START - timedelta(days=30))
    old_archive.update(archived=True, archivedAt="2026-10-04T10:00:00.000Z")
    with start(tmp_path, [inside, outside, archived, old_archive]) as running:
        result = connector(running).fetch_modified(START, END)
    leads = {lead.lead_id: lead for lead in result.leads}
    assert sorted(leads) == ["1", "3"]
    assert leads["3"].extra["is_deleted"] is True
    assert "is_deleted" not in leads["1"].extra


@pytest.mark.timeout(30)
def test_search_is_paced(tmp_path):
    rows = [contact(index, START + timedelta(minutes=index)) for index in range(1, 31)]
    with start(tmp_path, rows, hubspot_search_page_max=10) as running:
        hubspot = connector(running, search_page_size=10, searches_per_second=20)
        began = time.monotonic()
        result = hubspot.fetch_leads(START, END)
        elapsed = time.monotonic() - began
    assert len(result.leads) == 30
    # Seven date properties need two searches (five filter groups each): 3 pages + 1 page.
    assert result.requests == 4
    assert elapsed >= 0.15  # three waits of 1/20 s between four searches


@pytest.mark.timeout(30)
def test_search_5xx_with_retry_after(tmp_path):
    rows = [contact(index, START) for index in range(1, 4)]
    with start(tmp_path, rows) as running:
        running.hubspot.faults.add(
            "POST",
            "/crm/v3/objects/contacts/search",
            Fault.http_status(503, retry_after=0),
            Fault.http_status(500),
        )
        result = connector(running).fetch_leads(START, END)
        assert running.hubspot.faults.pending() == 0
    assert len(result.leads) == 3


@pytest.mark.timeout(30)
def test_persistent_429_is_clear(tmp_path):
    with start(tmp_path, [contact(1, START)]) as running:
        running.hubspot.faults.add("POST", "/crm", *[Fault.rate_limited(retry_after=0)] * 3)
        with pytest.raises(ConnectorError) as caught:
            connector(running, max_retries=2).fetch_leads(START, END)
    assert caught.value.status == 429
    assert "rate limit" in str(caught.value)


def test_unknown_lifecycle_stage_target_is_named():
    with pytest.raises(ValueError, match="lifecycle_stages"):
        HubSpotConnector(
            config=CONFIG, access_token="x", lifecycle_stages={"customer": "closed_won"}
        )
