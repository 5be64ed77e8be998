"""Salesforce lead connector over the REST query API and Bulk API 2.0, with simple-salesforce.

`fetch_leads(start, end)` pulls leads created, or with a mapped stage or signal date, in the
half-open window. The first REST page reports the pull's size (`totalSize`). Up to
`bulk_threshold` records the pull follows `nextRecordsUrl` to the end and checks the count
against `totalSize`; above it the same query runs as a Bulk API 2.0 job.

Where configured, status changes come from `LeadHistory`, signals from `CampaignMember` (the
campaign's type is the signal class) and the account's last activity from `Account`.
`fetch_modified(start, end)` pulls every lead whose `SystemModstamp` lies in the window
through `queryAll`, deleted and merged ones included and flagged.

Errors: an expired session logs in again once and retries the call where username, password
and security token are configured, else it fails with an auth error.
`REQUEST_LIMIT_EXCEEDED` stops the pull at once. 429, 5xx, timeouts and dropped connections
are retried with backoff, honouring `Retry-After`. Usage reported in `Sforce-Limit-Info`
above `api_usage_warning_share` is logged and returned in `FetchResult.warnings`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import requests
import urllib3
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
)
from simple_salesforce.login import SalesforceLogin

from cadence_pipeline.governance.config import GovernanceConfig
from cadence_pipeline.governance.records import Lead, RecordError
from cadence_pipeline.resources.connector import FetchResult
from cadence_pipeline.resources.mapping import (
    DATETIME_FIELDS,
    ConnectorError,
    lead_from_record,
    parse_bool,
    parse_instant,
    require_aware,
)
from cadence_pipeline.resources.mapping_config import SalesforceMapping, load_connectors_config
from cadence_pipeline.resources.retry import CappedRetry
from cadence_pipeline.resources.salesforce_bulk import BulkQuery
from cadence_pipeline.resources.stages import Transition, apply_history, read_history

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
RETRY_STATUSES = (429, 500, 502, 503, 504)
# Ids per `Id IN (...)` query: 200 ids of 18 characters keep a query near 4,500 characters,
# well inside the REST API's URI limit of 16,384 characters.
IDS_PER_QUERY = 200
RESTARTABLE = ("INVALID_QUERY_LOCATOR", "INVALID_LOCATOR")

# Fixes for the Salesforce errorCodes a lead pull meets.
_FIXES = {
    "INVALID_SESSION_ID": "the session expired or is invalid; get a new session id (or use "
    "username/password/security token so the client logs in again)",
    "REQUEST_LIMIT_EXCEEDED": "the org's API request limit is used up; the pull stopped "
    "without retrying. Wait for the limit to reset or raise it, then rerun",
    "MALFORMED_QUERY": "the generated SOQL was rejected; check the field mapping in "
    "connectors.salesforce.fields",
    "INVALID_FIELD": "a mapped field does not exist on the object or has another type; fix "
    "connectors.salesforce.fields (Date fields belong in connectors.salesforce.date_fields)",
    "INVALID_TYPE": "the object does not exist; fix connectors.salesforce.object",
    "INVALID_QUERY_LOCATOR": "the query cursor expired; rerun the pull",
}

_SOQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def soql_quote(value: str, *, like: bool = False) -> str:
    """Return `value` as a quoted SOQL string literal.

    Escapes backslashes, quotes and control characters; with `like=True` it also escapes
    the LIKE wildcards `%` and `_`, so they match literally.
    """
    escaped = "".join(_SOQL_ESCAPES.get(char, char) for char in value)
    if like:
        escaped = escaped.replace("%", "\\%").replace("_", "\\_")
    return f"'{escaped}'"


def soql_datetime(value: datetime) -> str:
    """Return a SOQL datetime literal in UTC; a naive datetime raises ValueError."""
    return require_aware(value, "datetime literal").strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_date(value: datetime, timezone: str) -> str:
    """Return the SOQL date literal of the calendar day `value` falls on in `timezone`."""
    aware = require_aware(value, "date literal")
    return aware.astimezone(ZoneInfo(timezone)).date().isoformat()


class LoopbackHTTPAdapter(HTTPAdapter):
    """Send https:// requests for a loopback host over plain http.

    simple-salesforce builds every URL with https://; the emulators listen on plain http on
    127.0.0.1. Only loopback hosts are rewritten; other hosts keep TLS.
    """

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any):  # type: ignore[override]
        parts = urlsplit(request.url or "")
        if parts.scheme == "https" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
            request.url = urlunsplit(("http", *parts[1:]))
        return super().send(request, *args, **kwargs)


class TimeoutSession(requests.Session):
    """A requests session that applies `timeout` to every request that names none.

    simple-salesforce passes no timeout on its login and Bulk API calls.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def build_session(
    *, max_retries: int, backoff_factor: float, timeout: float = 30.0
) -> requests.Session:
    """Return a session that retries 429, 5xx and connection failures, with a default timeout.

    GET and POST are retried: the connector only reads, and its POSTs (login, creating a
    Bulk query job) have no side effect that a repeat would double. Retry-After is honoured.
    After the last retry the error response itself is returned, so simple-salesforce raises
    its usual exception with the API's body.
    """
    retry = CappedRetry(
        total=max_retries,
        connect=max_retries,
        read=max_retries,
        status=max_retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "POST"}),
        backoff_factor=backoff_factor,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = TimeoutSession(timeout)
    session.trust_env = False
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    for host in LOOPBACK_HOSTS:
        session.mount(f"https://{host}", LoopbackHTTPAdapter(max_retries=retry))
    return session


class SalesforceConnector:
    """Pulls leads from a Salesforce org (or the emulator); see the module docstring."""

    crm = "salesforce"

    def __init__(
        self,
        *,
        config: GovernanceConfig,
        instance_url: str | None = None,
        session_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        security_token: str | None = None,
        domain: str | None = None,
        login_url: str | None = None,
        fields: Mapping[str, str] | None = None,
        object_name: str | None = None,
        default_motion: str | None = None,
        timezone: str | None = None,
        naive_timezone: str | None = None,
        request_timeout: float = 30.0,
        api_version: str = "59.0",
        max_retries: int = 3,
        backoff_factor: float = 0.5,
        **mapping_overrides: Any,
    ) -> None:
        """Configure the connector; nothing is sent until the first pull.

        Credentials: `instance_url` and `session_id`, or `username`, `password` and
        `security_token` (SOAP login at `https://<domain>.salesforce.com`, or at `login_url`
        when given), or both, so an expired session is renewed by logging in. Keyword
        arguments beyond those listed override keys of `connectors.salesforce`, such as
        `bulk_threshold` or `stage_history`.
        """
        configured = load_connectors_config(config.connectors).salesforce
        base = configured.model_dump() if configured is not None else {"fields": {}}
        updates = {"fields": dict(fields)} if fields is not None else {}
        if object_name is not None:
            updates["object"] = object_name
        if default_motion is not None:
            updates["default_motion"] = default_motion
        if naive_timezone is not None:
            updates["naive_timezone"] = naive_timezone
        updates.update(mapping_overrides)
        try:
            self.mapping = SalesforceMapping.model_validate({**base, **updates})
        except ValueError as error:
            raise ValueError(
                f"invalid Salesforce mapping (connectors.salesforce): {error}"
            ) from error
        self.config = config
        self.fields = dict(self.mapping.fields)
        self.object_name = self.mapping.object
        self.default_motion = self.mapping.default_motion
        self.timezone = timezone or config.timezone
        self.naive_timezone = self.mapping.naive_timezone
        self.request_timeout = request_timeout
        self.api_version = api_version
        self.session = build_session(
            max_retries=max_retries, backoff_factor=backoff_factor, timeout=request_timeout
        )
        self._credentials = (
            {"username": username, "password": password, "security_token": security_token}
            if username and password and security_token is not None
            else None
        )
        self._domain = domain
        self._login_url = login_url.rstrip("/") if login_url else None
        self._instance = urlsplit(instance_url).netloc or instance_url if instance_url else None
        self._session_id = session_id
        if not (self._instance and session_id) and self._credentials is None:
            raise ValueError(
                "Salesforce needs instance_url and session_id, or username, password and "
                "security_token (read them from the environment)"
            )
        self._client: Salesforce | None = None
        self._result: FetchResult | None = None
        self._usage_warned = False
        self.logins = 0

    # Authentication.
    @property
    def client(self) -> Salesforce:
        if self._client is None:
            if self._instance and self._session_id:
                self._client = self._direct_client(self._session_id, self._instance)
            else:
                self._login()
        assert self._client is not None
        return self._client

    def _direct_client(self, session_id: str, instance: str) -> Salesforce:
        return Salesforce(
            instance=instance, session_id=session_id, version=self.api_version, session=self.session
        )

    def _login(self) -> None:
        assert self._credentials is not None
        try:
            session_id, instance = SalesforceLogin(
                **self._credentials,
                sf_version=self.api_version,
                session=self.session,
                domain=self._domain,
                scratch_url=self._login_url,
            )
        except SalesforceAuthenticationFailed as error:
            raise ConnectorError(
                f"Salesforce login failed ({error.code}): {error.message}. Check "
                "SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN",
                crm=self.crm,
                error_code="INVALID_LOGIN",
            ) from error
        except (requests.Timeout, requests.ConnectionError) as error:
            raise self._network_error(error) from error
        self.logins += 1
        logger.info("logged in to Salesforce (login %d)", self.logins)
        self._client = self._direct_client(session_id, instance)

    def _call(self, action: Callable[[Salesforce], Any]) -> Any:
        """Run one API call; on an expired session log in again once and repeat it."""
        try:
            try:
                return action(self.client)
            except SalesforceExpiredSession as error:
                if self._credentials is None:
                    raise _connector_error(error) from error
                logger.warning("Salesforce session expired; logging in again once")
                self._login()
                return action(self.client)
        except SalesforceError as error:
            raise _connector_error(error) from error
        except (requests.Timeout, requests.ConnectionError) as error:
            raise self._network_error(error) from error
        finally:
            self._check_usage()

    def _network_error(self, error: requests.RequestException) -> ConnectorError:
        where = self._instance or self._login_url or f"{self._domain or 'login'}.salesforce.com"
        if _is_timeout(error):
            return ConnectorError(
                f"Salesforce did not respond within {self.request_timeout} s after retries; "
                "check the instance status or raise the request timeout, then rerun",
                crm=self.crm,
                error_code="TIMEOUT",
            )
        return ConnectorError(
            f"could not connect to Salesforce at {where} after retries "
            f"({type(error).__name__}); check the instance URL and network, then rerun",
            crm=self.crm,
            error_code="CONNECTION_FAILED",
        )

    def _check_usage(self) -> None:
        usage = self._client.api_usage.get("api-usage") if self._client is not None else None
        result = self._result
        if usage is None or result is None or not usage.total:
            return
        share = usage.used / usage.total
        if share > self.mapping.api_usage_warning_share and not self._usage_warned:
            self._usage_warned = True
            message = (
                f"Salesforce API usage is {usage.used}/{usage.total} ({share:.0%}) of the daily "
                f"limit, above the warning share {self.mapping.api_usage_warning_share:.0%}"
            )
            logger.warning(message)
            result.warnings.append(message)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send one authenticated request on the session (for the Bulk API client)."""

        extra_headers = kwargs.pop("headers", {})

        def action(client: Salesforce) -> requests.Response:
            headers = {**client.headers, **extra_headers}
            response = self.session.request(method, url, headers=headers, **kwargs)
            if response.status_code == 401:
                raise SalesforceExpiredSession(url, 401, "bulk2", response.json())
            usage = response.headers.get("Sforce-Limit-Info")
            if usage:
                client.api_usage = Salesforce.parse_api_usage(usage)
            return response

        return self._call(action)

    # Query building.
    def _window(self, name: str, start: datetime, end: datetime) -> str:
        if name in self.mapping.date_fields:
            low, high = soql_date(start, self.timezone), soql_date(end, self.timezone)
        else:
            low, high = soql_datetime(start), soql_datetime(end)
        return f"({name} >= {low} AND {name} < {high})"

    @property
    def selected_fields(self) -> list[str]:
        names = list(dict.fromkeys(self.fields.values()))
        for extra in ("IsDeleted", "MasterRecordId"):
            if extra not in names:
                names.append(extra)
        return names

    def build_query(self, start: datetime, end: datetime) -> str:
        """Return the SOQL for leads with any activity in [start, end)."""
        date_fields = [self.fields[name] for name in DATETIME_FIELDS if name in self.fields]
        conditions = " OR ".join(
            self._window(name, start, end) for name in dict.fromkeys(date_fields)
        )
        selected = ", ".join(dict.fromkeys(self.fields.values()))
        return f"SELECT {selected} FROM {self.object_name} WHERE {conditions}"

    def build_modified_query(self, start: datetime, end: datetime) -> str:
        """Return the SOQL for every lead whose SystemModstamp lies in [start, end)."""
        return (
            f"SELECT {', '.join(self.selected_fields)} FROM {self.object_name} "
            f"WHERE {self._window('SystemModstamp', start, end)}"
        )

    # Public API.
    def fetch_leads(self, start: datetime, end: datetime) -> FetchResult:
        """Pull every lead with activity in [start, end); see the module docstring."""
        start, end = _check_window(start, end)
        result = self._begin()
        rows = self._rows(self.build_query(start, end), result)
        self._enrich(rows, result, start, end)
        return self._finish(rows, result, start, end, "pull")

    def fetch_modified(self, start: datetime, end: datetime) -> FetchResult:
        """Pull every lead whose SystemModstamp is in [start, end), deleted ones included.

        Uses queryAll, so deleted leads arrive with `extra["is_deleted"] = True`; a lead merged
        into another has `extra["merged_into"]` and an entry in `FetchResult.merged_ids`.
        Their full status history and campaign signals are read where configured.
        """
        start, end = _check_window(start, end)
        result = self._begin()
        rows = self._rows(self.build_modified_query(start, end), result, include_deleted=True)
        self._enrich(rows, result, start, end, modified=True)
        return self._finish(rows, result, start, end, "incremental pull")

    # Pulling.
    def _begin(self) -> FetchResult:
        self._result = FetchResult()
        self._usage_warned = False
        return self._result

    def _rows(
        self, query: str, result: FetchResult, *, include_deleted: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Run the lead query by REST, or by Bulk API 2.0 above the threshold, keyed by id."""
        id_field = self.fields["lead_id"]
        rows = self._query(query, result, include_deleted=include_deleted, bulk=True)
        return {str(row.get(id_field)): row for row in rows}

    def _query(
        self, query: str, result: FetchResult, *, include_deleted: bool = False, bulk: bool = False
    ) -> list[dict[str, Any]]:
        """Return every row of `query`; an expired query cursor restarts the query once."""
        for attempt in (1, 2):
            try:
                if bulk and self.mapping.bulk_threshold == 0:
                    return self._bulk(query, result, include_deleted)
                return self._rest(query, result, include_deleted, bulk)
            except ConnectorError as error:
                if error.error_code not in RESTARTABLE or attempt == 2:
                    raise
                logger.warning("Salesforce query cursor expired; restarting the query once")
        raise AssertionError("unreachable")

    def _rest(
        self, query: str, result: FetchResult, include_deleted: bool, bulk: bool
    ) -> list[dict[str, Any]]:
        page = self._call(
            lambda client: client.query(
                query, include_deleted=include_deleted, timeout=self.request_timeout
            )
        )
        result.requests += 1
        result.pages += 1
        total = int(page["totalSize"])
        if bulk and total > self.mapping.bulk_threshold:
            logger.info(
                "Salesforce query matches %d records, above bulk_threshold %d; using Bulk API 2.0",
                total,
                self.mapping.bulk_threshold,
            )
            return self._bulk(query, result, include_deleted)
        rows: list[dict[str, Any]] = []
        while True:
            rows.extend(page["records"])
            if page.get("done", True):
                break
            next_url = page.get("nextRecordsUrl")
            if not next_url:
                raise ConnectorError(
                    "Salesforce returned done=false without nextRecordsUrl; the pull is "
                    "incomplete. Rerun it; if it repeats, report the API response.",
                    crm=self.crm,
                    error_code="INCOMPLETE_PULL",
                )
            page = self._call(
                lambda client, url=next_url: client.query_more(
                    url, identifier_is_url=True, timeout=self.request_timeout
                )
            )
            result.requests += 1
            result.pages += 1
        if len(rows) != total:
            raise ConnectorError(
                f"Salesforce reported totalSize {total} but the pages held {len(rows)} "
                "records; the pull is incomplete. Rerun it.",
                crm=self.crm,
                error_code="INCOMPLETE_PULL",
            )
        return rows

    def _bulk(self, query: str, result: FetchResult, include_deleted: bool) -> list[dict[str, Any]]:
        bulk = BulkQuery(
            send=self._send,
            jobs_url=self.client.bulk2_url,
            page_size=self.mapping.bulk_page_size,
            poll_seconds=self.mapping.bulk_poll_seconds,
            job_timeout=self.mapping.bulk_timeout_seconds,
        )
        try:
            pull = bulk.run(query, include_deleted=include_deleted)
        except SalesforceError as error:
            raise _connector_error(error) from error
        result.requests += pull.requests
        result.pages += pull.pages
        return pull.rows

    def _by_ids(
        self,
        object_name: str,
        fields: Iterable[str],
        id_field: str,
        ids: Iterable[str],
        result: FetchResult,
        condition: str = "",
    ) -> list[dict[str, Any]]:
        """Query `object_name` for the given ids, IDS_PER_QUERY ids a query."""
        selected = ", ".join(dict.fromkeys(fields))
        unique = sorted(set(ids))
        rows: list[dict[str, Any]] = []
        for offset in range(0, len(unique), IDS_PER_QUERY):
            chunk = ", ".join(
                soql_quote(value) for value in unique[offset : offset + IDS_PER_QUERY]
            )
            where = f"{id_field} IN ({chunk})" + (f" AND {condition}" if condition else "")
            rows.extend(self._query(f"SELECT {selected} FROM {object_name} WHERE {where}", result))
        return rows

    # Enrichment: history, campaign signals, account activity.
    def _enrich(
        self,
        rows: dict[str, dict[str, Any]],
        result: FetchResult,
        start: datetime,
        end: datetime,
        *,
        modified: bool = False,
    ) -> None:
        self._history: dict[str, list[Transition]] = defaultdict(list)
        self._signals: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
        self._account_activity: dict[str, datetime | None] = {}
        history = self.mapping.stage_history
        campaigns = self.mapping.campaign_signals
        if history.enabled:
            self._read_history(rows, result, start, end, full=modified)
        if campaigns.enabled:
            self._read_campaign_signals(rows, result, start, end, all_time=modified)
        if self.mapping.account_activity.enabled and "account_id" in self.fields:
            self._read_account_activity(rows, result)

    def _add_missing_leads(
        self, rows: dict[str, dict[str, Any]], ids: Iterable[str], result: FetchResult
    ) -> None:
        missing = set(ids) - set(rows)
        if missing:
            id_field = self.fields["lead_id"]
            for row in self._by_ids(
                self.object_name, self.fields.values(), id_field, missing, result
            ):
                rows[str(row.get(id_field))] = row

    def _read_history(
        self,
        rows: dict[str, dict[str, Any]],
        result: FetchResult,
        start: datetime,
        end: datetime,
        *,
        full: bool,
    ) -> None:
        """Read status changes: those in the window, then earlier ones of the leads involved.

        Changes after `end` are not read, so stage dates from history are as of the window's
        end, while mapped date fields show the record's current values. A stage's date is the
        earlier of its date field and its first entry in history.
        """
        config = self.mapping.stage_history
        fields = [config.parent_field, "NewValue", "CreatedDate"]
        field_filter = f"Field = {soql_quote(config.field)}"
        if full:
            changes = self._by_ids(
                config.object,
                fields,
                config.parent_field,
                rows,
                result,
                f"{field_filter} AND CreatedDate < {soql_datetime(end)}",
            )
        else:
            window = self._window("CreatedDate", start, end)
            query = (
                f"SELECT {', '.join(fields)} FROM {config.object} WHERE {field_filter} AND {window}"
            )
            changes = self._query(query, result)
            changed = {str(row[config.parent_field]) for row in changes}
            self._add_missing_leads(rows, changed, result)
            earlier = [
                lead_id
                for lead_id, row in rows.items()
                if lead_id in changed or self._created_before(row, start)
            ]
            changes += self._by_ids(
                config.object,
                fields,
                config.parent_field,
                earlier,
                result,
                f"{field_filter} AND CreatedDate < {soql_datetime(start)}",
            )
        for row in changes:
            at = self._instant(row.get("CreatedDate"), "CreatedDate", str(row[config.parent_field]))
            if at is not None:
                value = row.get("NewValue")
                self._history[str(row[config.parent_field])].append(
                    Transition(at, None if value is None else str(value))
                )

    def _read_campaign_signals(
        self,
        rows: dict[str, dict[str, Any]],
        result: FetchResult,
        start: datetime,
        end: datetime,
        *,
        all_time: bool,
    ) -> None:
        config = self.mapping.campaign_signals
        fields = [config.lead_field, config.campaign_field, config.date_field]
        condition = f"{config.responded_field} = true" if config.responded_only else ""
        if all_time:
            members = self._by_ids(
                config.object, fields, config.lead_field, rows, result, condition
            )
        else:
            where = f"{config.lead_field} != null AND {self._window(config.date_field, start, end)}"
            if condition:
                where += f" AND {condition}"
            members = self._query(
                f"SELECT {', '.join(fields)} FROM {config.object} WHERE {where}", result
            )
            self._add_missing_leads(rows, (str(row[config.lead_field]) for row in members), result)
        campaign_ids = {str(row[config.campaign_field]) for row in members}
        types = {
            str(row["Id"]): row.get(config.class_field)
            for row in self._by_ids(
                config.campaign_object, ["Id", config.class_field], "Id", campaign_ids, result
            )
        }
        for row in members:
            lead_id = str(row[config.lead_field])
            signal_class = types.get(str(row[config.campaign_field]))
            at = self._instant(row.get(config.date_field), config.date_field, lead_id)
            if signal_class and at is not None:
                self._signals[lead_id].append((str(signal_class), at))

    def _read_account_activity(self, rows: dict[str, dict[str, Any]], result: FetchResult) -> None:
        config = self.mapping.account_activity
        account_field = self.fields["account_id"]
        accounts = {str(row[account_field]) for row in rows.values() if row.get(account_field)}
        for row in self._by_ids(
            config.object, [config.id_field, config.date_field], config.id_field, accounts, result
        ):
            account_id = str(row[config.id_field])
            self._account_activity[account_id] = self._instant(
                row.get(config.date_field), config.date_field, account_id
            )

    def _created_before(self, row: Mapping[str, Any], start: datetime) -> bool:
        created_field = self.fields["created_at"]
        try:
            created = self._instant(row.get(created_field), created_field, "?")
        except RecordError:
            return True
        return created is None or created < start

    def _instant(self, value: Any, field_name: str, record_id: str) -> datetime | None:
        return parse_instant(
            value,
            field_name=field_name,
            timezone=self.timezone,
            origin=f"salesforce {self.object_name}",
            record_id=record_id,
            naive_timezone=self.naive_timezone,
        )

    # Mapping.
    def _finish(
        self,
        rows: dict[str, dict[str, Any]],
        result: FetchResult,
        start: datetime,
        end: datetime,
        label: str,
    ) -> FetchResult:
        origin = f"salesforce {self.object_name}"
        for lead_id, row in rows.items():
            try:
                lead = lead_from_record(
                    row,
                    crm=self.crm,
                    fields=self.fields,
                    config=self.config,
                    origin=origin,
                    default_motion=self.default_motion,
                    timezone=self.timezone,
                    naive_timezone=self.naive_timezone,
                )
                self._decorate(lead, lead_id, row, result)
            except RecordError as error:
                result.rejected.append(error)
                continue
            result.leads.append(lead)
        self._result = None
        logger.info(
            "Salesforce %s %s..%s: %d leads, %d rejected, %d requests, %d pages",
            label,
            start.isoformat(),
            end.isoformat(),
            len(result.leads),
            len(result.rejected),
            result.requests,
            result.pages,
        )
        return result

    def _decorate(
        self, lead: Lead, lead_id: str, row: Mapping[str, Any], result: FetchResult
    ) -> None:
        history = self.mapping.stage_history
        if history.enabled:
            apply_history(lead, read_history(self._history.get(lead_id, []), history.statuses))
        signals = sorted(self._signals.get(lead_id, []), key=lambda item: item[1])
        if lead.signal_class and lead.signal_at is not None:
            signals = sorted({(lead.signal_class, lead.signal_at), *signals}, key=lambda s: s[1])
        if signals:
            lead.signals = signals
            if lead.signal_class is None:
                lead.signal_class, lead.signal_at = signals[0]
        if lead.account_id in self._account_activity:
            activity = self._account_activity[lead.account_id]
            lead.extra["account_last_activity_at"] = activity.isoformat() if activity else None
        deleted = parse_bool(
            row.get("IsDeleted"), field_name="IsDeleted", origin="salesforce", record_id=lead_id
        )
        if deleted:
            lead.extra["is_deleted"] = True
        master = row.get("MasterRecordId")
        if master:
            lead.extra["merged_into"] = str(master)
            result.merged_ids[lead_id] = str(master)


def _check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = require_aware(start, "start"), require_aware(end, "end")
    if end <= start:
        raise ValueError(f"empty window: end {end.isoformat()} is not after {start.isoformat()}")
    return start, end


def _is_timeout(error: requests.RequestException) -> bool:
    """Return whether the error ends in a read timeout; requests wraps retried ones."""
    if isinstance(error, requests.Timeout):
        return True
    reason = getattr(error.args[0] if error.args else None, "reason", None)
    return isinstance(reason, urllib3.exceptions.ReadTimeoutError)


def _connector_error(error: SalesforceError) -> ConnectorError:
    content = error.content
    code = None
    message = str(content)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        code = content[0].get("errorCode")
        message = content[0].get("message", message)
    fix = _FIXES.get(code or "", "retry later; if it persists, check Salesforce status")
    return ConnectorError(
        f"Salesforce returned HTTP {error.status} {code or 'error'}: {message}. Fix: {fix}",
        crm="salesforce",
        error_code=code,
        status=error.status,
    )
