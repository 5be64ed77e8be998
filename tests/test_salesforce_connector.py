"""SalesforceConnector against the emulator: query building, paging, mapping, errors, faults."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cadence_pipeline.emulators import EMULATOR_TOKEN, Fault, start_emulators
from cadence_pipeline.governance.config import load_config
from cadence_pipeline.resources.mapping import ConnectorError
from cadence_pipeline.resources.salesforce import SalesforceConnector, soql_datetime, soql_quote

CONFIG = load_config()
START = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 9, tzinfo=UTC)


def lead_row(index: int, **overrides) -> dict:
    row = {
        "Id": f"00Q{index:015d}",
        "CreatedDate": f"2026-11-{2 + index % 7:02d}T09:15:00.000+0000",
        "SystemModstamp": "2026-11-09T00:00:00.000+0000",
        "IsDeleted": False,
        "LeadSource": "Paid Search" if index % 2 else "Webinar",
        "Motion__c": "b2c" if index % 5 == 0 else None,
        "Email": f"lead{index}@example.com",
        "Company": f"Company {index}",
        "NumberOfEmployees": 50 + index,
        "HasOptedOutOfEmail": False,
        "Marketing_Consent__c": True,
    }
    row.update(overrides)
    return row


def write_leads(fixtures: Path, rows: list[dict]) -> None:
    path = fixtures / "salesforce" / "Lead.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


@pytest.fixture
def fixtures(tmp_path):
    return tmp_path / "fixtures"


@pytest.fixture
def emulators(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(index) for index in range(20)])
    running = start_emulators(fixtures, tmp_path / "state")
    yield running
    running.stop()


def connector(emulators, **kwargs) -> SalesforceConnector:
    options = {"request_timeout": 2.0, "backoff_factor": 0.01}
    options.update(kwargs)
    return SalesforceConnector(
        config=CONFIG, instance_url=emulators.salesforce_url, session_id=EMULATOR_TOKEN, **options
    )


def test_soql_quote_escapes():
    assert soql_quote("O'Brien") == "'O\\'Brien'"
    assert soql_quote("back\\slash") == "'back\\\\slash'"
    assert soql_quote('say "hi"\n') == "'say \\\"hi\\\"\\n'"
    assert soql_quote("50%_off") == "'50%_off'"
    assert soql_quote("50%_off", like=True) == "'50\\%\\_off'"


def test_soql_datetime_is_utc():
    berlin = datetime(2026, 11, 2, 10, 0, tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert soql_datetime(berlin) == "2026-11-02T09:00:00Z"


def test_soql_datetime_rejects_naive():
    with pytest.raises(ValueError, match="no time zone"):
        soql_datetime(datetime(2026, 11, 2))


@pytest.mark.timeout(30)
def test_build_query_covers_stage_fields(emulators):
    query = connector(emulators).build_query(START, END)
    assert query.startswith("SELECT Id, CreatedDate, LeadSource")
    assert "FROM Lead WHERE (CreatedDate >= 2026-11-02T00:00:00Z AND CreatedDate < " in query
    assert "(Won_Date__c >= 2026-11-02T00:00:00Z AND Won_Date__c < 2026-11-09T00:00:00Z)" in query


@pytest.mark.timeout(30)
def test_fetch_maps_leads(emulators):
    result = connector(emulators).fetch_leads(START, END)
    assert len(result.leads) == 20
    assert result.rejected == []
    lead = next(lead for lead in result.leads if lead.lead_id == "00Q000000000000005")
    assert lead.crm == "salesforce"
    assert lead.motion == "b2c"
    assert lead.source == "paid_search"
    assert lead.created_at == datetime(2026, 11, 7, 9, 15, tzinfo=UTC)
    assert lead.employees == 55


@pytest.mark.timeout(30)
def test_fetch_pages_to_the_end(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(index) for index in range(2500)])
    with start_emulators(fixtures, tmp_path / "state") as running:
        result = connector(running).fetch_leads(START, END)
    assert len(result.leads) == 2500
    assert result.pages == 2
    assert len({lead.lead_id for lead in result.leads}) == 2500


@pytest.mark.timeout(30)
def test_fetch_small_pages(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(index) for index in range(45)])
    with start_emulators(fixtures, tmp_path / "state", salesforce_page_size=10) as running:
        result = connector(running).fetch_leads(START, END)
    assert len(result.leads) == 45
    assert result.pages == 5


@pytest.mark.timeout(30)
def test_fetch_window_includes_stage_changes(tmp_path, fixtures):
    rows = [
        lead_row(
            1,
            CreatedDate="2026-10-01T09:00:00.000+0000",
            MQL_Date__c="2026-11-03T12:00:00.000+0000",
        ),
        lead_row(2, CreatedDate="2026-10-01T09:00:00.000+0000"),
        lead_row(3, CreatedDate="2026-11-09T00:00:00.000+0000"),
        lead_row(4, CreatedDate="2026-11-08T23:59:59.000+0000"),
        lead_row(5, IsDeleted=True),
    ]
    write_leads(fixtures, rows)
    with start_emulators(fixtures, tmp_path / "state") as running:
        result = connector(running).fetch_leads(START, END)
    assert sorted(lead.lead_id[-1] for lead in result.leads) == ["1", "4"]


@pytest.mark.timeout(30)
def test_bad_records_are_returned_with_reason(tmp_path, fixtures):
    rows = [
        lead_row(1),
        lead_row(2, Motion__c="enterprise"),
        lead_row(3, NumberOfEmployees="many", Email="someone@example.com"),
        lead_row(4, MQL_Date__c="2026-11-03T12:00:00"),
    ]
    write_leads(fixtures, rows)
    with start_emulators(fixtures, tmp_path / "state") as running:
        result = connector(running).fetch_leads(START, END)
    assert [lead.lead_id for lead in result.leads] == ["00Q000000000000001"]
    reasons = {error.record_id: error for error in result.rejected}
    assert reasons["00Q000000000000002"].field_name == "Motion__c"
    assert reasons["00Q000000000000003"].field_name == "NumberOfEmployees"
    assert reasons["00Q000000000000004"].field_name == "MQL_Date__c"
    assert all("example.com" not in str(error) for error in result.rejected)


@pytest.mark.timeout(30)
def test_fetch_rejects_naive_window(emulators):
    with pytest.raises(ValueError, match="no time zone"):
        connector(emulators).fetch_leads(datetime(2026, 11, 2), END)


@pytest.mark.timeout(30)
def test_unknown_mapped_field_is_clear(emulators):
    fields = dict(CONFIG.connectors["salesforce"]["fields"], industry="Industry_Typo__c")
    with pytest.raises(ConnectorError) as caught:
        connector(emulators, fields=fields).fetch_leads(START, END)
    assert caught.value.error_code == "INVALID_FIELD"
    assert "connectors.salesforce.fields" in str(caught.value)


@pytest.mark.timeout(30)
def test_retries_5xx_and_429(emulators):
    emulators.salesforce.faults.add(
        "GET", "/services/data", Fault.http_status(503), Fault.rate_limited(retry_after=0)
    )
    result = connector(emulators).fetch_leads(START, END)
    assert len(result.leads) == 20
    assert emulators.salesforce.faults.pending() == 0


@pytest.mark.timeout(30)
def test_retries_dropped_connection_and_timeout(emulators):
    emulators.salesforce.faults.add("GET", "/services/data", Fault.drop(), Fault.delay(2))
    result = connector(emulators, request_timeout=0.3).fetch_leads(START, END)
    assert len(result.leads) == 20


@pytest.mark.timeout(30)
def test_persistent_timeout_is_clear(emulators):
    emulators.salesforce.faults.add("GET", "/services/data", *[Fault.delay(2)] * 3)
    with pytest.raises(ConnectorError, match="did not answer"):
        connector(emulators, request_timeout=0.2, max_retries=2).fetch_leads(START, END)


@pytest.mark.timeout(30)
def test_expired_session_is_clear(emulators):
    emulators.salesforce.faults.add("GET", "/services/data", Fault.expired_session())
    with pytest.raises(ConnectorError) as caught:
        connector(emulators).fetch_leads(START, END)
    assert caught.value.error_code == "INVALID_SESSION_ID"
    assert caught.value.status == 401
    assert "new session id" in str(caught.value)


@pytest.mark.timeout(30)
def test_invalid_locator_restarts_once(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(index) for index in range(25)])
    with start_emulators(fixtures, tmp_path / "state", salesforce_page_size=10) as running:
        running.salesforce.faults.add(
            "GET", "/services/data/v59.0/query/01g", Fault.invalid_locator()
        )
        result = connector(running).fetch_leads(START, END)
    assert len(result.leads) == 25


@pytest.mark.timeout(30)
def test_invalid_locator_twice_fails(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(index) for index in range(25)])
    with start_emulators(fixtures, tmp_path / "state", salesforce_page_size=10) as running:
        running.salesforce.faults.add(
            "GET",
            "/services/data/v59.0/query/01g",
            Fault.invalid_locator(),
            Fault.invalid_locator(),
        )
        with pytest.raises(ConnectorError) as caught:
            connector(running).fetch_leads(START, END)
    assert caught.value.error_code == "INVALID_QUERY_LOCATOR"


@pytest.mark.timeout(30)
def test_api_limit_is_clear(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(1)])
    running = start_emulators(fixtures, tmp_path / "state", salesforce_daily_api_limit=0)
    with running, pytest.raises(ConnectorError) as caught:
        connector(running).fetch_leads(START, END)
    assert caught.value.error_code == "REQUEST_LIMIT_EXCEEDED"


def test_constructor_needs_credentials():
    with pytest.raises(ValueError, match="session_id"):
        SalesforceConnector(config=CONFIG)
