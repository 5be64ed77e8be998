"""Write leads as API-native fixture records for the Salesforce, HubSpot and partner-file emulators.

The layout under a fixtures directory:

- `salesforce/Lead.jsonl`: one Salesforce Lead object per line.
- `hubspot/contacts.jsonl`: one HubSpot CRM v3 contact object per line.
- `partner_files/<partner_id>/partner.yaml` plus one CSV per daily delivery.
- `rejected_rows.csv`: rows a data-set conversion could not use, with the reason.
- `manifest.json`: what wrote the fixtures and the summary it returned.

Field names come from the `connectors` mapping in the packaged governance defaults, so the
connectors read back exactly what is written here.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from cadence_pipeline.governance.config import packaged_defaults
from cadence_pipeline.governance.records import STAGES, Lead

logger = logging.getLogger(__name__)

SALESFORCE_LEADS = Path("salesforce") / "Lead.jsonl"
HUBSPOT_CONTACTS = Path("hubspot") / "contacts.jsonl"
PARTNER_FILES = Path("partner_files")
REJECTED_ROWS = Path("rejected_rows.csv")
MANIFEST = Path("manifest.json")
REJECTED_COLUMNS = ("file", "line", "record_id", "field", "reason")

# Lead attributes that hold instants, written in each CRM's datetime format.
_INSTANT_FIELDS = ("created_at", "signal_at", *(f"{stage}_at" for stage in STAGES))


def format_salesforce_datetime(moment: datetime) -> str:
    """Format an aware instant as the Salesforce REST API does: `2026-11-02T09:15:00.000+0000`."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}+0000"


def format_hubspot_datetime(moment: datetime) -> str:
    """Format an aware instant the way the HubSpot CRM API does: `2026-11-02T09:15:00.000Z`."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def last_modified(lead: Lead) -> datetime:
    """Return the latest instant recorded on a lead, its last modification in the CRM."""
    moments = [getattr(lead, name) for name in _INSTANT_FIELDS]
    return max(moment for moment in moments if moment is not None)


def _field_map(crm: str) -> dict[str, str]:
    return dict(packaged_defaults()["connectors"][crm]["fields"])


def salesforce_record(lead: Lead, fields: Mapping[str, str]) -> dict[str, Any]:
    """Return a Salesforce Lead object for `lead`, using `fields` (lead attribute -> API name)."""
    record: dict[str, Any] = {"attributes": {"type": "Lead", "url": f"/Lead/{lead.lead_id}"}}
    for attribute, api_name in fields.items():
        value = getattr(lead, attribute)
        if isinstance(value, datetime):
            value = format_salesforce_datetime(value)
        elif value == "":
            value = None  # the REST API returns null, never "", for a blank text field
        record[api_name] = value
    record["SystemModstamp"] = format_salesforce_datetime(last_modified(lead))
    record["IsDeleted"] = False
    return record


def _lifecycle_stage(lead: Lead) -> str:
    if lead.won_at is not None:
        return "customer"
    if lead.sal_at is not None:
        return "salesqualifiedlead"
    if lead.mql_at is not None:
        return "marketingqualifiedlead"
    return "lead"


def _hubspot_value(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_hubspot_datetime(value)
    return str(value)


def hubspot_record(lead: Lead, fields: Mapping[str, str]) -> dict[str, Any]:
    """Return a HubSpot contact object for `lead`; every property value is a string or null."""
    if not lead.lead_id.isdigit():
        raise ValueError(f"HubSpot object ids are digits; lead id {lead.lead_id!r} is not")
    properties = {
        api_name: _hubspot_value(getattr(lead, attr)) for attr, api_name in fields.items()
    }
    modified = format_hubspot_datetime(last_modified(lead))
    properties["lifecyclestage"] = _lifecycle_stage(lead)
    properties["lastmodifieddate"] = modified
    return {
        "id": lead.lead_id,
        "properties": properties,
        "createdAt": format_hubspot_datetime(lead.created_at),
        "updatedAt": modified,
        "archived": False,
    }


@dataclass(frozen=True)
class PartnerDelivery:
    """One partner CSV file: its name and rows keyed by CSV column."""

    file_name: str
    rows: list[dict[str, str]]


class FixtureWriter:
    """Writes one complete set of fixtures, replacing the fixtures an earlier run left behind."""

    def __init__(self, fixtures_dir: Path) -> None:
        self.root = Path(fixtures_dir)
        self.salesforce_fields = _field_map("salesforce")
        self.hubspot_fields = _field_map("hubspot")

    def reset(self) -> None:
        """Remove the fixture files and folders this writer owns; leave anything else alone."""
        for relative in (SALESFORCE_LEADS, HUBSPOT_CONTACTS, REJECTED_ROWS, MANIFEST):
            (self.root / relative).unlink(missing_ok=True)
        partner_root = self.root / PARTNER_FILES
        if partner_root.is_dir():
            shutil.rmtree(partner_root)
        self.root.mkdir(parents=True, exist_ok=True)

    def write_salesforce(self, leads: Iterable[Lead]) -> int:
        """Write Salesforce Lead objects in creation order and return how many were written."""
        records = (salesforce_record(lead, self.salesforce_fields) for lead in leads)
        return self._write_jsonl(self.root / SALESFORCE_LEADS, records)

    def write_hubspot(self, leads: Iterable[Lead]) -> int:
        """Write HubSpot contact objects in creation order and return how many were written."""
        records = (hubspot_record(lead, self.hubspot_fields) for lead in leads)
        return self._write_jsonl(self.root / HUBSPOT_CONTACTS, records)

    def write_partner(
        self, partner_id: str, description: Mapping[str, Any], deliveries: Iterable[PartnerDelivery]
    ) -> int:
        """Write a partner's `partner.yaml` and its daily CSV files; return the rows written."""
        folder = self.root / PARTNER_FILES / partner_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "partner.yaml").write_text(
            yaml.safe_dump(dict(description), sort_keys=False), encoding="utf-8"
        )
        columns = list(description["columns"].values())
        written = 0
        for delivery in deliveries:
            path = folder / delivery.file_name
            with path.open("w", encoding=description["encoding"], newline="") as handle:
                writer = csv.DictWriter(
                    handle, fieldnames=columns, delimiter=description["delimiter"]
                )
                writer.writeheader()
                writer.writerows(delivery.rows)
            written += len(delivery.rows)
        return written

    def write_rejected(self, rows: Iterable[Mapping[str, object]]) -> int:
        """Write `rejected_rows.csv` (header included even when empty); return the row count."""
        path = self.root / REJECTED_ROWS
        count = 0
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=REJECTED_COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({column: row.get(column, "") for column in REJECTED_COLUMNS})
                count += 1
        return count

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        (self.root / MANIFEST).write_text(
            json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8"
        )

    def _write_jsonl(self, path: Path, records: Iterable[Mapping[str, Any]]) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        with path.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, separators=(",", ":")) + "\n")
                count += 1
        logger.info("wrote %d records to %s", count, path)
        return count
