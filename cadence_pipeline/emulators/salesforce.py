"""Salesforce REST API emulator: SOQL query, queryAll and query-locator paging.

Serves `<fixtures>/salesforce/<Object>.jsonl` for every object file present. Responses
follow the REST API: `totalSize`, `done`, `nextRecordsUrl` and `records` with `attributes`;
errors are a JSON array of `{message, errorCode}`; every response carries `Sforce-Limit-Info`.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from cadence_pipeline.emulators.base import (
    EMULATOR_TOKEN,
    Emulator,
    Fault,
    JsonlFixture,
    Request,
    Response,
)
from cadence_pipeline.emulators.soql import (
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
}
KNOWN_OBJECTS = {"Lead": LEAD_FIELDS}

_QUERY_PATH = re.compile(r"^/services/data/v(?P<version>\d+\.\d+)/(?P<kind>query|queryAll)/?$")
_LOCATOR_PATH = re.compile(
    r"^/services/data/v(?P<version>\d+\.\d+)/(?:query|queryAll)/(?P<locator>[A-Za-z0-9]+)-(?P<offset>\d+)$"
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
        daily_api_limit: int = 15000,
        latency: float = 0.0,
        token: str = EMULATOR_TOKEN,
    ) -> None:
        super().__init__(latency=latency)
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.fixtures_dir = Path(fixtures_dir) / "salesforce"
        self.page_size = page_size
        self.daily_api_limit = daily_api_limit
        self.token = token
        self.api_requests = 0
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
        if request.bearer_token() != self.token:
            return salesforce_error(401, "Session expired or invalid", "INVALID_SESSION_ID")
        with self._lock:
            self.api_requests += 1
            used = self.api_requests
        if used > self.daily_api_limit:
            return salesforce_error(403, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")
        response = self._route(request)
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{self.daily_api_limit}"
        return response

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

    def _query(self, version: str, text: str, include_deleted: bool, batch: int | None) -> Response:
        objects = self._objects()
        schemas = self._schemas(objects)
        try:
            query = parse_query(text, schemas)
        except SoqlError as error:
            return salesforce_error(400, str(error), error.error_code)
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
