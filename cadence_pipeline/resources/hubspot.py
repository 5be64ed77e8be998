"""HubSpot lead connector over the CRM v3 contacts API, with hubspot-api-client.

`fetch_leads` searches contacts whose created date or a mapped stage or signal date lies in
the window. A search returns at most `search_result_cap` (10,000) results. When a search hits
the cap, the connector searches each date property on its own, sorted by that property, and
moves the window's lower bound to the last date read. Where more than a cap of contacts
share one timestamp, it pages them by `hs_object_id`. Results are deduplicated by id.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import urllib3
from hubspot import HubSpot
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException
from urllib3.util.retry import Retry

from cadence_pipeline.governance.config import GovernanceConfig
from cadence_pipeline.governance.records import RecordError
from cadence_pipeline.resources.connector import FetchResult
from cadence_pipeline.resources.mapping import (
    DATETIME_FIELDS,
    ConnectorError,
    lead_from_record,
    parse_instant,
    require_aware,
)

logger = logging.getLogger(__name__)

# Limits of the real API (CRM v3). List pages hold up to 100 objects and search pages up
# to 200. A search returns at most 10,000 results and takes at most 5 filter groups.
# Search requests are limited to about 5 a second per account.
LIST_PAGE_SIZE = 100
SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_CAP = 10_000
MAX_FILTER_GROUPS = 5
RETRY_STATUSES = (429, 500, 502, 503, 504)

_FIXES = {
    401: "the access token is invalid or expired; create a new private app token or refresh "
    "the OAuth token",
    403: "the token lacks the crm.objects.contacts.read scope; add it to the app",
    429: "the rate limit held after retries; lower searches_per_second or rerun later",
    400: "HubSpot rejected the request; check connectors.hubspot.fields for unknown properties",
}


class HubSpotConnector:
    """Pulls contacts from HubSpot (or the emulator) and maps them to leads."""

    crm = "hubspot"

    def __init__(
        self,
        *,
        config: GovernanceConfig,
        access_token: str,
        host: str = "https://api.hubapi.com",
        fields: Mapping[str, str] | None = None,
        object_type: str | None = None,
        default_motion: str | None = None,
        timezone: str | None = None,
        naive_timezone: str | None = None,
        request_timeout: float = 30.0,
        list_page_size: int = LIST_PAGE_SIZE,
        search_page_size: int = SEARCH_PAGE_SIZE,
        search_result_cap: int = SEARCH_RESULT_CAP,
        searches_per_second: float = 4.0,
        max_retries: int = 5,
        backoff_factor: float = 0.5,
    ) -> None:
        if not access_token:
            raise ValueError("HubSpot needs an access token (read it from the environment)")
        settings = config.connectors.get("hubspot", {})
        self.config = config
        self.fields = dict(fields if fields is not None else settings.get("fields", {}))
        if "lead_id" not in self.fields or "created_at" not in self.fields:
            raise ValueError(
                "the HubSpot field mapping needs lead_id and created_at; set them in "
                "connectors.hubspot.fields"
            )
        self.object_type = object_type or settings.get("object", "contacts")
        if self.object_type != "contacts":
            raise ValueError(f"only the contacts object is supported, got {self.object_type!r}")
        self.default_motion = default_motion or settings.get("default_motion")
        self.timezone = timezone or config.timezone
        self.naive_timezone = naive_timezone
        self.request_timeout = request_timeout
        self.list_page_size = list_page_size
        self.search_page_size = search_page_size
        self.search_result_cap = search_result_cap
        self.min_search_interval = 1.0 / searches_per_second if searches_per_second > 0 else 0.0
        self._last_search = 0.0
        # The client's urllib3 retry covers POST (search) too, because allowed_methods=None
        # means every method; searches only read, so a retry is safe.
        retry = Retry(
            total=max_retries,
            connect=max_retries,
            read=max_retries,
            status=max_retries,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,
            backoff_factor=backoff_factor,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self.client = HubSpot(access_token=access_token, host=host.rstrip("/"), retry=retry)
        self.requests = 0

    @property
    def properties(self) -> list[str]:
        return list(dict.fromkeys(self.fields.values()))

    @property
    def date_properties(self) -> list[str]:
        names = [self.fields[name] for name in DATETIME_FIELDS if name in self.fields]
        return list(dict.fromkeys(names))

    # Public API.
    def fetch_leads(self, start: datetime, end: datetime) -> FetchResult:
        """Pull every contact with activity in [start, end) and map it to a lead."""
        start, end = require_aware(start, "start"), require_aware(end, "end")
        if end <= start:
            raise ValueError(
                f"empty window: end {end.isoformat()} is not after {start.isoformat()}"
            )
        self.requests = 0
        start_ms, end_ms = _millis(start), _millis(end)
        found: dict[str, dict[str, Any]] = {}
        names = self.date_properties
        for offset in range(0, len(names), MAX_FILTER_GROUPS):
            chunk = names[offset : offset + MAX_FILTER_GROUPS]
            groups = [{"filters": _window_filters(name, start_ms, end_ms)} for name in chunk]
            rows, capped = self._search_all(groups, sort="hs_object_id")
            _collect(found, rows)
            if capped:
                logger.info(
                    "HubSpot search over %s passed the %d-result cap; splitting by date",
                    ", ".join(chunk),
                    self.search_result_cap,
                )
                for name in chunk:
                    self._search_split(name, start_ms, end_ms, found)
        result = self._map(found.values())
        # Every request returns one page, so the two counts agree.
        result.requests = result.pages = self.requests
        logger.info(
            "HubSpot pull %s..%s: %d leads, %d rejected, %d requests",
            start.isoformat(),
            end.isoformat(),
            len(result.leads),
            len(result.rejected),
            result.requests,
        )
        return result

    def iter_contacts(self) -> Iterator[dict[str, Any]]:
        """Yield every live contact's properties, paging the list endpoint on `after`."""
        after: str | None = None
        while True:
            page = self._call(
                self.client.crm.contacts.basic_api.get_page,
                limit=self.list_page_size,
                after=after,
                properties=self.properties,
                archived=False,
            )
            for item in page.results or []:
                yield _record(item)
            next_page = page.paging.next if page.paging else None
            if next_page is None or not next_page.after:
                return
            after = next_page.after

    def list_contacts(self) -> FetchResult:
        """Pull every live contact (a full pull) and map it to a lead."""
        self.requests = 0
        found: dict[str, dict[str, Any]] = {}
        _collect(found, self.iter_contacts())
        result = self._map(found.values())
        result.requests = result.pages = self.requests
        return result

    # Searching.
    def _search_split(
        self, name: str, start_ms: int, end_ms: int, found: dict[str, dict[str, Any]]
    ) -> None:
        """Search one date property in [start, end), moving the lower bound past each cap."""
        lower, inclusive = start_ms, True
        while True:
            operator = "GTE" if inclusive else "GT"
            filters = [
                {"propertyName": name, "operator": operator, "value": str(lower)},
                {"propertyName": name, "operator": "LT", "value": str(end_ms)},
            ]
            rows, capped = self._search_all([{"filters": filters}], sort=name)
            _collect(found, rows)
            if not capped:
                return
            last_ms = self._row_millis(rows[-1], name)
            if last_ms > lower:
                lower, inclusive = last_ms, True
                continue
            # A full cap of contacts share the timestamp `lower`: page them by object id.
            self._search_one_timestamp(name, lower, found)
            lower, inclusive = last_ms, False

    def _search_one_timestamp(
        self, name: str, at_ms: int, found: dict[str, dict[str, Any]]
    ) -> None:
        last_id = "0"
        while True:
            filters = [
                {"propertyName": name, "operator": "EQ", "value": str(at_ms)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": last_id},
            ]
            rows, capped = self._search_all([{"filters": filters}], sort="hs_object_id")
            _collect(found, rows)
            if not capped or not rows:
                return
            last_id = str(rows[-1]["hs_object_id"])

    def _search_all(
        self, groups: list[dict[str, Any]], *, sort: str
    ) -> tuple[list[dict[str, Any]], bool]:
        """Page one search to its end or to the result cap; return (rows, stopped_at_cap)."""
        rows: list[dict[str, Any]] = []
        after = 0
        while True:
            limit = min(self.search_page_size, self.search_result_cap - after)
            request = PublicObjectSearchRequest(
                filter_groups=groups,
                sorts=[{"propertyName": sort, "direction": "ASCENDING"}],
                properties=self.properties,
                limit=limit,
                after=str(after),
            )
            self._pace()
            page = self._call(
                self.client.crm.contacts.search_api.do_search,
                public_object_search_request=request,
            )
            rows.extend(_record(item) for item in page.results or [])
            next_page = page.paging.next if page.paging else None
            if next_page is None or not next_page.after:
                return rows, False
            after = int(next_page.after)
            if after >= self.search_result_cap:
                return rows, True

    def _pace(self) -> None:
        wait = self._last_search + self.min_search_interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_search = time.monotonic()

    def _row_millis(self, row: Mapping[str, Any], name: str) -> int:
        instant = parse_instant(
            row.get(name),
            field_name=name,
            timezone=self.timezone,
            origin="hubspot contacts",
            record_id=str(row.get("hs_object_id")),
            naive_timezone=self.naive_timezone or "UTC",
        )
        if instant is None:
            raise ConnectorError(
                f"HubSpot sorted search by {name} returned a contact without {name}; rerun",
                crm=self.crm,
            )
        return _millis(instant)

    def _call(self, method: Any, **kwargs: Any) -> Any:
        self.requests += 1
        try:
            return method(_request_timeout=self.request_timeout, **kwargs)
        except ApiException as error:
            raise _connector_error(error) from error
        except urllib3.exceptions.HTTPError as error:
            raise ConnectorError(
                f"HubSpot did not answer after retries ({type(error).__name__}: timeout "
                f"{self.request_timeout} s or dropped connection); check the network and "
                "HubSpot status, then rerun",
                crm=self.crm,
                error_code="CONNECTION_FAILED",
            ) from error

    # Mapping.
    def _map(self, records: Any) -> FetchResult:
        result = FetchResult()
        for record in records:
            try:
                lead = lead_from_record(
                    record,
                    crm=self.crm,
                    fields=self.fields,
                    config=self.config,
                    origin="hubspot contacts",
                    default_motion=self.default_motion,
                    timezone=self.timezone,
                    naive_timezone=self.naive_timezone,
                )
            except RecordError as error:
                result.rejected.append(error)
                continue
            result.leads.append(lead)
        return result


def _millis(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _window_filters(name: str, start_ms: int, end_ms: int) -> list[dict[str, str]]:
    return [
        {"propertyName": name, "operator": "GTE", "value": str(start_ms)},
        {"propertyName": name, "operator": "LT", "value": str(end_ms)},
    ]


def _record(item: Any) -> dict[str, Any]:
    record = dict(item.properties or {})
    record.setdefault("hs_object_id", item.id)
    if record.get("hs_object_id") is None:
        record["hs_object_id"] = item.id
    return record


def _collect(found: dict[str, dict[str, Any]], rows: Any) -> None:
    for row in rows:
        found[str(row["hs_object_id"])] = row


def _connector_error(error: ApiException) -> ConnectorError:
    body: Any = error.body
    category = message = None
    try:
        parsed = json.loads(body) if body else {}
        category = parsed.get("category") or parsed.get("errorType")
        message = parsed.get("message")
    except (ValueError, AttributeError):
        message = str(body)[:200] if body else None
    fix = _FIXES.get(error.status or 0, "retry later; if it persists, check HubSpot status")
    return ConnectorError(
        f"HubSpot returned HTTP {error.status} {category or error.reason}: {message}. Fix: {fix}",
        crm="hubspot",
        error_code=category,
        status=error.status,
    )
