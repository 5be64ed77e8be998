"""SalesforceConnector against the emulator: REST and Bulk paging, login, history, faults."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from cadence_pipeline.emulators import EMULATOR_TOKEN, Fault, start_emulators
from cadence_pipeline.emulators.salesforce import EMULATOR_USERNAME
from cadence_pipeline.governance.config import load_config
from cadence_pipeline.resources.mapping import ConnectorError
from cadence_pipeline.resources.salesforce import SalesforceConnector, soql_datetime, soql_quote
from cadence_pipeline.resources.salesforce_bulk import BulkQuery

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
    with pytest.raises(ConnectorError, match="did not respond"):
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


# Bulk API 2.0.


def write_object(fixtures: Path, name: str, rows: list[dict]) -> None:
    path = fixtures / "salesforce" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def bulk_connector(running, **kwargs) -> SalesforceConnector:
    options = {"bulk_threshold": 1000, "bulk_page_size": 700, "bulk_poll_seconds": 0.01}
    options.update(kwargs)
    return connector(running, **options)


def paths(running, fragment: str) -> list[str]:
    return [path for _, path in running.salesforce.request_log if fragment in path]


@pytest.mark.timeout(30)
def test_bulk_reads_every_page(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(index) for index in range(2500)])
    with start_emulators(fixtures, tmp_path / "state") as running:
        result = bulk_connector(running).fetch_leads(START, END)
        results_pages = paths(running, "/results")
    assert len(result.leads) == 2500
    assert len({lead.lead_id for lead in result.leads}) == 2500
    assert len(results_pages) == 4  # ceil(2500 / 700)
    # One REST probe page, job creation, one status poll and four result pages.
    assert result.requests == 7
    lead = next(lead for lead in result.leads if lead.lead_id == "00Q000000000000005")
    assert lead.created_at == datetime(2026, 11, 7, 9, 15, tzinfo=UTC)
    assert lead.employees == 55
    assert lead.consent is True


@pytest.mark.timeout(30)
def test_bulk_threshold_zero_skips_probe(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(index) for index in range(30)])
    with start_emulators(fixtures, tmp_path / "state") as running:
        result = bulk_connector(running, bulk_threshold=0, bulk_page_size=10).fetch_leads(
            START, END
        )
        assert paths(running, "/v59.0/query") == []
    assert len(result.leads) == 30
    assert result.requests == 5  # create, poll, three pages


@pytest.mark.timeout(30)
def test_bulk_retries_faults(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(index) for index in range(1500)])
    with start_emulators(fixtures, tmp_path / "state") as running:
        running.salesforce.faults.add(
            "GET", "/services/data/v59.0/jobs/query/", Fault.drop(), Fault.http_status(503)
        )
        running.salesforce.faults.add(
            "POST", "/services/data/v59.0/jobs/query", Fault.http_status(500)
        )
        result = bulk_connector(running).fetch_leads(START, END)
        assert running.salesforce.faults.pending() == 0
    assert len({lead.lead_id for lead in result.leads}) == 1500


@pytest.mark.timeout(30)
def test_bulk_slow_job_is_polled(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(index) for index in range(1200)])
    with start_emulators(fixtures, tmp_path / "state", salesforce_bulk_job_seconds=0.2) as running:
        result = bulk_connector(running, bulk_poll_seconds=0.05).fetch_leads(START, END)
        polls = [path for path in paths(running, "/jobs/query/") if "/results" not in path]
    assert len(result.leads) == 1200
    assert len(polls) >= 2


@pytest.mark.timeout(30)
def test_bulk_lost_job_restarts_once(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(index) for index in range(1200)])
    with start_emulators(fixtures, tmp_path / "state") as running:
        running.salesforce.faults.add(
            "GET", "/services/data/v59.0/jobs/query/750", Fault.invalid_locator()
        )
        result = bulk_connector(running).fetch_leads(START, END)
    assert len({lead.lead_id for lead in result.leads}) == 1200


def fake_response(status: int, body: bytes, headers: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers)
    response.url = "https://127.0.0.1/services/data/v59.0/jobs/query"
    return response


def scripted_bulk(responses: list[requests.Response]) -> BulkQuery:
    queue = list(responses)
    return BulkQuery(
        send=lambda method, url, **kwargs: queue.pop(0),
        jobs_url="https://127.0.0.1/services/data/v59.0/jobs/",
        page_size=10,
        poll_seconds=0,
        job_timeout=5,
    )


def test_bulk_page_count_mismatch_fails():
    bulk = scripted_bulk(
        [
            fake_response(200, b'{"id": "750X"}', {}),
            fake_response(200, b'{"state": "JobComplete", "numberRecordsProcessed": 2}', {}),
            fake_response(
                200,
                b'"Id"\n"a"\n',
                {"Sforce-NumberOfRecords": "2", "Sforce-Locator": "null"},
            ),
        ]
    )
    with pytest.raises(ConnectorError) as caught:
        bulk.run("SELECT Id FROM Lead")
    assert caught.value.error_code == "INCOMPLETE_PULL"


def test_bulk_total_mismatch_fails():
    bulk = scripted_bulk(
        [
            fake_response(200, b'{"id": "750X"}', {}),
            fake_response(200, b'{"state": "JobComplete", "numberRecordsProcessed": 3}', {}),
            fake_response(
                200, b'"Id"\n"a"\n', {"Sforce-NumberOfRecords": "1", "Sforce-Locator": "null"}
            ),
        ]
    )
    with pytest.raises(ConnectorError, match="processed 3 records"):
        bulk.run("SELECT Id FROM Lead")


def test_bulk_failed_job_is_clear():
    bulk = scripted_bulk(
        [
            fake_response(200, b'{"id": "750X"}', {}),
            fake_response(200, b'{"state": "Failed", "errorMessage": "bad query"}', {}),
        ]
    )
    with pytest.raises(ConnectorError, match="state Failed: bad query"):
        bulk.run("SELECT Id FROM Lead")


# Authentication and limits.


def login_connector(running, **kwargs) -> SalesforceConnector:
    options = {
        "request_timeout": 2.0,
        "backoff_factor": 0.01,
        "username": EMULATOR_USERNAME,
        "password": "cadence-emulator-",
        "security_token": "password",  # Salesforce appends the token to the password
        "login_url": running.salesforce.url,
    }
    options.update(kwargs)
    return SalesforceConnector(config=CONFIG, **options)


@pytest.mark.timeout(30)
def test_login_with_password(emulators):
    result = login_connector(emulators).fetch_leads(START, END)
    assert len(result.leads) == 20
    assert emulators.salesforce.logins == 1


@pytest.mark.timeout(30)
def test_expired_session_logs_in_again(emulators):
    emulators.salesforce.faults.add("GET", "/services/data", Fault.expired_session())
    sf = login_connector(emulators)
    result = sf.fetch_leads(START, END)
    assert len(result.leads) == 20
    assert sf.logins == 2


@pytest.mark.timeout(30)
def test_expired_session_id_renewed_by_login(emulators):
    sf = SalesforceConnector(
        config=CONFIG,
        instance_url=emulators.salesforce_url,
        session_id=EMULATOR_TOKEN,
        username=EMULATOR_USERNAME,
        password="cadence-emulator-password",
        security_token="",
        login_url=emulators.salesforce.url,
        request_timeout=2.0,
    )
    emulators.salesforce.expire_sessions()
    assert len(sf.fetch_leads(START, END).leads) == 20
    assert sf.logins == 1


@pytest.mark.timeout(30)
def test_expired_session_twice_fails(emulators):
    emulators.salesforce.faults.add(
        "GET", "/services/data", Fault.expired_session(), Fault.expired_session()
    )
    with pytest.raises(ConnectorError) as caught:
        login_connector(emulators).fetch_leads(START, END)
    assert caught.value.error_code == "INVALID_SESSION_ID"


@pytest.mark.timeout(30)
def test_wrong_password_is_clear(emulators):
    with pytest.raises(ConnectorError) as caught:
        login_connector(emulators, security_token="wrong").fetch_leads(START, END)
    assert caught.value.error_code == "INVALID_LOGIN"
    assert "SALESFORCE_PASSWORD" in str(caught.value)


@pytest.mark.timeout(30)
def test_request_limit_is_not_retried(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(1)])
    with start_emulators(fixtures, tmp_path / "state", salesforce_daily_api_limit=0) as running:
        with pytest.raises(ConnectorError) as caught:
            connector(running, max_retries=3).fetch_leads(START, END)
        assert len(running.salesforce.request_log) == 1
    assert caught.value.status == 403
    assert "without retrying" in str(caught.value)


@pytest.mark.timeout(30)
def test_api_usage_warning(tmp_path, fixtures, caplog):
    write_leads(fixtures, [lead_row(index) for index in range(30)])
    with start_emulators(
        fixtures, tmp_path / "state", salesforce_daily_api_limit=20, salesforce_page_size=10
    ) as running:
        result = connector(running, api_usage_warning_share=0.1).fetch_leads(START, END)
    assert len(result.warnings) == 1
    assert "3/20" in result.warnings[0]
    assert "above the warning share 10%" in caplog.text


@pytest.mark.timeout(30)
def test_api_usage_below_share_is_quiet(emulators):
    assert connector(emulators).fetch_leads(START, END).warnings == []


# Stage history, campaign signals, deleted and merged records.

STATUSES = {
    "Open": None,
    "Marketing Qualified": "mql",
    "Sales Accepted": "sal",
    "Sales Qualified": "sql",
    "Rejected": "mql_rejected",
}


def history(lead: int, status: str, at: str, index: int = 0) -> dict:
    return {
        "Id": f"017{lead:06d}{index:06d}",
        "LeadId": f"00Q{lead:015d}",
        "Field": "Status",
        "OldValue": None,
        "NewValue": status,
        "CreatedDate": at,
    }


@pytest.mark.timeout(30)
def test_stage_history_maps_statuses(tmp_path, fixtures):
    old = "2026-10-01T09:00:00.000+0000"
    write_leads(
        fixtures,
        [
            lead_row(1, CreatedDate=old),
            lead_row(2, CreatedDate=old),
            lead_row(3),
            lead_row(4, CreatedDate=old),
        ],
    )
    write_object(
        fixtures,
        "LeadHistory",
        [
            # Lead 1: MQL before the window, SAL in it, then SQL.
            history(1, "Marketing Qualified", "2026-10-20T10:00:00.000+0000", 1),
            history(1, "Sales Accepted", "2026-11-03T10:00:00.000+0000", 2),
            history(1, "Sales Qualified", "2026-11-04T10:00:00.000+0000", 3),
            # Lead 2: MQL, back to Open (a regression), MQL again in the window.
            history(2, "Marketing Qualified", "2026-10-10T10:00:00.000+0000", 1),
            history(2, "Open", "2026-10-12T10:00:00.000+0000", 2),
            history(2, "Marketing Qualified", "2026-11-05T10:00:00.000+0000", 3),
            # Lead 3: created in the window, its date field wins over history.
            history(3, "Marketing Qualified", "2026-11-06T10:00:00.000+0000", 1),
            # Lead 4: a change after the window is not read.
            history(4, "Marketing Qualified", "2026-11-20T10:00:00.000+0000", 1),
        ],
    )
    stage_history = {"enabled": True, "statuses": STATUSES}
    with start_emulators(fixtures, tmp_path / "state") as running:
        result = connector(running, stage_history=stage_history).fetch_leads(START, END)
    leads = {lead.lead_id[-1]: lead for lead in result.leads}
    assert sorted(leads) == ["1", "2", "3"]
    assert leads["1"].mql_at == datetime(2026, 10, 20, 10, tzinfo=UTC)
    assert leads["1"].sal_at == datetime(2026, 11, 3, 10, tzinfo=UTC)
    assert leads["1"].extra["sql_at"] == "2026-11-04T10:00:00+00:00"
    assert leads["2"].mql_at == datetime(2026, 10, 10, 10, tzinfo=UTC)
    assert leads["2"].extra["stage_regressions"] == [
        {"from": "mql", "to": None, "at": "2026-10-12T10:00:00+00:00"}
    ]
    assert leads["3"].mql_at == datetime(2026, 11, 6, 10, tzinfo=UTC)


@pytest.mark.timeout(30)
def test_stage_history_date_field_wins(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(1, MQL_Date__c="2026-11-04T08:00:00.000+0000")])
    write_object(
        fixtures, "LeadHistory", [history(1, "Marketing Qualified", "2026-11-05T10:00:00.000+0000")]
    )
    stage_history = {"enabled": True, "statuses": STATUSES}
    with start_emulators(fixtures, tmp_path / "state") as running:
        result = connector(running, stage_history=stage_history).fetch_leads(START, END)
    assert result.leads[0].mql_at == datetime(2026, 11, 4, 8, tzinfo=UTC)


def test_stage_history_needs_statuses():
    with pytest.raises(ValueError, match="statuses maps no status"):
        SalesforceConnector(
            config=CONFIG,
            instance_url="https://127.0.0.1:1",
            session_id="x",
            stage_history={"enabled": True},
        )


@pytest.mark.timeout(30)
def test_campaign_members_are_signals(tmp_path, fixtures):
    old = "2026-10-01T09:00:00.000+0000"
    write_leads(fixtures, [lead_row(1), lead_row(2, CreatedDate=old), lead_row(3, CreatedDate=old)])
    write_object(
        fixtures,
        "CampaignMember",
        [
            {
                "Id": "00v1",
                "LeadId": "00Q000000000000001",
                "CampaignId": "701A",
                "CreatedDate": "2026-11-03T10:00:00.000+0000",
            },
            {
                "Id": "00v2",
                "LeadId": "00Q000000000000001",
                "CampaignId": "701B",
                "CreatedDate": "2026-11-05T10:00:00.000+0000",
            },
            {
                "Id": "00v3",
                "LeadId": "00Q000000000000002",
                "CampaignId": "701B",
                "CreatedDate": "2026-11-04T10:00:00.000+0000",
            },
            {
                "Id": "00v4",
                "LeadId": "00Q000000000000003",
                "CampaignId": "701A",
                "CreatedDate": "2026-10-04T10:00:00.000+0000",
            },
            {
                "Id": "00v5",
                "LeadId": None,
                "ContactId": "003X",
                "CampaignId": "701A",
                "CreatedDate": "2026-11-04T10:00:00.000+0000",
            },
        ],
    )
    write_object(
        fixtures,
        "Campaign",
        [{"Id": "701A", "Type": "Webinar"}, {"Id": "701B", "Type": "Content Syndication"}],
    )
    with start_emulators(fixtures, tmp_path / "state") as running:
        result = connector(running, campaign_signals={"enabled": True}).fetch_leads(START, END)
    leads = {lead.lead_id[-1]: lead for lead in result.leads}
    assert sorted(leads) == ["1", "2"]
    assert leads["1"].signals == [
        ("Webinar", datetime(2026, 11, 3, 10, tzinfo=UTC)),
        ("Content Syndication", datetime(2026, 11, 5, 10, tzinfo=UTC)),
    ]
    assert leads["1"].signal_class == "Webinar"
    assert leads["2"].signal_at == datetime(2026, 11, 4, 10, tzinfo=UTC)


@pytest.mark.timeout(30)
def test_account_activity(tmp_path, fixtures):
    write_leads(fixtures, [lead_row(1, Account_Key__c="001A"), lead_row(2)])
    write_object(fixtures, "Account", [{"Id": "001A", "LastActivityDate": "2026-09-30"}])
    with start_emulators(fixtures, tmp_path / "state") as running:
        result = connector(running, account_activity={"enabled": True}).fetch_leads(START, END)
    leads = {lead.lead_id[-1]: lead for lead in result.leads}
    assert leads["1"].extra["account_last_activity_at"] == "2026-09-30T00:00:00+00:00"
    assert "account_last_activity_at" not in leads["2"].extra


@pytest.mark.timeout(30)
def test_fetch_modified_includes_deleted_and_merged(tmp_path, fixtures):
    rows = [
        lead_row(1, SystemModstamp="2026-11-03T00:00:00.000+0000"),
        lead_row(
            2,
            SystemModstamp="2026-11-04T00:00:00.000+0000",
            IsDeleted=True,
            MasterRecordId="00Q000000000000001",
        ),
        lead_row(3, SystemModstamp="2026-11-05T00:00:00.000+0000", IsDeleted=True),
        lead_row(4, SystemModstamp="2026-11-09T00:00:00.000+0000"),
        lead_row(
            5,
            SystemModstamp="2026-11-02T00:00:00.000+0000",
            CreatedDate="2026-01-05T00:00:00.000+0000",
        ),
    ]
    write_leads(fixtures, rows)
    with start_emulators(fixtures, tmp_path / "state") as running:
        result = connector(running).fetch_modified(START, END)
        query = connector(running).build_modified_query(START, END)
    leads = {lead.lead_id[-1]: lead for lead in result.leads}
    assert sorted(leads) == ["1", "2", "3", "5"]
    assert leads["2"].extra == {"is_deleted": True, "merged_into": "00Q000000000000001"}
    assert leads["3"].extra == {"is_deleted": True}
    assert "is_deleted" not in leads["1"].extra
    assert result.merged_ids == {"00Q000000000000002": "00Q000000000000001"}
    assert (
        "SystemModstamp >= 2026-11-02T00:00:00Z AND SystemModstamp < 2026-11-09T00:00:00Z" in query
    )


@pytest.mark.timeout(30)
def test_fetch_modified_through_bulk(tmp_path, fixtures):
    rows = [lead_row(index, IsDeleted=index % 100 == 0) for index in range(1100)]
    write_leads(fixtures, rows)
    with start_emulators(fixtures, tmp_path / "state") as running:
        result = bulk_connector(running).fetch_modified(
            datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 10, tzinfo=UTC)
        )
        assert len(paths(running, "/results")) == 2
    assert len(result.leads) == 1100
    assert sum(1 for lead in result.leads if lead.extra.get("is_deleted")) == 11


@pytest.mark.timeout(30)
def test_date_fields_use_date_literals(tmp_path, fixtures):
    fields = dict(CONFIG.connectors["salesforce"]["fields"], mql_at="MQL_Day__c")
    rows = [
        lead_row(1, CreatedDate="2026-10-01T09:00:00.000+0000", MQL_Day__c="2026-11-08"),
        lead_row(2, CreatedDate="2026-10-01T09:00:00.000+0000", MQL_Day__c="2026-11-09"),
    ]
    write_leads(fixtures, rows)
    with start_emulators(fixtures, tmp_path / "state") as running:
        sf = connector(running, fields=fields, date_fields=["MQL_Day__c"])
        query = sf.build_query(START, END)
        result = sf.fetch_leads(START, END)
    assert "(MQL_Day__c >= 2026-11-02 AND MQL_Day__c < 2026-11-09)" in query
    assert [lead.lead_id[-1] for lead in result.leads] == ["1"]
    assert result.leads[0].mql_at == datetime(2026, 11, 8, tzinfo=UTC)


def test_unknown_mapping_key_is_named():
    with pytest.raises(ValueError, match="bulk_treshold"):
        SalesforceConnector(
            config=CONFIG, instance_url="https://127.0.0.1:1", session_id="x", bulk_treshold=5
        )
