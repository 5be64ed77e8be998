"""Bulk API 2.0 query jobs on the connector's own requests session.

simple-salesforce 1.12 offers Bulk 2.0 queries (`sf.bulk2.Lead.query`), but its generator
hides the job id and each page's `Sforce-NumberOfRecords`, so a pull could not be checked
against the job's `numberRecordsProcessed`, and its calls carry no timeout. This module makes
the same four calls itself: create the job, poll its state, read every result page by
`Sforce-Locator`, and check the counts.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from simple_salesforce.util import exception_handler

from cadence_pipeline.resources.mapping import ConnectorError

logger = logging.getLogger(__name__)

TERMINAL_STATES = ("JobComplete", "Failed", "Aborted")
MAX_POLL_SECONDS = 30.0


@dataclass
class BulkPull:
    """Rows of one finished query job and the requests it took."""

    job_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    pages: int = 0


class BulkQuery:
    """Runs one SOQL query as a Bulk API 2.0 job and returns every row.

    `send(method, url, **kwargs)` performs one authenticated request and returns the
    response; the connector passes its own, which re-authenticates on an expired session.
    Values in the CSV results are strings; an empty value is returned as None.
    """

    def __init__(
        self,
        *,
        send: Callable[..., requests.Response],
        jobs_url: str,
        page_size: int,
        poll_seconds: float,
        job_timeout: float,
    ) -> None:
        self.send = send
        self.jobs_url = jobs_url.rstrip("/") + "/query"
        self.page_size = page_size
        self.poll_seconds = poll_seconds
        self.job_timeout = job_timeout

    def run(self, query: str, *, include_deleted: bool = False) -> BulkPull:
        payload = {
            "operation": "queryAll" if include_deleted else "query",
            "query": query,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        job = self._json("POST", self.jobs_url, data=json.dumps(payload))
        pull = BulkPull(job_id=str(job["id"]), requests=1)
        info = self._wait(pull)
        expected = int(info.get("numberRecordsProcessed") or 0)
        locator = ""
        while True:
            params: dict[str, Any] = {"maxRecords": self.page_size}
            if locator:
                params["locator"] = locator
            response = self._checked(
                "GET",
                f"{self.jobs_url}/{pull.job_id}/results",
                params=params,
                headers={"Accept": "text/csv"},
            )
            pull.requests += 1
            pull.pages += 1
            page_rows = _parse_csv(response.content.decode("utf-8"))
            announced = response.headers.get("Sforce-NumberOfRecords")
            if announced is None or int(announced) != len(page_rows):
                raise ConnectorError(
                    f"Salesforce Bulk API job {pull.job_id} page announced {announced} records "
                    f"but held {len(page_rows)}; the pull is incomplete. Rerun it.",
                    crm="salesforce",
                    error_code="INCOMPLETE_PULL",
                )
            pull.rows.extend(page_rows)
            locator = response.headers.get("Sforce-Locator", "null")
            if not locator or locator == "null":
                break
        if len(pull.rows) != expected:
            raise ConnectorError(
                f"Salesforce Bulk API job {pull.job_id} processed {expected} records but its "
                f"result pages held {len(pull.rows)}; the pull is incomplete. Rerun it.",
                crm="salesforce",
                error_code="INCOMPLETE_PULL",
            )
        logger.info(
            "Salesforce Bulk API job %s: %d records in %d pages, %d requests",
            pull.job_id,
            len(pull.rows),
            pull.pages,
            pull.requests,
        )
        return pull

    def _wait(self, pull: BulkPull) -> dict[str, Any]:
        """Poll the job until it finishes; the interval grows by half up to 30 s."""
        deadline = time.monotonic() + self.job_timeout
        interval = self.poll_seconds
        while True:
            time.sleep(interval)
            info = self._json("GET", f"{self.jobs_url}/{pull.job_id}")
            pull.requests += 1
            state = info.get("state")
            if state == "JobComplete":
                return info
            if state in TERMINAL_STATES:
                raise ConnectorError(
                    f"Salesforce Bulk API job {pull.job_id} ended in state {state}: "
                    f"{info.get('errorMessage') or 'no message'}. Check the query, then rerun.",
                    crm="salesforce",
                    error_code="BULK_JOB_FAILED",
                )
            if time.monotonic() >= deadline:
                raise ConnectorError(
                    f"Salesforce Bulk API job {pull.job_id} was still {state} after "
                    f"{self.job_timeout:.0f} s; raise connectors.salesforce.bulk_timeout_seconds "
                    "or rerun later",
                    crm="salesforce",
                    error_code="BULK_JOB_TIMEOUT",
                )
            interval = min(max(interval, 0.1) * 1.5, MAX_POLL_SECONDS)

    def _checked(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        response = self.send(method, url, **kwargs)
        if response.status_code >= 300:
            exception_handler(response, name="bulk2")
        return response

    def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        return self._checked(method, url, **kwargs).json()


def _parse_csv(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return [{key: (value if value != "" else None) for key, value in row.items()} for row in reader]
