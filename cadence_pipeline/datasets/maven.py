"""Convert the Maven "CRM + Sales Opportunities" set to Salesforce Lead fixtures.

The set contains opportunities, the sales end of the funnel, with no lead source. Each
opportunity with an `engage_date` becomes a B2B lead created, marketing-qualified and
sales-accepted at midnight of that date. A `Won` opportunity is won at midnight of its
`close_date`; `Lost` and open opportunities stay accepted without a win. The sales agent's
regional office (from `sales_teams.csv`) replaces the missing lead source, and the account
(with sector and employees from `accounts.csv`) is the lead's account and company.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cadence_pipeline.datasets.common import (
    DatasetError,
    Rejections,
    end_of_week,
    find_file,
    latest_instant,
    local_midnight,
    parse_day,
    read_rows,
)
from cadence_pipeline.governance.records import Lead

logger = logging.getLogger(__name__)

PIPELINE_FILE = "sales_pipeline.csv"
TEAMS_FILE = "sales_teams.csv"
ACCOUNTS_FILE = "accounts.csv"
PIPELINE_COLUMNS = (
    "opportunity_id",
    "sales_agent",
    "account",
    "deal_stage",
    "engage_date",
    "close_date",
)
# Known misspellings in the sector column, corrected before use.
SECTOR_FIXES = {"technolgy": "technology"}


@dataclass
class MavenResult:
    leads: list[Lead]
    last_record: datetime
    as_of: datetime
    notes: list[str]


def _offices(folder: Path, notes: list[str]) -> dict[str, str]:
    path = find_file(folder, TEAMS_FILE)
    if path is None:
        notes.append(f"{TEAMS_FILE} not found: every lead source is blank (unspecified)")
        return {}
    return {
        row["sales_agent"].strip(): row["regional_office"].strip()
        for _, row in read_rows(path, ("sales_agent", "regional_office"))
    }


def _accounts(folder: Path, notes: list[str]) -> dict[str, dict[str, str]]:
    path = find_file(folder, ACCOUNTS_FILE)
    if path is None:
        notes.append(f"{ACCOUNTS_FILE} not found: leads carry no industry or employee count")
        return {}
    return {
        row["account"].strip(): row
        for _, row in read_rows(path, ("account", "sector", "employees"))
    }


def convert_maven(
    folder: Path, rejections: Rejections, timezone: str, as_of: datetime | None
) -> MavenResult:
    path = find_file(folder, PIPELINE_FILE)
    if path is None:
        raise DatasetError(
            f"{folder}: {PIPELINE_FILE} not found. Fix: pass the folder that contains it"
        )
    notes: list[str] = []
    offices = _offices(folder, notes)
    accounts = _accounts(folder, notes)
    leads: dict[str, Lead] = {}
    for line, row in read_rows(path, PIPELINE_COLUMNS):
        lead = _lead(path.name, line, row, rejections, timezone, offices, accounts, leads)
        if lead is not None:
            leads[lead.lead_id] = lead
    if not leads:
        raise DatasetError(f"{path}: no usable opportunity rows; see rejected_rows.csv")
    values = list(leads.values())
    last_record = latest_instant(values)
    as_of = as_of or end_of_week(last_record, timezone)
    for lead in values:
        if lead.won_at is not None and lead.won_at >= as_of:
            rejections.add(
                path.name,
                lead.extra["line"],
                lead.lead_id,
                "close_date",
                f"won after the as-of instant {as_of.isoformat()}; the lead is kept "
                "without a win. Fix: pass a later as-of",
            )
            lead.won_at = None
    won = sum(lead.won_at is not None for lead in values)
    notes.insert(0, f"{len(values)} opportunities with an engage date became leads, {won} won")
    return MavenResult(values, last_record, as_of, notes)


def _lead(
    file: str,
    line: int,
    row: dict[str, str],
    rejections: Rejections,
    timezone: str,
    offices: dict[str, str],
    accounts: dict[str, dict[str, str]],
    seen: dict[str, Lead],
) -> Lead | None:
    opportunity_id = row["opportunity_id"].strip()
    if not opportunity_id:
        rejections.add(
            file, line, "", "opportunity_id", "missing record id. Fix: fill opportunity_id"
        )
        return None
    if opportunity_id in seen:
        rejections.add(
            file,
            line,
            opportunity_id,
            "opportunity_id",
            "duplicate record id; the first row is kept. Fix: remove the repeated row",
        )
        return None
    engage = row["engage_date"].strip()
    if not engage:
        rejections.add(
            file,
            line,
            opportunity_id,
            "engage_date",
            f"missing: a {row['deal_stage'] or 'stageless'} opportunity without an "
            "engage date has no week to be created in. Fix: fill engage_date",
        )
        return None
    try:
        created = local_midnight(parse_day(engage), timezone)
    except ValueError:
        rejections.add(
            file,
            line,
            opportunity_id,
            "engage_date",
            f"invalid date {engage!r}; expected YYYY-MM-DD. Fix: correct the date",
        )
        return None
    account_name = row["account"].strip()
    account = accounts.get(account_name, {})
    sector = account.get("sector", "").strip()
    employees = account.get("employees", "").strip()
    lead = Lead(
        lead_id=opportunity_id,
        crm="salesforce",
        source=offices.get(row["sales_agent"].strip(), ""),
        motion="b2b",
        created_at=created,
        company=account_name or None,
        industry=SECTOR_FIXES.get(sector, sector) or None,
        employees=int(employees) if employees.isdigit() else None,
        account_id=account_name or None,
        mql_at=created,
        sal_at=created,
        extra={"line": line},
    )
    if row["deal_stage"].strip() == "Won":
        close = row["close_date"].strip()
        try:
            lead.won_at = local_midnight(parse_day(close), timezone)
        except ValueError:
            rejections.add(
                file,
                line,
                opportunity_id,
                "close_date",
                f"Won opportunity with invalid close date {close!r}; the lead is kept "
                "without a win. Fix: fill close_date as YYYY-MM-DD",
            )
    return lead
