"""Convert the Olist marketing funnel (MQLs and closed deals) to Salesforce Lead fixtures.

Each row of the MQL file is a B2B lead, created and marketing-qualified at midnight of its
`first_contact_date` in the configured timezone. Its `origin` becomes the lead source. Each
closed deal sets `Won_Date__c` on its MQL from `won_date`, read as UTC because the file gives
no zone. The data has no contact fields, so validation rules do not apply to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cadence_pipeline.datasets.common import (
    DatasetError,
    Rejections,
    end_of_week,
    find_file,
    local_midnight,
    parse_day,
    read_rows,
)
from cadence_pipeline.governance.records import Lead

logger = logging.getLogger(__name__)

MQL_FILE = "olist_marketing_qualified_leads_dataset.csv"
DEALS_FILE = "olist_closed_deals_dataset.csv"
MQL_COLUMNS = ("mql_id", "first_contact_date", "origin")
DEAL_COLUMNS = ("mql_id", "won_date")
WON_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class OlistResult:
    leads: list[Lead]
    last_record: datetime
    as_of: datetime
    notes: list[str]


def lead_source(origin: str) -> str:
    """Return the lead source for an `origin` value: spaces become underscores, blank stays blank.

    Copies of the data set spell category values with spaces (`paid search`) or underscores
    (`paid_search`); both give the same source id.
    """
    return "_".join(origin.split())


def convert_olist(
    folder: Path, rejections: Rejections, timezone: str, as_of: datetime | None
) -> OlistResult:
    mql_path = find_file(folder, MQL_FILE)
    if mql_path is None:
        raise DatasetError(f"{folder}: {MQL_FILE} not found. Fix: pass the folder that contains it")
    leads: dict[str, Lead] = {}
    first_line: dict[str, int] = {}
    for line, row in read_rows(mql_path, MQL_COLUMNS):
        mql_id = row["mql_id"].strip()
        if not mql_id:
            rejections.add(
                mql_path.name,
                line,
                "",
                "mql_id",
                "missing record id; the row cannot become a lead. Fix: fill mql_id",
            )
            continue
        if mql_id in leads:
            rejections.add(
                mql_path.name,
                line,
                mql_id,
                "mql_id",
                f"duplicate record id, first seen on line {first_line[mql_id]}; "
                "the first row is kept. Fix: remove the repeated row",
            )
            continue
        try:
            day = parse_day(row["first_contact_date"])
        except ValueError:
            rejections.add(
                mql_path.name,
                line,
                mql_id,
                "first_contact_date",
                f"invalid date {row['first_contact_date']!r}; expected YYYY-MM-DD. "
                "Fix: correct the date",
            )
            continue
        created = local_midnight(day, timezone)
        leads[mql_id] = Lead(
            lead_id=mql_id,
            crm="salesforce",
            source=lead_source(row["origin"]),
            motion="b2b",
            created_at=created,
            mql_at=created,
        )
        first_line[mql_id] = line
    if not leads:
        raise DatasetError(
            f"{mql_path}: no usable MQL rows; every row is listed in rejected_rows.csv"
        )
    # The span ends with the MQL file's last record: the MQLs define the reviewed period,
    # and wins after it belong to no reviewed week.
    last_record = max(lead.created_at for lead in leads.values())
    as_of = as_of or end_of_week(last_record, timezone)
    notes = [
        f"{len(leads)} MQLs from {mql_path.name}; contact fields are absent, so validation "
        "rules are not applicable",
    ]
    deals_path = find_file(folder, DEALS_FILE)
    if deals_path is None:
        notes.append(f"{DEALS_FILE} not found: no lead is won")
        logger.warning("%s: %s not found; the conversion has no wins", folder, DEALS_FILE)
    else:
        notes.extend(_apply_deals(deals_path, leads, rejections, as_of))
    return OlistResult(list(leads.values()), last_record, as_of, notes)


def _apply_deals(
    path: Path, leads: dict[str, Lead], rejections: Rejections, as_of: datetime
) -> list[str]:
    won = before_contact = 0
    for line, row in read_rows(path, DEAL_COLUMNS):
        mql_id = row["mql_id"].strip()
        lead = leads.get(mql_id)
        if lead is None:
            rejections.add(
                path.name,
                line,
                mql_id,
                "mql_id",
                f"no MQL with this id in {MQL_FILE}; the deal cannot be placed. "
                "Fix: add the MQL row or correct the id",
            )
            continue
        if lead.won_at is not None:
            rejections.add(
                path.name,
                line,
                mql_id,
                "mql_id",
                "a second closed deal for this MQL; the first is kept. "
                "Fix: remove the repeated deal",
            )
            continue
        try:
            won_at = datetime.strptime(row["won_date"].strip(), WON_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            rejections.add(
                path.name,
                line,
                mql_id,
                "won_date",
                f"invalid timestamp {row['won_date']!r}; expected YYYY-MM-DD HH:MM:SS. "
                "The lead is kept without a win. Fix: correct the timestamp",
            )
            continue
        if won_at >= as_of:
            rejections.add(
                path.name,
                line,
                mql_id,
                "won_date",
                f"won at {won_at:%Y-%m-%d %H:%M:%S} UTC, after the as-of instant "
                f"{as_of.isoformat()}; the lead is kept without a win. Fix: pass a "
                "later as-of to keep wins after the last MQL",
            )
            continue
        lead.won_at = won_at
        won += 1
        if won_at < lead.created_at:
            before_contact += 1
    notes = [f"{won} closed deals from {path.name} set won dates (read as UTC)"]
    if before_contact:
        notes.append(
            f"{before_contact} deals are won before their MQL's first contact date; "
            "their dates are kept as given"
        )
    return notes
