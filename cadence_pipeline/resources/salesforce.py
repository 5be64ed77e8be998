"""Salesforce lead connector over the REST query API, with simple-salesforce.

`fetch_leads` runs one SOQL query for leads created or with a mapped stage or signal date in
the window, follows `nextRecordsUrl` to the end and checks the count against `totalSize`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from urllib3.util.retry import Retry

from cadence_pipeline.governance.config import GovernanceConfig
from cadence_pipeline.governance.records import RecordError
from cadence_pipeline.resources.connector import FetchResult
from cadence_pipeline.resources.mapping import (
    DATETIME_FIELDS,
    ConnectorError,
    lead_from_record,
    require_aware,
)

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
RETRY_STATUSES = (429, 500, 502, 503, 504)

# What to do for the Salesforce errorCodes a lead pull meets.
_FIXES = {
    "INVALID_SESSION_ID": "the session expired or is invalid; get a new session id (or use "
    "username/password/security token so the client logs in again)",
    "REQUEST_LIMIT_EXCEEDED": "the org's API request limit is used up; wait for it to reset "
    "or raise the limit, then rerun",
    "MALFORMED_QUERY": "the generated SOQL was rejected; check the field mapping in "
    "connectors.salesforce.fields",
    "INVALID_FIELD": "a mapped field does not exist on the object or has another type; fix "
    "connectors.salesforce.fields",
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


def build_session(*, max_retries: int, backoff_factor: float) -> requests.Session:
    """Return a requests session that retries GETs on 429, 5xx and connection failures.

    Retry-After is honoured; after the last retry the error response itself is returned,
    so simple-salesforce raises its usual exception with the API's body.
    """
    retry = Retry(
        total=max_retries,
        connect=max_retries,
        read=max_retries,
        status=max_retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=backoff_factor,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    for host in LOOPBACK_HOSTS:
        session.mount(f"https://{host}", LoopbackHTTPAdapter(max_retries=retry))
    return session


class SalesforceConnector:
    """Pulls leads from a Salesforce org (or the emulator) through the REST query API."""

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
        fields: Mapping[str, str] | None = None,
        object_name: str | None = None,
        default_motion: str | None = None,
        timezone: str | None = None,
        naive_timezone: str | None = None,
        request_timeout: float = 30.0,
        api_version: str = "59.0",
        max_retries: int = 3,
        backoff_factor: float = 0.5,
    ) -> None:
        settings = config.connectors.get("salesforce", {})
        self.config = config
        self.fields = dict(fields if fields is not None else settings.get("fields", {}))
        if "lead_id" not in self.fields or "created_at" not in self.fields:
            raise ValueError(
                "the Salesforce field mapping needs lead_id and created_at; set them in "
                "connectors.salesforce.fields"
            )
        self.object_name = object_name or settings.get("object", "Lead")
        self.default_motion = default_motion or settings.get("default_motion")
        self.timezone = timezone or config.timezone
        self.naive_timezone = naive_timezone
        self.request_timeout = request_timeout
        self.session = build_session(max_retries=max_retries, backoff_factor=backoff_factor)
        common = {"version": api_version, "session": self.session}
        if session_id is not None and instance_url is not None:
            instance = urlsplit(instance_url).netloc or instance_url
            self.client = Salesforce(instance=instance, session_id=session_id, **common)
        elif username and password and security_token is not None:
            self.client = Salesforce(
                username=username,
                password=password,
                security_token=security_token,
                domain=domain,
                **common,
            )
        else:
            raise ValueError(
                "Salesforce needs instance_url and session_id, or username, password and "
                "security_token (read them from the environment)"
            )

    # Query building.
    def build_query(self, start: datetime, end: datetime) -> str:
        """Return the SOQL for leads with any activity in [start, end)."""
        low, high = soql_datetime(start), soql_datetime(end)
        date_fields = [self.fields[name] for name in DATETIME_FIELDS if name in self.fields]
        conditions = " OR ".join(
            f"({name} >= {low} AND {name} < {high})" for name in dict.fromkeys(date_fields)
        )
        selected = ", ".join(dict.fromkeys(self.fields.values()))
        # NOTE: every mapped stage field is compared with DateTime literals. Salesforce rejects
        # that for a Date-typed custom field (INVALID_FIELD), which would need a date literal.
        return f"SELECT {selected} FROM {self.object_name} WHERE {conditions}"

    # Pulling.
    def fetch_leads(self, start: datetime, end: datetime) -> FetchResult:
        """Pull every lead with activity in [start, end), following query locators to the end.

        A query cursor that expires mid-pull (INVALID_QUERY_LOCATOR) restarts the query once.
        """
        start, end = require_aware(start, "start"), require_aware(end, "end")
        if end <= start:
            raise ValueError(
                f"empty window: end {end.isoformat()} is not after {start.isoformat()}"
            )
        query = self.build_query(start, end)
        for attempt in (1, 2):
            try:
                return self._pull(query, start, end)
            except ConnectorError as error:
                if error.error_code != "INVALID_QUERY_LOCATOR" or attempt == 2:
                    raise
                logger.warning("Salesforce query locator expired; restarting the pull once")
        raise AssertionError("unreachable")

    def _pull(self, query: str, start: datetime, end: datetime) -> FetchResult:
        result = FetchResult()
        page = self._call(self.client.query, query)
        result.requests += 1
        result.pages += 1
        total = int(page["totalSize"])
        records: dict[str, dict[str, Any]] = {}
        rows_seen = 0
        while True:
            for row in page["records"]:
                rows_seen += 1
                records[str(row.get(self.fields["lead_id"]))] = row
            if page.get("done", True):
                break
            next_url = page.get("nextRecordsUrl")
            if not next_url:
                raise ConnectorError(
                    "Salesforce returned done=false without nextRecordsUrl; the pull is "
                    "incomplete. Rerun it; if it repeats, report the API response.",
                    crm=self.crm,
                )
            page = self._call(self.client.query_more, next_url, identifier_is_url=True)
            result.requests += 1
            result.pages += 1
        if rows_seen != total:
            raise ConnectorError(
                f"Salesforce reported totalSize {total} but the pages held {rows_seen} "
                f"records for {start.isoformat()}..{end.isoformat()}; the pull is incomplete. "
                "Rerun it.",
                crm=self.crm,
            )
        origin = f"salesforce {self.object_name}"
        for row in records.values():
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
            except RecordError as error:
                result.rejected.append(error)
                continue
            result.leads.append(lead)
        logger.info(
            "Salesforce pull %s..%s: %d leads, %d rejected, %d pages",
            start.isoformat(),
            end.isoformat(),
            len(result.leads),
            len(result.rejected),
            result.pages,
        )
        return result

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, timeout=self.request_timeout, **kwargs)
        except SalesforceError as error:
            raise _connector_error(error) from error
        except (requests.Timeout, requests.ConnectionError) as error:
            if not _is_timeout(error):
                raise ConnectorError(
                    f"could not connect to Salesforce at {self.client.sf_instance} after "
                    f"retries ({type(error).__name__}); check the instance URL and network, "
                    "then rerun",
                    crm=self.crm,
                    error_code="CONNECTION_FAILED",
                ) from error
            raise ConnectorError(
                f"Salesforce did not answer within {self.request_timeout} s after retries; "
                "check the instance status or raise the request timeout, then rerun",
                crm=self.crm,
                error_code="TIMEOUT",
            ) from error


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
