"""HubSpot lead connector over the CRM v3 contacts API, with hubspot-api-client.

`fetch_leads` searches contacts whose created date or a mapped stage or signal date lies in
the window. A search returns at most `search_result_cap` (10,000) results. When a search hits
the cap, the connector searches each date property on its own, sorted by that property, and
moves the window's lower bound to the last date read. Where more than a cap of contacts
share one timestamp, it pages them by `hs_object_id`. Results are deduplicated by id.
`fetch_modified` pulls every contact whose `lastmodifieddate` lies in the window the same
way, plus archived contacts, flagged.

Searches are paced under `searches_per_second`. 429 and 5xx responses, timeouts and dropped
connections are retried with backoff for POST as well as GET, honouring `Retry-After`.

Lifecycle stages: the `hs_lifecyclestage_*_date` properties hold the date a contact last
entered a stage, so a contact that regressed and re-entered looks like a new MQL. With
`property_history` the connector reads the lifecycle stage's history (batch read, 50 contacts
a request) and dates each stage by its first entry, the earlier of history and the date
property. Moves back down the funnel are recorded in `extra["stage_regressions"]`.

A contact merged into another (its id in the survivor's `hs_merged_object_ids`) is returned
once, as the survivor, and listed in `FetchResult.merged_ids`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import urllib3
from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
)
from hubspot.crm.contacts.exceptions import ApiException

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
from cadence_pipeline.resources.mapping_config import HubSpotMapping, load_connectors_config
from cadence_pipeline.resources.retry import CappedRetry
from cadence_pipeline.resources.stages import Transition, apply_history, read_history

logger = logging.getLogger(__name__)

# Limits of the real API (CRM v3). List pages hold up to 100 objects and search pages up
# to 200. A search returns at most 10,000 results and takes at most 5 filter groups.
# Search requests are limited to about 5 a second per account.
LIST_PAGE_SIZE = 100
SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_CAP = 10_000
MAX_FILTER_GROUPS = 5
# Batch reads take 100 ids, or 50 when property history is requested.
HISTORY_BATCH_SIZE = 50
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
        searches_per_second: float | None = None,
        max_retries: int = 5,
        backoff_factor: float = 0.5,
        **mapping_overrides: Any,
    ) -> None:
        """Configure the connector; keyword arguments beyond those listed override keys of
        `connectors.hubspot`, such as `property_history` or `date_properties`."""
        if not access_token:
            raise ValueError("HubSpot needs an access token (read it from the environment)")
        configured = load_connectors_config(config.connectors).hubspot
        base = configured.model_dump() if configured is not None else {"fields": {}}
        updates: dict[str, Any] = {"fields": dict(fields)} if fields is not None else {}
        for key, value in (
            ("object", object_type),
            ("default_motion", default_motion),
            ("naive_timezone", naive_timezone),
            ("searches_per_second", searches_per_second),
        ):
            if value is not None:
                updates[key] = value
        updates.update(mapping_overrides)
        try:
            self.mapping = HubSpotMapping.model_validate({**base, **updates})
        except ValueError as error:
            raise ValueError(f"invalid HubSpot mapping (connectors.hubspot): {error}") from error
        self.config = config
        self.fields = dict(self.mapping.fields)
        self.object_type = self.mapping.object
        self.default_motion = self.mapping.default_motion
        self.timezone = timezone or config.timezone
        self.naive_timezone = self.mapping.naive_timezone
        self.request_timeout = request_timeout
        self.list_page_size = list_page_size
        self.search_page_size = search_page_size
        self.search_result_cap = search_result_cap
        rate = self.mapping.searches_per_second
        self.min_search_interval = 1.0 / rate if rate > 0 else 0.0
        self._last_search = 0.0
        # The client's urllib3 retry covers POST (search, batch read) too, because
        # allowed_methods=None means every method; these POSTs only read, so a retry is safe.
        retry = CappedRetry(
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
        """Properties a pull requests: the mapped ones and those merges and stages need."""
        names = [
            *self.fields.values(),
            self.mapping.lifecycle_property,
            self.mapping.merged_ids_property,
            "lastmodifieddate",
        ]
        return list(dict.fromkeys(names))

    @property
    def date_properties(self) -> list[str]:
        names = [self.fields[name] for name in DATETIME_FIELDS if name in self.fields]
        return list(dict.fromkeys(names))

    # Public API.
    def fetch_leads(self, start: datetime, end: datetime) -> FetchResult:
        """Pull every contact with activity in [start, end) and map it to a lead."""
        start, end = _check_window(start, end)
        self.requests = 0
        found = self._search_window(self.date_properties, _millis(start), _millis(end))
        return self._finish(found, start, end, "pull")

    def fetch_modified(self, start: datetime, end: datetime) -> FetchResult:
        """Pull every contact whose lastmodifieddate is in [start, end), archived ones included.

        Archived contacts (listed with `archived=true`, filtered by `archivedAt`) arrive with
        `extra["is_deleted"] = True`.
        """
        start, end = _check_window(start, end)
        self.requests = 0
        start_ms, end_ms = _millis(start), _millis(end)
        found = self._search_window(["lastmodifieddate"], start_ms, end_ms)
        archived: set[str] = set()
        if self.mapping.include_archived:
            for record in self.iter_contacts(archived=True):
                at = record.pop("_archived_at", None)
                if at is not None and start_ms <= _millis(at) < end_ms:
                    found[str(record["hs_object_id"])] = record
                    archived.add(str(record["hs_object_id"]))
        return self._finish(found, start, end, "incremental pull", archived=archived)

    def _search_window(
        self, names: list[str], start_ms: int, end_ms: int
    ) -> dict[str, dict[str, Any]]:
        """Search contacts with any of the date properties `names` in the window, by id."""
        found: dict[str, dict[str, Any]] = {}
        for offset in range(0, len(names), MAX_FILTER_GROUPS):
            chunk = names[offset : offset + MAX_FILTER_GROUPS]
            groups = [{"filters": _window_filters(name, start_ms, end_ms)} for name in chunk]
            rows, capped = self._search_all(groups, sort="hs_object_id", probe=True)
            _collect(found, rows)
            if capped:
                logger.info(
                    "HubSpot search over %s passed the %d-result cap; splitting by date",
                    ", ".join(chunk),
                    self.search_result_cap,
                )
                for name in chunk:
                    self._search_split(name, start_ms, end_ms, found)
        return found

    def _finish(
        self,
        found: dict[str, dict[str, Any]],
        start: datetime,
        end: datetime,
        label: str,
        *,
        archived: set[str] | None = None,
    ) -> FetchResult:
        merged = self._merged(found)
        for old_id in merged:
            found.pop(old_id, None)
        history = self._lifecycle_history(list(found)) if self.mapping.property_history else {}
        result = self._map(found.values(), history)
        result.merged_ids = merged
        for lead in result.leads:
            if archived and lead.lead_id in archived:
                lead.extra["is_deleted"] = True
            old_ids = sorted(old for old, new in merged.items() if new == lead.lead_id)
            if old_ids:
                lead.extra["merged_ids"] = old_ids
        # Every request returns one page, so the two counts agree.
        result.requests = result.pages = self.requests
        logger.info(
            "HubSpot %s %s..%s: %d leads, %d rejected, %d merged away, %d requests",
            label,
            start.isoformat(),
            end.isoformat(),
            len(result.leads),
            len(result.rejected),
            len(merged),
            result.requests,
        )
        return result

    def _merged(self, found: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
        """Return {merged-away id: surviving id} from `hs_merged_object_ids`."""
        merged: dict[str, str] = {}
        for contact_id, row in found.items():
            for old_id in str(row.get(self.mapping.merged_ids_property) or "").split(";"):
                if old_id.strip() and old_id.strip() != contact_id:
                    merged[old_id.strip()] = contact_id
        return merged

    def _lifecycle_history(self, ids: list[str]) -> dict[str, list[Transition]]:
        """Read the lifecycle stage's history of `ids`, 50 contacts a batch read."""
        name = self.mapping.lifecycle_property
        history: dict[str, list[Transition]] = {}
        for offset in range(0, len(ids), HISTORY_BATCH_SIZE):
            chunk = ids[offset : offset + HISTORY_BATCH_SIZE]
            request = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=contact_id) for contact_id in chunk],
                properties=[name],
                properties_with_history=[name],
            )
            page = self._call(
                self.client.crm.contacts.batch_api.read,
                batch_read_input_simple_public_object_id=request,
            )
            for item in page.results or []:
                entries = (item.properties_with_history or {}).get(name) or []
                history[str(item.id)] = [
                    Transition(_aware(entry.timestamp), entry.value)
                    for entry in entries
                    if entry.timestamp is not None
                ]
        return history

    def iter_contacts(self, *, archived: bool = False) -> Iterator[dict[str, Any]]:
        """Yield every contact's properties, paging the list endpoint on `after`.

        With `archived=True` it yields archived contacts, each with `_archived_at`.
        """
        after: str | None = None
        while True:
            page = self._call(
                self.client.crm.contacts.basic_api.get_page,
                limit=self.list_page_size,
                after=after,
                properties=self.properties,
                archived=archived,
            )
            for item in page.results or []:
                record = _record(item)
                if archived:
                    record["_archived_at"] = _aware(item.archived_at) if item.archived_at else None
                yield record
            next_page = page.paging.next if page.paging else None
            if next_page is None or not next_page.after:
                return
            after = next_page.after

    def list_contacts(self) -> FetchResult:
        """Pull every live contact (a full pull) and map it to a lead."""
        self.requests = 0
        found: dict[str, dict[str, Any]] = {}
        _collect(found, self.iter_contacts())
        merged = self._merged(found)
        for old_id in merged:
            found.pop(old_id, None)
        history = self._lifecycle_history(list(found)) if self.mapping.property_history else {}
        result = self._map(found.values(), history)
        result.merged_ids = merged
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
        self, groups: list[dict[str, Any]], *, sort: str, probe: bool = False
    ) -> tuple[list[dict[str, Any]], bool]:
        """Page one search to its end or to the result cap; return (rows, stopped_at_cap).

        With `probe`, a first page whose `total` exceeds the cap stops the search at once,
        because the caller splits the window anyway.
        """
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
            if probe and after == 0 and (page.total or 0) > self.search_result_cap:
                return rows, True
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
                f"HubSpot did not respond after retries ({type(error).__name__}: timeout "
                f"{self.request_timeout} s or dropped connection); check the network and "
                "HubSpot status, then rerun",
                crm=self.crm,
                error_code="CONNECTION_FAILED",
            ) from error

    # Mapping.
    def _map(
        self, records: Any, history: Mapping[str, list[Transition]] | None = None
    ) -> FetchResult:
        result = FetchResult()
        for raw in records:
            record = self._calendar_dates(raw)
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
            if history is not None and lead.lead_id in history:
                stages = read_history(history[lead.lead_id], self.mapping.lifecycle_stages)
                apply_history(lead, stages)
            result.leads.append(lead)
        return result

    def _calendar_dates(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Turn values of date-type properties into `YYYY-MM-DD`, a calendar date.

        HubSpot stores a date property as midnight UTC (epoch milliseconds or ISO), so the
        UTC day is the calendar date, which is then read as midnight in the configured zone.
        """
        out = dict(record)
        for name in self.mapping.date_properties:
            value = out.get(name)
            if value in (None, ""):
                continue
            text = str(value).strip()
            if text.lstrip("-").isdigit():
                out[name] = datetime.fromtimestamp(int(text) / 1000, tz=UTC).date().isoformat()
            elif len(text) > 10 and text[4] == "-":
                out[name] = text[:10]
        return out


def _check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = require_aware(start, "start"), require_aware(end, "end")
    if end <= start:
        raise ValueError(f"empty window: end {end.isoformat()} is not after {start.isoformat()}")
    return start, end


def _aware(value: Any) -> datetime:
    """Return a client-parsed timestamp as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


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
