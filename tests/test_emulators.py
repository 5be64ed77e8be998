"""The loopback emulators: query shapes, paging, errors, faults, Slack posts, the singleton."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from cadence_pipeline.emulators import (
    EMULATOR_TOKEN,
    Fault,
    ensure_emulators,
    start_emulators,
    stop_process_emulators,
)

AUTH = {"Authorization": f"Bearer {EMULATOR_TOKEN}"}
QUERY_PATH = "/services/data/v59.0/query/"


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


def lead_rows(count: int) -> list[dict]:
    return [
        {
            "Id": f"00Q{index:015d}",
            "CreatedDate": f"2026-11-{1 + index % 7:02d}T09:15:00.000+0000",
            "LeadSource": "Web" if index % 2 else "Partner 50%_off",
            "Company": "O'Brien \\ Sons" if index == 5 else f"Company {index}",
            "NumberOfEmployees": index,
            "HasOptedOutOfEmail": index % 3 == 0,
            "IsDeleted": index == 4,
        }
        for index in range(count)
    ]


@pytest.fixture
def emulators(tmp_path):
    fixtures = tmp_path / "fixtures"
    write_jsonl(fixtures / "salesforce" / "Lead.jsonl", lead_rows(30))
    contacts = [
        {
            "id": str(index + 1),
            "properties": {
                "email": f"person{index}@example.com",
                "createdate": f"2026-11-{1 + index % 7:02d}T09:15:00.000Z",
                "lead_source": "Paid Search",
            },
            "createdAt": f"2026-11-{1 + index % 7:02d}T09:15:00.000Z",
            "updatedAt": "2026-11-08T00:00:00.000Z",
            "archived": False,
        }
        for index in range(30)
    ]
    write_jsonl(fixtures / "hubspot" / "contacts.jsonl", contacts)
    running = start_emulators(
        fixtures,
        tmp_path / "state",
        salesforce_page_size=10,
        hubspot_search_result_cap=20,
        hubspot_search_rate_per_second=None,
    )
    yield running
    running.stop()


def soql(emulators, query: str, *, path: str = QUERY_PATH, headers=None) -> requests.Response:
    return requests.get(
        emulators.salesforce_url + path, params={"q": query}, headers=headers or AUTH, timeout=5
    )


# Salesforce.


@pytest.mark.timeout(30)
def test_salesforce_pages_with_locator(emulators):
    first = soql(emulators, "SELECT Id FROM Lead")
    body = first.json()
    assert first.status_code == 200
    assert body["totalSize"] == 29  # one row is deleted
    assert body["done"] is False
    assert len(body["records"]) == 10
    assert body["records"][0]["attributes"]["type"] == "Lead"
    assert first.headers["Sforce-Limit-Info"].startswith("api-usage=1/")
    ids = [record["Id"] for record in body["records"]]
    while not body["done"]:
        page = requests.get(
            emulators.salesforce_url + body["nextRecordsUrl"], headers=AUTH, timeout=5
        )
        body = page.json()
        ids += [record["Id"] for record in body["records"]]
    assert len(ids) == 29
    assert len(set(ids)) == 29


@pytest.mark.timeout(30)
def test_salesforce_query_all_includes_deleted(emulators):
    body = soql(
        emulators,
        "SELECT Id FROM Lead WHERE IsDeleted = true",
        path="/services/data/v59.0/queryAll/",
    ).json()
    assert body["totalSize"] == 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CreatedDate >= 2026-11-07T00:00:00Z", 4),
        ("CreatedDate >= 2026-11-07T10:00:00+01:00", 4),
        ("CreatedDate < 2026-11-02T00:00:00Z AND NumberOfEmployees > 10", 3),
        ("(LeadSource = 'web' OR NumberOfEmployees = 0) AND NumberOfEmployees < 6", 4),
        ("LeadSource LIKE 'Partner 50\\%\\_off'", 14),
        ("LeadSource LIKE 'Partner 50%'", 14),
        ("LeadSource LIKE 'Partner 5_\\%\\_off'", 14),
        ("Company = 'O\\'Brien \\\\ Sons'", 1),
        ("NumberOfEmployees IN (1, 2, 3)", 3),
        ("NumberOfEmployees NOT IN (1, 2, 3)", 26),
        ("Title = null", 29),
        ("NOT HasOptedOutOfEmail = true", 19),
    ],
)
def test_salesforce_where_clauses(emulators, where, expected):
    response = soql(emulators, f"SELECT Id FROM Lead WHERE {where}")
    assert response.status_code == 200, response.text
    assert response.json()["totalSize"] == expected


@pytest.mark.timeout(30)
def test_salesforce_order_and_limit(emulators):
    body = soql(
        emulators, "SELECT Id, NumberOfEmployees FROM Lead ORDER BY NumberOfEmployees DESC LIMIT 3"
    ).json()
    assert [record["NumberOfEmployees"] for record in body["records"]] == [29, 28, 27]
    assert body["done"] is True


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("SELECT Id FROM Lead WHERE CreatedDate > '2026-11-01'", "INVALID_FIELD"),
        ("SELECT Id FROM Lead WHERE CreatedDate > 2026-11-01", "INVALID_FIELD"),
        ("SELECT Id FROM Lead WHERE CreatedDate > 2026-11-01T00:00:00", "MALFORMED_QUERY"),
        ("SELECT Nope__c FROM Lead", "INVALID_FIELD"),
        ("SELECT Id FROM Leed", "INVALID_TYPE"),
        ("SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS:7", "MALFORMED_QUERY"),
        ("SELECT COUNT() FROM Lead", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead GROUP BY Id", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE Id = 'a' AND Id = 'b' OR Id = 'c'", "MALFORMED_QUERY"),
        ("SELECT Id, Id FROM Lead", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE Company = 'bad \\q escape'", "MALFORMED_QUERY"),
    ],
)
def test_salesforce_rejects_unsupported(emulators, query, code):
    response = soql(emulators, query)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code


@pytest.mark.timeout(30)
def test_salesforce_requires_bearer(emulators):
    response = soql(emulators, "SELECT Id FROM Lead", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


@pytest.mark.timeout(30)
def test_salesforce_invalid_locator(emulators):
    response = requests.get(
        emulators.salesforce_url + QUERY_PATH + "01gEM0000000009999-10", headers=AUTH, timeout=5
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


@pytest.mark.timeout(30)
def test_fixture_changes_are_served(emulators, tmp_path):
    write_jsonl(tmp_path / "fixtures" / "salesforce" / "Lead.jsonl", lead_rows(3))
    assert soql(emulators, "SELECT Id FROM Lead").json()["totalSize"] == 3


@pytest.mark.timeout(30)
def test_other_objects_are_served(emulators, tmp_path):
    members = [
        {
            "Id": "00v1",
            "LeadId": "00Q000000000000001",
            "CreatedDate": "2026-11-02T09:15:00.000+0000",
        }
    ]
    write_jsonl(tmp_path / "fixtures" / "salesforce" / "CampaignMember.jsonl", members)
    body = soql(emulators, "SELECT Id, LeadId FROM CampaignMember").json()
    assert body["records"][0]["LeadId"] == "00Q000000000000001"


# Faults.


@pytest.mark.timeout(30)
def test_fault_status_with_retry_after(emulators):
    emulators.salesforce.faults.add("GET", "/services/data", Fault.http_status(503, retry_after=2))
    response = soql(emulators, "SELECT Id FROM Lead")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert soql(emulators, "SELECT Id FROM Lead").status_code == 200


@pytest.mark.timeout(30)
def test_fault_delay_times_out_client(emulators):
    emulators.salesforce.faults.add("GET", "/", Fault.delay(3))
    with pytest.raises(requests.Timeout):
        requests.get(
            emulators.salesforce_url + QUERY_PATH,
            params={"q": "SELECT Id FROM Lead"},
            headers=AUTH,
            timeout=0.3,
        )


@pytest.mark.timeout(30)
def test_fault_drop_connection(emulators):
    emulators.salesforce.faults.add("*", "/", Fault.drop())
    with pytest.raises(requests.ConnectionError):
        soql(emulators, "SELECT Id FROM Lead")


@pytest.mark.timeout(30)
def test_fault_expired_session(emulators):
    emulators.hubspot.faults.add("GET", "/crm", Fault.expired_session())
    response = requests.get(
        emulators.hubspot_url + "/crm/v3/objects/contacts", headers=AUTH, timeout=5
    )
    assert response.status_code == 401
    assert response.json()["category"] == "EXPIRED_AUTHENTICATION"


def test_fault_kind_is_checked():
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault(kind="meteor")


def test_unknown_limit_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="salesforce_pagesize"):
        start_emulators(tmp_path, tmp_path, salesforce_pagesize=5)


# HubSpot.


def search(emulators, body: dict) -> requests.Response:
    return requests.post(
        emulators.hubspot_url + "/crm/v3/objects/contacts/search",
        json=body,
        headers=AUTH,
        timeout=5,
    )


@pytest.mark.timeout(30)
def test_hubspot_list_pages_on_after(emulators):
    seen = []
    after = None
    while True:
        params = {"limit": 7, "properties": "email,lead_source"}
        if after:
            params["after"] = after
        body = requests.get(
            emulators.hubspot_url + "/crm/v3/objects/contacts",
            params=params,
            headers=AUTH,
            timeout=5,
        ).json()
        seen += [result["id"] for result in body["results"]]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert len(seen) == 30
    assert len(set(seen)) == 30


@pytest.mark.timeout(30)
def test_hubspot_list_limit_above_100(emulators):
    response = requests.get(
        emulators.hubspot_url + "/crm/v3/objects/contacts",
        params={"limit": 101},
        headers=AUTH,
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


@pytest.mark.timeout(30)
def test_hubspot_search_filters_and_sorts(emulators):
    body = search(
        emulators,
        {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "createdate", "operator": "GTE", "value": "1793923200000"},
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
            "properties": ["email"],
            "limit": 100,
        },
    ).json()
    # 2026-11-06T00:00Z onwards: days 6 and 7 of the cycle.
    assert body["total"] == 8
    ids = [int(result["id"]) for result in body["results"]]
    assert ids == sorted(ids, reverse=True)
    assert set(body["results"][0]["properties"]) >= {"email", "hs_object_id", "createdate"}


@pytest.mark.timeout(30)
def test_hubspot_search_cap(emulators):
    first = search(emulators, {"limit": 15, "after": "0"}).json()
    assert first["total"] == 30
    assert first["paging"]["next"]["after"] == "15"
    second = search(emulators, {"limit": 15, "after": "15"}).json()
    assert len(second["results"]) == 5  # stops at the cap of 20
    assert second["paging"]["next"]["after"] == "20"
    beyond = search(emulators, {"limit": 15, "after": "20"})
    assert beyond.status_code == 400
    assert beyond.json()["category"] == "VALIDATION_ERROR"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "body",
    [
        {"limit": 201},
        {"filterGroups": [{"filters": []}] * 6},
        {"sorts": [{"propertyName": "a"}, {"propertyName": "b"}]},
        {"filterGroups": [{"filters": [{"propertyName": "a", "operator": "LIKE", "value": 1}]}]},
    ],
)
def test_hubspot_search_rejects_bad_requests(emulators, body):
    response = search(emulators, body)
    assert response.status_code == 400
    assert response.json()["status"] == "error"


@pytest.mark.timeout(30)
def test_hubspot_search_rate_limit(tmp_path):
    with start_emulators(tmp_path, tmp_path, hubspot_search_rate_per_second=2) as running:
        statuses = [search(running, {}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = search(running, {})
        assert limited.headers["Retry-After"] == "1"
        assert limited.json()["errorType"] == "RATE_LIMIT"
        assert limited.json()["policyName"] == "SECONDLY"


@pytest.mark.timeout(30)
def test_hubspot_requires_token(emulators):
    response = requests.get(emulators.hubspot_url + "/crm/v3/objects/contacts", timeout=5)
    assert response.status_code == 401
    assert response.json()["category"] == "INVALID_AUTHENTICATION"


# Slack.


@pytest.mark.timeout(30)
def test_slack_post_is_recorded(emulators):
    client = WebClient(token=EMULATOR_TOKEN, base_url=emulators.slack_url, timeout=5)
    assert client.auth_test()["ok"] is True
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Weekly review*"}}]
    response = client.chat_postMessage(channel="#demand-governance", text="Weekly", blocks=blocks)
    assert response["ok"] is True
    assert response["channel"] == "#demand-governance"
    stored = emulators.slack.messages()
    assert stored == [
        {"channel": "#demand-governance", "ts": response["ts"], "text": "Weekly", "blocks": blocks}
    ]
    assert emulators.slack_messages_path.is_file()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("token", "kwargs", "error"),
    [
        (EMULATOR_TOKEN, {"channel": "", "text": "x"}, "channel_not_found"),
        (
            EMULATOR_TOKEN,
            {"channel": "#c", "text": "x", "blocks": [{"type": "divider"}] * 51},
            "invalid_blocks",
        ),
        (
            EMULATOR_TOKEN,
            {
                "channel": "#c",
                "text": "x",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}],
            },
            "invalid_blocks",
        ),
        ("xoxb-wrong", {"channel": "#c", "text": "x"}, "invalid_auth"),
        (None, {"channel": "#c", "text": "x"}, "not_authed"),
    ],
)
def test_slack_errors(emulators, token, kwargs, error):
    client = WebClient(token=token, base_url=emulators.slack_url, timeout=5)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(**kwargs)
    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == error
    assert emulators.slack.messages() == []


@pytest.mark.timeout(30)
def test_slack_rate_limit_is_retried(emulators):
    emulators.slack.faults.add("POST", "/api/chat.postMessage", Fault.rate_limited(retry_after=0))
    client = WebClient(
        token=EMULATOR_TOKEN,
        base_url=emulators.slack_url,
        timeout=5,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    assert client.chat_postMessage(channel="#c", text="after retry")["ok"] is True
    assert len(emulators.slack.messages()) == 1


# The per-process singleton.


@pytest.mark.timeout(30)
def test_ensure_emulators_is_a_singleton(tmp_path):
    write_jsonl(tmp_path / "fixtures" / "salesforce" / "Lead.jsonl", lead_rows(2))
    try:
        first = ensure_emulators(tmp_path)
        second = ensure_emulators(tmp_path)
        assert first is second
        assert soql(first, "SELECT Id FROM Lead").json()["totalSize"] == 2
        client = WebClient(token=EMULATOR_TOKEN, base_url=first.slack_url, timeout=5)
        client.chat_postMessage(channel="#c", text="demo")
        assert (
            first.slack_messages_path == tmp_path.resolve() / "emulators" / "slack_messages.jsonl"
        )
    finally:
        stop_process_emulators()


# Salesforce Bulk API 2.0 and login.

JOBS_PATH = "/services/data/v59.0/jobs/query"


@pytest.mark.timeout(30)
def test_salesforce_bulk_job_pages(emulators):
    created = requests.post(
        emulators.salesforce_url + JOBS_PATH,
        json={"operation": "query", "query": "SELECT Id, IsDeleted, CreatedDate FROM Lead"},
        headers=AUTH,
        timeout=5,
    )
    assert created.status_code == 200
    job_id = created.json()["id"]
    info = requests.get(f"{emulators.salesforce_url}{JOBS_PATH}/{job_id}", headers=AUTH, timeout=5)
    assert info.json()["state"] == "JobComplete"
    assert info.json()["numberRecordsProcessed"] == 29
    pages, locator = [], None
    while locator != "null":
        params = {"maxRecords": 12, **({"locator": locator} if locator else {})}
        page = requests.get(
            f"{emulators.salesforce_url}{JOBS_PATH}/{job_id}/results",
            params=params,
            headers=AUTH,
            timeout=5,
        )
        locator = page.headers["Sforce-Locator"]
        pages.append(page)
    assert [int(page.headers["Sforce-NumberOfRecords"]) for page in pages] == [12, 12, 5]
    first = pages[0].text.splitlines()
    assert first[0] == '"Id","IsDeleted","CreatedDate"'
    assert first[1] == '"00Q000000000000000","false","2026-11-01T09:15:00.000Z"'


@pytest.mark.timeout(30)
def test_salesforce_bulk_query_all_and_errors(emulators):
    body = {"operation": "queryAll", "query": "SELECT Id FROM Lead WHERE IsDeleted = true"}
    job = requests.post(emulators.salesforce_url + JOBS_PATH, json=body, headers=AUTH, timeout=5)
    job_id = job.json()["id"]
    info = requests.get(f"{emulators.salesforce_url}{JOBS_PATH}/{job_id}", headers=AUTH, timeout=5)
    assert info.json()["numberRecordsProcessed"] == 1
    bad = requests.post(
        emulators.salesforce_url + JOBS_PATH,
        json={"operation": "query", "query": "SELECT COUNT() FROM Lead"},
        headers=AUTH,
        timeout=5,
    )
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "MALFORMED_QUERY"
    missing = requests.get(
        f"{emulators.salesforce_url}{JOBS_PATH}/750nothing", headers=AUTH, timeout=5
    )
    assert missing.status_code == 404


@pytest.mark.timeout(30)
def test_salesforce_soap_login(emulators):
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed
    from simple_salesforce.login import SalesforceLogin

    from cadence_pipeline.emulators.salesforce import EMULATOR_PASSWORD, EMULATOR_USERNAME

    session_id, instance = SalesforceLogin(
        username=EMULATOR_USERNAME,
        password=EMULATOR_PASSWORD,
        security_token="",
        scratch_url=emulators.salesforce_url,
    )
    assert instance == emulators.salesforce_url.removeprefix("http://")
    ok = soql(emulators, "SELECT Id FROM Lead", headers={"Authorization": f"Bearer {session_id}"})
    assert ok.status_code == 200
    emulators.salesforce.expire_sessions()
    expired = soql(
        emulators, "SELECT Id FROM Lead", headers={"Authorization": f"Bearer {session_id}"}
    )
    assert expired.status_code == 401
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        SalesforceLogin(
            username=EMULATOR_USERNAME,
            password="wrong",
            security_token="",
            scratch_url=emulators.salesforce_url,
        )
    assert caught.value.code == "INVALID_LOGIN"
