"""Count the requests a large pull takes through the emulators, against the paging minimum.

Writes N Salesforce leads and N HubSpot contacts (all created in one week) as fixtures in a
temporary folder, starts the emulators with the real page sizes and limits, pulls the week
through `SalesforceConnector` and `HubSpotConnector`, and counts requests on the emulator
side. Each pull must return every record exactly once. Run:

    .venv/bin/python scripts/bench_connectors.py --leads 50000
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cadence_pipeline.emulators import EMULATOR_TOKEN, Fault, RunningEmulators, start_emulators
from cadence_pipeline.governance.config import load_config
from cadence_pipeline.resources.connector import FetchResult
from cadence_pipeline.resources.hubspot import HubSpotConnector
from cadence_pipeline.resources.salesforce import SalesforceConnector

START = datetime(2026, 11, 2, tzinfo=UTC)
END = START + timedelta(days=7)
REST_PAGE = 2000
HUBSPOT_LIST_PAGE = 100
HUBSPOT_SEARCH_PAGE = 200
HUBSPOT_SEARCH_CAP = 10_000
FAULTS = 3  # injected per run in the "with faults" rows, within the retry budget
# Searches besides the window pages: the first page of the first filter-group chunk (its
# `total` shows the cap is passed), one page for each of the chunk's four other date
# properties, and one for the second chunk (seven date properties, five groups a search).
SEARCH_PROBES = 1 + 4 + 1


def search_pages(count: int) -> int:
    """Return the search pages that read `count` records sharing one date property.

    Each window reads up to the cap, sorted by the property; the next window starts at the
    last timestamp read (inclusive, for records sharing it), so it reads that record again.
    """
    pages, remaining, overlap = 0, count, 0
    while remaining > 0:
        take = min(HUBSPOT_SEARCH_CAP, remaining + overlap)
        pages += math.ceil(take / HUBSPOT_SEARCH_PAGE)
        remaining -= take - overlap
        overlap = 1
    return pages


@dataclass
class Row:
    pull: str
    records: int
    unique: int
    requests: int
    minimum: int
    seconds: float


def write_fixtures(root: Path, count: int) -> None:
    """Write `count` leads and `count` contacts spread evenly over the benchmark week."""
    step = (END - START) / count
    (root / "salesforce").mkdir(parents=True)
    (root / "hubspot").mkdir(parents=True)
    with (root / "salesforce" / "Lead.jsonl").open("w", encoding="utf-8") as handle:
        for index in range(count):
            created = (START + step * index).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
            record = {
                "Id": f"00Q{index:015d}",
                "CreatedDate": created,
                "SystemModstamp": created,
                "IsDeleted": False,
                "LeadSource": "Paid Search",
                "Email": f"lead{index}@example.com",
                "Company": f"Company {index}",
                "NumberOfEmployees": 50,
            }
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
    with (root / "hubspot" / "contacts.jsonl").open("w", encoding="utf-8") as handle:
        for index in range(count):
            created = (START + step * index).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            record = {
                "id": str(1_000_000 + index),
                "properties": {
                    "createdate": created,
                    "lastmodifieddate": created,
                    "email": f"contact{index}@example.com",
                    "lead_source": "Paid Social",
                },
                "createdAt": created,
                "updatedAt": created,
                "archived": False,
            }
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")


def measure(
    running: RunningEmulators, name: str, pull: Callable[[], FetchResult], minimum: int
) -> Row:
    emulator = running.salesforce if name.startswith("Salesforce") else running.hubspot
    before = len(emulator.request_log)
    began = time.monotonic()
    result = pull()
    seconds = time.monotonic() - began
    ids = [lead.lead_id for lead in result.leads]
    return Row(
        pull=name,
        records=len(ids),
        unique=len(set(ids)),
        requests=len(emulator.request_log) - before,
        minimum=minimum,
        seconds=seconds,
    )


def add_faults(running: RunningEmulators) -> None:
    running.salesforce.faults.add(
        "GET",
        "/services/data",
        Fault.http_status(503, retry_after=0),
        Fault.drop(),
        Fault.rate_limited(retry_after=0),
    )
    running.hubspot.faults.add(
        "*",
        "/crm",
        Fault.rate_limited(retry_after=0),
        Fault.http_status(502),
        Fault.drop(),
    )


def run(count: int) -> list[Row]:
    config = load_config()
    rest_minimum = math.ceil(count / REST_PAGE)
    # Bulk: the REST probe page, job creation, one status poll, and the result pages.
    bulk_minimum = 3 + math.ceil(count / 50_000)
    bulk_small_minimum = 3 + math.ceil(count / 10_000)
    list_minimum = math.ceil(count / HUBSPOT_LIST_PAGE)
    search_minimum = search_pages(count) + SEARCH_PROBES if count > HUBSPOT_SEARCH_CAP else None
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="cadence-bench-") as folder:
        fixtures = Path(folder) / "fixtures"
        write_fixtures(fixtures, count)
        with start_emulators(fixtures, Path(folder) / "state", latency=0.0) as running:

            def salesforce(**options: object) -> SalesforceConnector:
                return SalesforceConnector(
                    config=config,
                    instance_url=running.salesforce_url,
                    session_id=EMULATOR_TOKEN,
                    backoff_factor=0.01,
                    **options,
                )

            hubspot = HubSpotConnector(
                config=config,
                access_token=EMULATOR_TOKEN,
                host=running.hubspot_url,
                backoff_factor=0.01,
            )
            rest = salesforce(bulk_threshold=count + 1)
            bulk = salesforce(bulk_poll_seconds=0.05)
            bulk_small = salesforce(bulk_poll_seconds=0.05, bulk_page_size=10_000)
            rows.append(
                measure(
                    running, "Salesforce REST", lambda: rest.fetch_leads(START, END), rest_minimum
                )
            )
            rows.append(
                measure(
                    running,
                    "Salesforce Bulk 2.0",
                    lambda: bulk.fetch_leads(START, END),
                    bulk_minimum,
                )
            )
            rows.append(
                measure(
                    running,
                    "Salesforce Bulk 2.0, 10,000 a page",
                    lambda: bulk_small.fetch_leads(START, END),
                    bulk_small_minimum,
                )
            )
            rows.append(measure(running, "HubSpot list", hubspot.list_contacts, list_minimum))
            rows.append(
                measure(
                    running,
                    "HubSpot search",
                    lambda: hubspot.fetch_leads(START, END),
                    search_minimum,
                )
            )
            add_faults(running)
            rows.append(
                measure(
                    running,
                    f"Salesforce REST, {FAULTS} faults",
                    lambda: rest.fetch_leads(START, END),
                    rest_minimum + FAULTS,
                )
            )
            rows.append(
                measure(
                    running,
                    f"HubSpot search, {FAULTS} faults",
                    lambda: hubspot.fetch_leads(START, END),
                    search_minimum + FAULTS,
                )
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=50_000, help="records per CRM (default 50000)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = run(args.leads)
    lines = [
        "| pull | records | unique | requests | paging minimum (+ retries) | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.pull} | {row.records:,} | {row.unique:,} | {row.requests:,} | "
            f"{row.minimum:,} | {row.seconds:.1f} |"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    failed = [row for row in rows if row.unique != args.leads or row.records != args.leads]
    over = [row for row in rows if row.requests > row.minimum]
    for row in failed:
        sys.stderr.write(
            f"FAILED: {row.pull} returned {row.records} records, {row.unique} unique\n"
        )
    for row in over:
        sys.stderr.write(f"OVER MINIMUM: {row.pull} used {row.requests} > {row.minimum}\n")
    return 1 if failed or over else 0


if __name__ == "__main__":
    sys.exit(main())
