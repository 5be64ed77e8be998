"""HubSpot CRM v3 emulator: list paging, search paging with the result cap, batch read.

Serves `<fixtures>/hubspot/<object>.jsonl` (for example `contacts.jsonl`) at
`GET /crm/v3/objects/<object>`, `POST /crm/v3/objects/<object>/search` and
`POST /crm/v3/objects/<object>/batch/read`. Errors use HubSpot's body
`{status, message, correlationId, category}`. A search over the rate limit returns 429 with
`errorType: RATE_LIMIT` and `policyName: SECONDLY`.

Property history: a fixture record may carry `propertiesWithHistory` (property -> list of
`{value, timestamp}`, newest first, as the API returns it); a property without one has a
single entry, its current value at `updatedAt`. List pages with history hold at most 50
records and batch reads with history at most 50 inputs, as in the real API. A batch read of
an id merged into another contact (listed in its `hs_merged_object_ids`) returns the
surviving contact.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cadence_pipeline.emulators.base import (
    EMULATOR_TOKEN,
    Emulator,
    Fault,
    JsonlFixture,
    RateWindow,
    Request,
    Response,
)

# Limits of the real API (CRM v3): list pages hold at most 100 objects and search pages at
# most 200; a search returns at most 10,000 results in all, and search requests are limited
# to about 5 a second. The filter limits follow HubSpot's search guide: 5 filter groups,
# 6 filters a group, 18 filters in all.
LIST_PAGE_MAX = 100
SEARCH_PAGE_MAX = 200
SEARCH_RESULT_CAP = 10_000
SEARCH_RATE_PER_SECOND = 5.0
LIST_PAGE_MAX_WITH_HISTORY = 50
BATCH_READ_MAX = 100
HISTORY_BATCH_READ_MAX = 50
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18

DEFAULT_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)
ALWAYS_RETURNED = ("createdate", "hs_object_id", "lastmodifieddate")
OPERATORS = (
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
)

_OBJECT_PATH = re.compile(
    r"^/crm/v3/objects/(?P<object>[a-z_]+)(?:(?P<search>/search)|(?P<batch>/batch/read))?/?$"
)


def hubspot_error(status: int, message: str, category: str, **extra: Any) -> Response:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return Response(status, body)


class HubSpotEmulator(Emulator):
    """Serves CRM object lists and searches over the fixture files."""

    name = "hubspot"

    def __init__(
        self,
        fixtures_dir: Path,
        *,
        list_page_max: int = LIST_PAGE_MAX,
        search_page_max: int = SEARCH_PAGE_MAX,
        search_result_cap: int = SEARCH_RESULT_CAP,
        search_rate_per_second: float | None = SEARCH_RATE_PER_SECOND,
        batch_read_max: int = BATCH_READ_MAX,
        history_batch_read_max: int = HISTORY_BATCH_READ_MAX,
        latency: float = 0.0,
        token: str = EMULATOR_TOKEN,
    ) -> None:
        super().__init__(latency=latency)
        self.fixtures_dir = Path(fixtures_dir) / "hubspot"
        self.list_page_max = list_page_max
        self.batch_read_max = batch_read_max
        self.history_batch_read_max = history_batch_read_max
        self.search_page_max = search_page_max
        self.search_result_cap = search_result_cap
        self.search_rate = RateWindow(search_rate_per_second)
        self.token = token
        self._fixtures: dict[str, JsonlFixture] = {}
        self._sorted: dict[str, tuple[int, list[dict[str, Any]]]] = {}

    def _records(self, object_type: str) -> list[dict[str, Any]] | None:
        path = self.fixtures_dir / f"{object_type}.jsonl"
        if object_type not in self._fixtures:
            if not path.is_file() and object_type != "contacts":
                return None
            self._fixtures[object_type] = JsonlFixture(path)
        records = self._fixtures[object_type].records()
        # A fixture returns the same list until its file changes, so its id keys the cache.
        cached = self._sorted.get(object_type)
        if cached is None or cached[0] != id(records):
            ordered = sorted(records, key=lambda record: _id_key(record.get("id")))
            cached = self._sorted[object_type] = (id(records), ordered)
        return cached[1]

    def fault_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "expired_session":
            return hubspot_error(
                401,
                "The OAuth token used to make this call expired. Refresh the token and retry.",
                "EXPIRED_AUTHENTICATION",
            )
        status = fault.status or 500
        if status == 429:
            return hubspot_error(
                429,
                "You have reached your secondly limit.",
                "RATE_LIMITS",
                errorType="RATE_LIMIT",
                policyName="SECONDLY",
            )
        if status >= 500:
            return hubspot_error(status, "internal error", "INTERNAL_ERROR")
        return hubspot_error(status, "injected error", "VALIDATION_ERROR")

    def handle(self, request: Request) -> Response:
        if request.bearer_token() != self.token:
            return hubspot_error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and private app access tokens.",
                "INVALID_AUTHENTICATION",
            )
        match = _OBJECT_PATH.match(request.path)
        if match is None:
            return hubspot_error(404, f"no route for {request.path}", "OBJECT_NOT_FOUND")
        records = self._records(match.group("object"))
        if records is None:
            return hubspot_error(
                400,
                f"Unable to infer object type from: {match.group('object')}",
                "VALIDATION_ERROR",
            )
        if match.group("batch"):
            if request.method != "POST":
                return hubspot_error(405, "batch read needs POST", "VALIDATION_ERROR")
            return self._batch_read(records, request)
        if match.group("search"):
            if request.method != "POST":
                return hubspot_error(405, "search needs POST", "VALIDATION_ERROR")
            if not self.search_rate.allow():
                response = self.fault_response(Fault.rate_limited(), request)
                response.headers["Retry-After"] = "1"
                return response
            return self._search(records, request)
        if request.method != "GET":
            return hubspot_error(405, f"{request.method} is not supported", "VALIDATION_ERROR")
        return self._list(records, request, match.group("object"))

    # List.
    def _list(self, records: list[dict[str, Any]], request: Request, object_type: str) -> Response:
        try:
            limit = int(request.param("limit") or 10)
        except ValueError:
            return hubspot_error(400, "limit must be an integer", "VALIDATION_ERROR")
        if not 1 <= limit <= self.list_page_max:
            return hubspot_error(
                400,
                f"limit must be between 1 and {self.list_page_max}, got {limit}",
                "VALIDATION_ERROR",
            )
        properties = _split_properties(request.query.get("properties", []))
        history = _split_properties(request.query.get("propertiesWithHistory", []))
        if history and limit > LIST_PAGE_MAX_WITH_HISTORY:
            return hubspot_error(
                400,
                f"limit must be at most {LIST_PAGE_MAX_WITH_HISTORY} when propertiesWithHistory "
                f"is requested, got {limit}",
                "VALIDATION_ERROR",
            )
        archived = (request.param("archived") or "false").lower() == "true"
        selected = [record for record in records if bool(record.get("archived")) == archived]
        after = request.param("after")
        if after:
            selected = [
                record for record in selected if _id_key(record.get("id")) >= _id_key(after)
            ]
        page = selected[:limit]
        body: dict[str, Any] = {"results": [_shape(record, properties, history) for record in page]}
        if len(selected) > limit:
            next_after = str(selected[limit].get("id"))
            body["paging"] = {
                "next": {
                    "after": next_after,
                    "link": f"/crm/v3/objects/{object_type}?after={next_after}",
                }
            }
        return Response(200, body)

    # Batch read.
    def _batch_read(self, records: list[dict[str, Any]], request: Request) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            return hubspot_error(400, "Invalid input JSON", "VALIDATION_ERROR")
        inputs = body.get("inputs") or []
        history = list(body.get("propertiesWithHistory") or [])
        maximum = self.history_batch_read_max if history else self.batch_read_max
        if len(inputs) > maximum:
            detail = " for property histories" if history else ""
            return hubspot_error(
                400,
                f"The maximum number of inputs supported in a batch request{detail} is "
                f"{maximum}. Please reduce the number of items and try again.",
                "VALIDATION_ERROR",
            )
        if body.get("idProperty"):
            return hubspot_error(
                400, "the emulator reads batches by object id only", "VALIDATION_ERROR"
            )
        by_id = {str(record.get("id")): record for record in records}
        merged: dict[str, str] = {}
        for record in records:
            for old_id in _merged_ids(record):
                merged[old_id] = str(record.get("id"))
        results: list[dict[str, Any]] = []
        errors: list[str] = []
        returned: set[str] = set()
        for item in inputs:
            wanted = str(item.get("id") if isinstance(item, dict) else item)
            record = by_id.get(wanted) or by_id.get(merged.get(wanted, ""))
            if record is None or record.get("archived"):
                errors.append(wanted)
                continue
            if str(record.get("id")) not in returned:
                returned.add(str(record.get("id")))
                results.append(_shape(record, body.get("properties") or [], history))
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        response: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if errors:
            # NOTE: the real API returns 207 Multi-Status with an `errors` list here.
            response["numErrors"] = len(errors)
            response["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some CONTACT objects, they may be deleted or "
                    "not exist.",
                    "context": {"ids": errors},
                }
            ]
        return Response(200, response)

    # Search.
    def _search(self, records: list[dict[str, Any]], request: Request) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            return hubspot_error(400, "Invalid input JSON", "VALIDATION_ERROR")
        problem = _check_search_body(body, self.search_page_max)
        if problem:
            return hubspot_error(400, problem, "VALIDATION_ERROR")
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
        if after >= self.search_result_cap:
            return hubspot_error(
                400,
                f"Paging beyond {self.search_result_cap} results is not supported; narrow "
                "the search with filters.",
                "VALIDATION_ERROR",
            )
        groups = body.get("filterGroups") or []
        matched = [
            record
            for record in records
            if not record.get("archived") and (not groups or _matches_any(record, groups))
        ]
        sorts = body.get("sorts") or []
        if sorts:
            matched = _sort(matched, sorts[0])
        end = min(after + limit, self.search_result_cap)
        page = matched[after:end]
        response: dict[str, Any] = {
            "total": len(matched),
            "results": [_shape(record, body.get("properties") or []) for record in page],
        }
        if end < len(matched):
            response["paging"] = {"next": {"after": str(end)}}
        return Response(200, response)


def _check_search_body(body: Mapping[str, Any], page_max: int) -> str | None:
    try:
        limit = int(body.get("limit") or 10)
        int(body.get("after") or 0)
    except (TypeError, ValueError):
        return "limit and after must be integers"
    if not 1 <= limit <= page_max:
        return f"limit must be between 1 and {page_max}, got {limit}"
    groups = body.get("filterGroups") or []
    if len(groups) > MAX_FILTER_GROUPS:
        return f"Too many filter groups ({len(groups)}); the maximum is {MAX_FILTER_GROUPS}"
    total = 0
    for group in groups:
        filters = group.get("filters") or []
        total += len(filters)
        if len(filters) > MAX_FILTERS_PER_GROUP:
            return (
                f"Too many filters in a group ({len(filters)}); the maximum is "
                f"{MAX_FILTERS_PER_GROUP}"
            )
        for item in filters:
            if item.get("operator") not in OPERATORS:
                return f"Unsupported filter operator {item.get('operator')!r}"
            if not item.get("propertyName"):
                return "Every filter needs a propertyName"
    if total > MAX_FILTERS:
        return f"Too many filters ({total}); the maximum is {MAX_FILTERS}"
    sorts = body.get("sorts") or []
    if len(sorts) > 1:
        return "Only one sort is supported per search"
    for sort in sorts:
        if isinstance(sort, str) or not sort.get("propertyName"):
            return "A sort needs a propertyName"
        if sort.get("direction", "ASCENDING") not in ("ASCENDING", "DESCENDING"):
            return f"Unknown sort direction {sort.get('direction')!r}"
    return None


def _split_properties(values: list[str]) -> list[str]:
    return [name for value in values for name in value.split(",") if name]


def _property(record: Mapping[str, Any], name: str) -> Any:
    properties = record.get("properties") or {}
    if name in properties and properties[name] is not None:
        return properties[name]
    if name == "hs_object_id":
        return record.get("id")
    if name == "createdate":
        return record.get("createdAt")
    if name == "lastmodifieddate":
        return record.get("updatedAt")
    return properties.get(name)


def _comparable(value: Any) -> Any:
    """Return a number for ids, epoch milliseconds and dates, else a lower-case string."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    return _comparable_text(str(value))


@lru_cache(maxsize=262144)
def _comparable_text(value: str) -> Any:
    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?", text):
        normalised = text[:-1] + "+00:00" if text.endswith("Z") else text
        parsed = datetime.fromisoformat(normalised)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp() * 1000
    return text.lower()


def _filter_matches(record: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    operator = item["operator"]
    actual = _property(record, item["propertyName"])
    if operator == "HAS_PROPERTY":
        return actual not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return actual in (None, "")
    if actual in (None, ""):
        return operator in ("NEQ", "NOT_IN")
    left = _comparable(actual)
    if operator in ("IN", "NOT_IN"):
        values = {_comparable(value) for value in item.get("values") or []}
        return (left in values) == (operator == "IN")
    right = _comparable(item.get("value"))
    if type(left) is not type(right):
        left, right = str(actual).lower(), str(item.get("value")).lower()
    if operator == "EQ":
        return left == right
    if operator == "NEQ":
        return left != right
    if operator == "LT":
        return left < right
    if operator == "LTE":
        return left <= right
    if operator == "GT":
        return left > right
    if operator == "GTE":
        return left >= right
    high = _comparable(item.get("highValue"))
    return type(high) is type(left) and right <= left <= high  # BETWEEN is inclusive


def _matches_any(record: Mapping[str, Any], groups: list[Mapping[str, Any]]) -> bool:
    return any(
        all(_filter_matches(record, item) for item in group.get("filters") or [])
        for group in groups
    )


def _sort(records: list[dict[str, Any]], sort: Mapping[str, Any]) -> list[dict[str, Any]]:
    name = sort["propertyName"]
    descending = sort.get("direction") == "DESCENDING"
    present = [record for record in records if _property(record, name) not in (None, "")]
    missing = [record for record in records if _property(record, name) in (None, "")]
    present.sort(
        key=lambda record: (_comparable(_property(record, name)), _id_key(record.get("id"))),
        reverse=descending,
    )
    return present + missing


def _id_key(value: Any) -> tuple[int, Any]:
    text = str(value)
    return (0, int(text)) if text.isdigit() else (1, text)


def _shape(
    record: Mapping[str, Any], requested: list[str], history: list[str] | None = None
) -> dict[str, Any]:
    names = list(requested) if requested else list(DEFAULT_PROPERTIES)
    for name in ALWAYS_RETURNED:
        if name not in names:
            names.append(name)
    shaped = {
        "id": str(record.get("id")),
        "properties": {name: _as_text(_property(record, name)) for name in names},
        "createdAt": record.get("createdAt"),
        "updatedAt": record.get("updatedAt") or record.get("createdAt"),
        "archived": bool(record.get("archived", False)),
    }
    if record.get("archived") and record.get("archivedAt"):
        shaped["archivedAt"] = record["archivedAt"]
    if history:
        shaped["propertiesWithHistory"] = {
            name: _history(record, name) for name in history if _history(record, name)
        }
    return shaped


def _history(record: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """Return a property's history, newest first; a fixture without one gets one entry."""
    stored = (record.get("propertiesWithHistory") or {}).get(name)
    if stored is not None:
        return [
            {
                "value": _as_text(entry.get("value")),
                "timestamp": entry.get("timestamp"),
                "sourceType": entry.get("sourceType", "CRM_UI"),
            }
            for entry in stored
        ]
    value = _property(record, name)
    if value in (None, ""):
        return []
    timestamp = record.get("updatedAt") or record.get("createdAt")
    return [{"value": _as_text(value), "timestamp": timestamp, "sourceType": "CRM_UI"}]


def _merged_ids(record: Mapping[str, Any]) -> list[str]:
    value = _property(record, "hs_merged_object_ids")
    return [part for part in str(value or "").split(";") if part.strip()]


def _as_text(value: Any) -> str | None:
    """HubSpot returns every property value as a string (or null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
