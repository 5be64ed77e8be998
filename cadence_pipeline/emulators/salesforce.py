"""Salesforce API emulator: SOQL query and queryAll, Bulk API 2.0 query jobs, SOAP login.

Serves `<fixtures>/salesforce/<Object>.jsonl` for every object file present. REST responses
follow the API: `totalSize`, `done`, `nextRecordsUrl` and `records` with `attributes`; errors
are a JSON array of `{message, errorCode}`; every API response carries `Sforce-Limit-Info`.
Bulk API 2.0 query jobs (`/jobs/query`) return CSV result pages with `Sforce-Locator` and
`Sforce-NumberOfRecords`. The SOAP `login` call (`/services/Soap/u/<version>`) issues
session ids, because simple-salesforce 1.12 logs in with it for username, password and
security token. `expire_sessions` invalidates them, as a session timeout does.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import threading
import time
import xml.dom.minidom
from collections import OrderedDict
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

from cadence_pipeline.emulators.base import (
    EMULATOR_TOKEN,
    Emulator,
    Fault,
    JsonlFixture,
    Request,
    Response,
)
from cadence_pipeline.emulators.soql import (
    Query,
    Schema,
    SoqlError,
    infer_type,
    parse_query,
    sort_records,
)

# The REST API returns at most 2,000 records a batch by default.
DEFAULT_PAGE_SIZE = 2000
# Query locators the emulator keeps open; the oldest is dropped first, as an expired one.
MAX_OPEN_LOCATORS = 50

# Fields and types of the Lead object as the fixtures write them, so queries that name them
# succeed on an empty or sparse fixture too.
LEAD_FIELDS: dict[str, str] = {
    "Id": "string",
    "IsDeleted": "boolean",
    "CreatedDate": "datetime",
    "SystemModstamp": "datetime",
    "LeadSource": "string",
    "Motion__c": "string",
    "Email": "string",
    "Phone": "string",
    "Country": "string",
    "Company": "string",
    "Industry": "string",
    "NumberOfEmployees": "number",
    "Title": "string",
    "HasOptedOutOfEmail": "boolean",
    "Marketing_Consent__c": "boolean",
    "Account_Key__c": "string",
    "Signal_Class__c": "string",
    "Signal_Date__c": "datetime",
    "MQL_Date__c": "datetime",
    "MQL_Rejected_Date__c": "datetime",
    "MQL_Rejection_Code__c": "string",
    "SAL_Date__c": "datetime",
    "SAL_Rejected_Date__c": "datetime",
    "SAL_Rejection_Code__c": "string",
    "Won_Date__c": "datetime",
    "MQL_Definition_Version__c": "string",
    "Status": "string",
    "MasterRecordId": "string",
}
# Field history, campaign membership and account objects a lead pull reads.
LEAD_HISTORY_FIELDS = {
    "Id": "string",
    "LeadId": "string",
    "Field": "string",
    "OldValue": "string",
    "NewValue": "string",
    "CreatedDate": "datetime",
}
CAMPAIGN_MEMBER_FIELDS = {
    "Id": "string",
    "LeadId": "string",
    "ContactId": "string",
    "CampaignId": "string",
    "Status": "string",
    "HasResponded": "boolean",
    "FirstRespondedDate": "date",
    "CreatedDate": "datetime",
    "SystemModstamp": "datetime",
}
CAMPAIGN_FIELDS = {"Id": "string", "Name": "string", "Type": "string", "IsActive": "boolean"}
ACCOUNT_FIELDS = {"Id": "string", "Name": "string", "LastActivityDate": "date"}
KNOWN_OBJECTS = {
    "Lead": LEAD_FIELDS,
    "LeadHistory": LEAD_HISTORY_FIELDS,
    "CampaignMember": CAMPAIGN_MEMBER_FIELDS,
    "Campaign": CAMPAIGN_FIELDS,
    "Account": ACCOUNT_FIELDS,
}
# Bulk API 2.0 returns as many records a results page as the client requests with
# maxRecords (simple-salesforce requests 50,000); this is the page size without maxRecords.
DEFAULT_BULK_PAGE_SIZE = 50_000
EMULATOR_USERNAME = "cadence@emulator.invalid"
EMULATOR_PASSWORD = "cadence-emulator-password"  # password and security token, concatenated

_QUERY_PATH = re.compile(r"^/services/data/v(?P<version>\d+\.\d+)/(?P<kind>query|queryAll)/?$")
_LOCATOR_PATH = re.compile(
    r"^/services/data/v(?P<version>\d+\.\d+)/(?:query|queryAll)/(?P<locator>[A-Za-z0-9]+)-(?P<offset>\d+)$"
)

_LOGIN_PATH = re.compile(r"^/services/Soap/u/(?P<version>\d+\.\d+)/?$")
_JOBS_PATH = re.compile(
    r"^/services/data/v(?P<version>\d+\.\d+)/jobs/query"
    r"(?:/(?P<job>[A-Za-z0-9]+)(?P<results>/results)?)?/?$"
)

_ERROR_CODES = {
    400: "MALFORMED_QUERY",
    401: "INVALID_SESSION_ID",
    403: "REQUEST_LIMIT_EXCEEDED",
    404: "NOT_FOUND",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "UNKNOWN_EXCEPTION",
    502: "SERVER_UNAVAILABLE",
    503: "SERVER_UNAVAILABLE",
}
_ERROR_MESSAGES = {
    429: "ConcurrentPerOrgLongTxn Limit exceeded.",
    500: "An unexpected error occurred. Please include this ErrorId if you contact support.",
    502: "Server temporarily unavailable.",
    503: "Server temporarily unavailable.",
}


def salesforce_error(status: int, message: str, error_code: str) -> Response:
    return Response(status, [{"message": message, "errorCode": error_code}])


class SalesforceEmulator(Emulator):
    """Serves SOQL queries over the fixture objects; see the module docstring for the shape."""

    name = "salesforce"

    def __init__(
        self,
        fixtures_dir: Path,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        bulk_page_size: int = DEFAULT_BULK_PAGE_SIZE,
        bulk_job_seconds: float = 0.0,
        daily_api_limit: int = 15000,
        latency: float = 0.0,
        token: str = EMULATOR_TOKEN,
        username: str = EMULATOR_USERNAME,
        password: str = EMULATOR_PASSWORD,
    ) -> None:
        super().__init__(latency=latency)
        if page_size < 1 or bulk_page_size < 1:
            raise ValueError(f"page sizes must be at least 1, got {page_size}, {bulk_page_size}")
        self.fixtures_dir = Path(fixtures_dir) / "salesforce"
        self.page_size = page_size
        self.bulk_page_size = bulk_page_size
        self.bulk_job_seconds = bulk_job_seconds
        self.daily_api_limit = daily_api_limit
        self.token = token
        self.username = username
        self.password = password
        self.sessions = {token}
        self.logins = 0
        self.api_requests = 0
        self._jobs: dict[str, dict[str, Any]] = {}
        self._job_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._fixtures: dict[str, JsonlFixture] = {}
        self._locators: OrderedDict[str, tuple[list[dict[str, Any]], int]] = OrderedDict()
        self._locator_ids = itertools.count(1)
        self._schema_cache: tuple[tuple[Any, ...], dict[str, Schema]] | None = None

    # Data.
    def _objects(self) -> dict[str, list[dict[str, Any]]]:
        names = set(KNOWN_OBJECTS)
        if self.fixtures_dir.is_dir():
            names.update(path.stem for path in self.fixtures_dir.glob("*.jsonl"))
        objects = {}
        for name in sorted(names):
            fixture = self._fixtures.get(name)
            if fixture is None:
                fixture = self._fixtures[name] = JsonlFixture(self.fixtures_dir / f"{name}.jsonl")
            objects[name] = fixture.records()
        return objects

    def _schemas(self, objects: dict[str, list[dict[str, Any]]]) -> dict[str, Schema]:
        # A fixture returns the same list until its file changes, so the list ids key the cache.
        key = tuple((name, id(records)) for name, records in objects.items())
        if self._schema_cache is not None and self._schema_cache[0] == key:
            return self._schema_cache[1]
        schemas = {}
        for name, records in objects.items():
            fields = {"Id": "string", "IsDeleted": "boolean", **KNOWN_OBJECTS.get(name, {})}
            for record in records:
                for key, value in record.items():
                    if key == "attributes" or key in fields:
                        continue
                    inferred = infer_type(value)
                    if inferred is not None:
                        fields[key] = inferred
            schemas[name] = Schema(name, fields)
        self._schema_cache = (key, schemas)
        return schemas

    # HTTP.
    def fault_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "expired_session":
            return salesforce_error(401, "Session expired or invalid", "INVALID_SESSION_ID")
        if fault.kind == "invalid_locator":
            return salesforce_error(400, "invalid query locator", "INVALID_QUERY_LOCATOR")
        status = fault.status or 500
        return salesforce_error(
            status,
            _ERROR_MESSAGES.get(status, "injected error"),
            _ERROR_CODES.get(status, "UNKNOWN_EXCEPTION"),
        )

    def handle(self, request: Request) -> Response:
        login = _LOGIN_PATH.match(request.path)
        if login and request.method == "POST":
            return self._login(request, login.group("version"))
        if request.bearer_token() not in self.sessions:
            return salesforce_error(401, "Session expired or invalid", "INVALID_SESSION_ID")
        with self._lock:
            self.api_requests += 1
            used = self.api_requests
        if used > self.daily_api_limit:
            return salesforce_error(403, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")
        jobs = _JOBS_PATH.match(request.path)
        response = self._bulk(request, jobs) if jobs else self._route(request)
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{self.daily_api_limit}"
        return response

    def expire_sessions(self) -> None:
        """Invalidate every session id, as a session timeout or a password reset does."""
        with self._lock:
            self.sessions.clear()

    # SOAP login.
    def _login(self, request: Request, version: str) -> Response:
        try:
            document = xml.dom.minidom.parseString(request.body or b"<empty/>")
        except ExpatError:
            return _soap_fault("INVALID_LOGIN", "Invalid login request: not well-formed XML")
        username = _xml_text(document, "username")
        password = _xml_text(document, "password")
        if username != self.username or password != self.password:
            return _soap_fault(
                "INVALID_LOGIN",
                "INVALID_LOGIN: Invalid username, password, security token; or user locked out.",
            )
        with self._lock:
            self.logins += 1
            session_id = f"00DEM0000000001!{self.logins:06d}{next(self._locator_ids):08d}"
            self.sessions.add(session_id)
        host = request.headers.get("host", "127.0.0.1")
        body = _SOAP_LOGIN_RESPONSE.format(
            server_url=f"https://{host}/services/Soap/u/{version}/00DEM0000000001",
            session_id=session_id,
            user_name=self.username,
        )
        return Response(200, body.encode("utf-8"), {"Content-Type": "text/xml;charset=UTF-8"})

    # Bulk API 2.0 query jobs.
    def _bulk(self, request: Request, match: re.Match[str]) -> Response:
        job_id = match.group("job")
        if job_id is None:
            if request.method != "POST":
                return salesforce_error(405, "use POST to create a query job", "METHOD_NOT_ALLOWED")
            return self._create_job(request, match.group("version"))
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return salesforce_error(404, f"Job {job_id} not found", "NOT_FOUND")
        if request.method == "DELETE" and not match.group("results"):
            with self._lock:
                self._jobs.pop(job_id, None)
            return Response(204)
        if request.method != "GET":
            return salesforce_error(405, f"{request.method} is not allowed", "METHOD_NOT_ALLOWED")
        if match.group("results"):
            return self._job_results(job, request)
        return Response(200, self._job_info(job))

    def _create_job(self, request: Request, version: str) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            return salesforce_error(400, "Invalid JSON in the request body", "JSON_PARSER_ERROR")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            return salesforce_error(
                400, f"Invalid operation {operation!r}; use query or queryAll", "INVALIDJOB"
            )
        if body.get("columnDelimiter", "COMMA") != "COMMA" or body.get("lineEnding", "LF") != "LF":
            return salesforce_error(
                400, "the emulator supports columnDelimiter COMMA and lineEnding LF", "INVALIDJOB"
            )
        try:
            query, rows = self._select(str(body.get("query") or ""), operation == "queryAll")
        except SoqlError as error:
            return salesforce_error(400, str(error), error.error_code)
        with self._lock:
            job_id = f"750EM{next(self._job_ids):013d}"
            job = {
                "id": job_id,
                "operation": operation,
                "object": query.object_name,
                "state": "UploadComplete",
                "apiVersion": float(version),
                "fields": query.fields,
                "rows": rows,
                "created": time.monotonic(),
            }
            self._jobs[job_id] = job
        return Response(200, self._job_info(job))

    def _job_info(self, job: dict[str, Any]) -> dict[str, Any]:
        done = time.monotonic() - job["created"] >= self.bulk_job_seconds
        state = "JobComplete" if done else "InProgress"
        return {
            "id": job["id"],
            "operation": job["operation"],
            "object": job["object"],
            "state": state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": job["apiVersion"],
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            "numberRecordsProcessed": len(job["rows"]) if done else 0,
        }

    def _job_results(self, job: dict[str, Any], request: Request) -> Response:
        if self._job_info(job)["state"] != "JobComplete":
            return salesforce_error(
                400, f"Job {job['id']} is not complete; poll its state first", "INVALIDJOB"
            )
        try:
            page_size = int(request.param("maxRecords") or self.bulk_page_size)
            offset = int(request.param("locator") or 0)
        except ValueError:
            return salesforce_error(400, "invalid locator or maxRecords", "INVALID_LOCATOR")
        rows = job["rows"]
        if page_size < 1 or offset < 0 or offset > len(rows):
            return salesforce_error(400, "invalid locator or maxRecords", "INVALID_LOCATOR")
        page = rows[offset : offset + page_size]
        end = offset + len(page)
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(job["fields"])
        for row in page:
            writer.writerow([_bulk_value(row.get(name)) for name in job["fields"]])
        headers = {
            "Content-Type": "text/csv",
            "Sforce-NumberOfRecords": str(len(page)),
            "Sforce-Locator": str(end) if end < len(rows) else "null",
        }
        return Response(200, out.getvalue().encode("utf-8"), headers)

    # REST query.
    def _route(self, request: Request) -> Response:
        if request.method != "GET":
            return salesforce_error(
                405,
                f"HTTP Method '{request.method}' not allowed. Allowed are GET",
                "METHOD_NOT_ALLOWED",
            )
        match = _LOCATOR_PATH.match(request.path)
        if match:
            return self._more(match.group("version"), match.group("locator"), int(match["offset"]))
        match = _QUERY_PATH.match(request.path)
        if match:
            text = request.param("q")
            if not text:
                return salesforce_error(
                    400, "A query string has to be specified", "MALFORMED_QUERY"
                )
            include_deleted = match.group("kind") == "queryAll"
            batch = _batch_size(request.headers.get("sforce-query-options"))
            return self._query(match.group("version"), text, include_deleted, batch)
        return salesforce_error(404, "The requested resource does not exist", "NOT_FOUND")

    def _select(self, text: str, include_deleted: bool) -> tuple[Query, list[dict[str, Any]]]:
        """Parse and run a query; raise SoqlError with the API's error code."""
        objects = self._objects()
        schemas = self._schemas(objects)
        query = parse_query(text, schemas)
        rows = objects[query.object_name]
        if not include_deleted:
            rows = [row for row in rows if not row.get("IsDeleted")]
        if query.where is not None:
            rows = [row for row in rows if query.where(row)]
        if query.order_by is not None:
            rows = sort_records(
                rows, query.order_by, schemas[query.object_name].fields[query.order_by[0]]
            )
        if query.limit is not None:
            rows = rows[: query.limit]
        return query, rows

    def _query(self, version: str, text: str, include_deleted: bool, batch: int | None) -> Response:
        try:
            query, rows = self._select(text, include_deleted)
        except SoqlError as error:
            return salesforce_error(400, str(error), error.error_code)
        shaped = [_shape(row, query.object_name, query.fields, version) for row in rows]
        page_size = min(self.page_size, batch) if batch else self.page_size
        if len(shaped) <= page_size:
            return Response(200, {"totalSize": len(shaped), "done": True, "records": shaped})
        locator = self._open_locator(shaped, page_size)
        return self._page(version, locator, 0)

    def _more(self, version: str, locator: str, offset: int) -> Response:
        return self._page(version, locator, offset)

    def _open_locator(self, rows: list[dict[str, Any]], page_size: int) -> str:
        with self._lock:
            locator = f"01gEM{next(self._locator_ids):013d}"
            self._locators[locator] = (rows, page_size)
            while len(self._locators) > MAX_OPEN_LOCATORS:
                self._locators.popitem(last=False)
        return locator

    def _page(self, version: str, locator: str, offset: int) -> Response:
        with self._lock:
            entry = self._locators.get(locator)
        if entry is None or offset > len(entry[0]):
            return salesforce_error(400, "invalid query locator", "INVALID_QUERY_LOCATOR")
        rows, page_size = entry
        end = offset + page_size
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        if end < len(rows):
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        else:
            with self._lock:
                self._locators.pop(locator, None)
        body["records"] = rows[offset:end]
        return Response(200, body)

    def expire_locators(self) -> None:
        """Forget every open query locator, as Salesforce does after 15 idle minutes."""
        with self._lock:
            self._locators.clear()


def _batch_size(header: str | None) -> int | None:
    """Read `batchSize=N` from a Sforce-Query-Options header; Salesforce clamps it to 200-2000."""
    if not header:
        return None
    match = re.search(r"batchSize\s*=\s*(\d+)", header)
    if not match:
        return None
    return max(200, min(2000, int(match.group(1))))


def _shape(
    row: dict[str, Any], object_name: str, fields: list[str], version: str
) -> dict[str, Any]:
    record_id = row.get("Id")
    shaped: dict[str, Any] = {
        "attributes": {
            "type": object_name,
            "url": f"/services/data/v{version}/sobjects/{object_name}/{record_id}",
        }
    }
    for name in fields:
        shaped[name] = row.get(name)
    return shaped


_SOAP_LOGIN_RESPONSE = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns="urn:partner.soap.sforce.com"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>
<metadataServerUrl>{server_url}</metadataServerUrl><passwordExpired>false</passwordExpired>
<sandbox>false</sandbox><serverUrl>{server_url}</serverUrl><sessionId>{session_id}</sessionId>
<userId>005EM0000000001</userId><userInfo><userName>{user_name}</userName></userInfo>
</result></loginResponse></soapenv:Body></soapenv:Envelope>"""

_SOAP_FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:sf="urn:fault.partner.soap.sforce.com"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>
<faultcode>sf:{code}</faultcode><faultstring>{message}</faultstring><detail>
<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>
<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail>
</soapenv:Fault></soapenv:Body></soapenv:Envelope>"""


def _soap_fault(code: str, message: str) -> Response:
    body = _SOAP_FAULT.format(code=code, message=message).encode("utf-8")
    return Response(500, body, {"Content-Type": "text/xml;charset=UTF-8"})


def _xml_text(document: xml.dom.minidom.Document, local_name: str) -> str | None:
    for element in document.getElementsByTagNameNS("*", local_name):
        return "".join(node.data for node in element.childNodes if node.nodeType == node.TEXT_NODE)
    return None


def _bulk_value(value: Any) -> str:
    """Format a value as Bulk API 2.0 CSV does: null is empty, datetimes end in Z."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+0000", text):
        return text[:-5] + "Z"
    return text
