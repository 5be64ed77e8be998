"""Convert the X Education `Leads.csv` to HubSpot contact fixtures (B2C).

The file has no dates, so creation dates are synthetic: leads in ascending `Lead Number`
order are spaced evenly over the `SYNTHETIC_WEEKS` weeks that end at the as-of instant
(default `DEFAULT_AS_OF`). Stage dates follow at fixed offsets. The literal `Select` means
"not answered" and is read as blank in every column.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cadence_pipeline.datasets.common import DatasetError, Rejections, find_file, read_rows
from cadence_pipeline.governance.records import Lead, normalise_source

logger = logging.getLogger(__name__)

LEADS_FILE = "Leads.csv"
COLUMNS = (
    "Prospect ID",
    "Lead Number",
    "Lead Origin",
    "Lead Source",
    "Do Not Email",
    "Converted",
    "Country",
    "Tags",
)
SYNTHETIC_WEEKS = 26
# A Monday, so the synthetic weeks are whole ISO weeks when no as-of is given.
DEFAULT_AS_OF = datetime(2020, 1, 6, tzinfo=UTC)
MQL_AFTER = timedelta(hours=1)
SAL_AFTER = timedelta(days=1)
WON_AFTER = timedelta(days=2)

# Tags are dispositions a sales caller set. A tag listed here rejects the lead at SAL with a
# configured rejection code, and OPEN_TAGS leave it accepted and open. Any other tag becomes
# a snake_case code of its own, which the handoff rules report as unmapped.
TAG_CODES = {
    "ringing": "not_reachable",
    "switched off": "not_reachable",
    "busy": "not_reachable",
    "opp hangup": "not_reachable",
    "invalid number": "wrong_contact",
    "wrong number given": "wrong_contact",
    "number not provided": "wrong_contact",
    "lost to eins": "competitor",
    "lost to others": "competitor",
    "in touch with eins": "competitor",
    "interested in other courses": "buyer_fit_insufficient",
    "already a student": "buyer_fit_insufficient",
    "not doing further education": "buyer_fit_insufficient",
    "diploma holder (not eligible)": "buyer_fit_insufficient",
    "graduation in progress": "buyer_fit_insufficient",
    "interested in full time mba": "buyer_fit_insufficient",
    "university not recognized": "buyer_fit_insufficient",
    "recognition issue (dec approval)": "buyer_fit_insufficient",
    "want to take admission but has financial problems": "no_budget",
}
OPEN_TAGS = frozenset(
    {
        "will revert after reading the email",
        "interested in next batch",
        "lateral student",
        "shall take in the next coming month",
        "still thinking",
        "in confusion whether part time or dlp",
        "closed by horizzon",
    }
)
COUNTRY_CODES = {
    "india": "IN",
    "united states": "US",
    "united arab emirates": "AE",
    "singapore": "SG",
    "saudi arabia": "SA",
    "united kingdom": "GB",
    "australia": "AU",
    "qatar": "QA",
    "bahrain": "BH",
    "hong kong": "HK",
    "oman": "OM",
    "france": "FR",
    "kuwait": "KW",
    "canada": "CA",
    "nigeria": "NG",
    "germany": "DE",
    "south africa": "ZA",
    "sweden": "SE",
    "ghana": "GH",
    "belgium": "BE",
    "china": "CN",
    "netherlands": "NL",
    "uganda": "UG",
    "italy": "IT",
    "philippines": "PH",
    "bangladesh": "BD",
    "russia": "RU",
    "sri lanka": "LK",
    "kenya": "KE",
    "tanzania": "TZ",
    "malaysia": "MY",
    "liberia": "LR",
    "switzerland": "CH",
    "denmark": "DK",
    "vietnam": "VN",
    "indonesia": "ID",
}
# Values that mean "no answer" rather than a country.
BLANK_COUNTRIES = frozenset({"", "unknown"})
YES_NO = {"yes": True, "no": False}


@dataclass
class XEducationResult:
    leads: list[Lead]
    last_record: datetime
    as_of: datetime
    notes: list[str]


def _value(row: dict[str, str], column: str) -> str:
    """Return a cell with surrounding space removed and `Select` read as blank."""
    text = " ".join(row[column].split())
    return "" if text.lower() == "select" else text


def convert_x_education(
    folder: Path, rejections: Rejections, as_of: datetime | None
) -> XEducationResult:
    path = find_file(folder, LEADS_FILE)
    if path is None:
        raise DatasetError(
            f"{folder}: {LEADS_FILE} not found. Fix: pass the folder that contains it"
        )
    as_of = (as_of or DEFAULT_AS_OF).astimezone(UTC)
    rows: list[tuple[int, int, dict[str, str]]] = []
    seen: dict[int, int] = {}
    for line, row in read_rows(path, COLUMNS):
        number = _value(row, "Lead Number")
        record_id = number or _value(row, "Prospect ID")
        if not number.isdigit():
            rejections.add(
                path.name,
                line,
                record_id,
                "Lead Number",
                f"not a whole number ({number!r}); it is the HubSpot record id. "
                "Fix: fill Lead Number with digits",
            )
            continue
        if int(number) in seen:
            rejections.add(
                path.name,
                line,
                number,
                "Lead Number",
                f"duplicate record id, first seen on line {seen[int(number)]}; "
                "the first row is kept. Fix: remove the repeated row",
            )
            continue
        converted = _value(row, "Converted")
        if converted not in ("0", "1"):
            rejections.add(
                path.name,
                line,
                number,
                "Converted",
                f"expected 0 or 1, got {converted!r}; the row cannot be placed in the "
                "funnel. Fix: set Converted to 0 or 1",
            )
            continue
        seen[int(number)] = line
        rows.append((int(number), line, row))
    if not rows:
        raise DatasetError(f"{path}: no usable lead rows; see rejected_rows.csv")

    rows.sort(key=lambda item: item[0])
    start = as_of - timedelta(weeks=SYNTHETIC_WEEKS)
    step = timedelta(weeks=SYNTHETIC_WEEKS) / len(rows)
    leads = []
    for index, (number, line, row) in enumerate(rows):
        # Whole seconds, so the instant survives the millisecond precision of the API format.
        created = start + timedelta(seconds=int((step * index).total_seconds()))
        leads.append(_lead(path.name, line, str(number), row, created, as_of, rejections))
    last_record = max(
        moment
        for lead in leads
        for moment in (lead.created_at, lead.mql_at, lead.sal_at, lead.sal_rejected_at, lead.won_at)
        if moment is not None
    )
    notes = [
        f"{len(leads)} leads with synthetic creation dates, one every "
        f"{step.total_seconds() / 60:.1f} minutes over the {SYNTHETIC_WEEKS} weeks to "
        f"{as_of.isoformat()} in Lead Number order",
        f"{sum(lead.won_at is not None for lead in leads)} leads won (Converted = 1)",
    ]
    return XEducationResult(leads, last_record, as_of, notes)


def _lead(
    file: str,
    line: int,
    number: str,
    row: dict[str, str],
    created: datetime,
    as_of: datetime,
    rejections: Rejections,
) -> Lead:
    origin = _value(row, "Lead Origin")
    lead = Lead(
        lead_id=number,
        crm="hubspot",
        source=_value(row, "Lead Source"),
        motion="b2c",
        created_at=created,
        signal_class=normalise_source(origin) if origin else None,
        signal_at=created if origin else None,
        extra={"prospect_id": _value(row, "Prospect ID")},
    )
    opt_out = _value(row, "Do Not Email")
    if opt_out:
        lead.email_opt_out = YES_NO.get(opt_out.lower())
        if lead.email_opt_out is None:
            rejections.add(
                file,
                line,
                number,
                "Do Not Email",
                f"expected Yes or No, got {opt_out!r}; the lead is kept without an "
                "opt-out flag. Fix: set Yes or No",
            )
    country = _value(row, "Country")
    if country.lower() not in BLANK_COUNTRIES:
        lead.country = COUNTRY_CODES.get(country.lower())
        if lead.country is None:
            rejections.add(
                file,
                line,
                number,
                "Country",
                f"{country!r} is not a country with a known ISO 3166 code; the lead "
                "is kept without a country. Fix: use a country name",
            )
    _apply_funnel(file, line, number, row, lead, rejections)
    _censor(file, line, lead, as_of, rejections)
    return lead


def _apply_funnel(
    file: str, line: int, number: str, row: dict[str, str], lead: Lead, rejections: Rejections
) -> None:
    tag = _value(row, "Tags")
    converted = _value(row, "Converted") == "1"
    if not tag and not converted:
        return
    lead.mql_at = lead.created_at + MQL_AFTER
    code = None
    if tag and tag.lower() not in OPEN_TAGS:
        code = TAG_CODES.get(tag.lower(), normalise_source(tag))
    if converted:
        lead.sal_at = lead.created_at + SAL_AFTER
        lead.won_at = lead.created_at + WON_AFTER
        if code is not None:
            rejections.add(
                file,
                line,
                number,
                "Tags",
                f"tag {tag!r} (code {code}) conflicts with Converted = 1; the lead is "
                "kept as won and the tag is not used",
            )
    elif code is not None:
        lead.sal_rejected_at = lead.created_at + SAL_AFTER
        lead.sal_rejection_code = code
    else:
        lead.sal_at = lead.created_at + SAL_AFTER


def _censor(file: str, line: int, lead: Lead, as_of: datetime, rejections: Rejections) -> None:
    """Drop synthetic stage dates at or after the as-of instant, recording each one dropped."""
    for name in ("mql", "sal", "sal_rejected", "won"):
        moment = getattr(lead, f"{name}_at")
        if moment is not None and moment >= as_of:
            setattr(lead, f"{name}_at", None)
            if name == "sal_rejected":
                lead.sal_rejection_code = None
            rejections.add(
                file,
                line,
                lead.lead_id,
                f"{name}_at",
                f"the synthetic {name} date falls after the as-of instant "
                f"{as_of.isoformat()}; the lead is kept without it",
            )
