"""Ingest: pull each week's leads from every connector, then split them into lead tables.

`raw_crm_records` stores every record with activity in the week exactly as mapped, so
the downstream tables of a week are a pure function of that snapshot. `leads` places each
lead in the week it was created, each stage change in the week it happened and each
signal in the week it fired.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from cadence_pipeline.assets.common import markdown_table
from cadence_pipeline.governance.normalise import email_key
from cadence_pipeline.governance.records import STAGES, Lead, lead_from_json, lead_to_json
from cadence_pipeline.governance.weeks import week_key
from cadence_pipeline.resources.cadence import CadenceResource
from cadence_pipeline.resources.connector import FetchResult


def _markdown_counts(counts: Counter, header: str) -> str:
    lines = [f"| {header} | count |", "|---|---:|"]
    lines += [f"| {key} | {value} |" for key, value in counts.most_common()]
    return "\n".join(lines)


SNAPSHOT_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# Records modified in the last minutes may still be written; the sync stops short of them.
SYNC_LAG = timedelta(minutes=2)


def lead_signals(lead: Lead) -> list[tuple[str, datetime]]:
    """Return every signal of a lead: its campaign signals, else its creation signal."""
    if lead.signals:
        return list(lead.signals)
    if lead.signal_class:
        return [(lead.signal_class, lead.signal_at or lead.created_at)]
    return []


def activity_instants(lead: Lead) -> list[datetime]:
    """Return every instant at which a lead was created, changed stage or signalled."""
    instants = [lead.created_at]
    instants += [at for stage in STAGES if (at := lead.stage_time(stage)) is not None]
    instants += [at for _, at in lead_signals(lead)]
    return instants


def in_window(lead: Lead, start: datetime, end: datetime) -> bool:
    return any(start <= at < end for at in activity_instants(lead))


def lead_rows(
    lead: Lead, week: str, timezone: str, qualifying_stage: str
) -> dict[str, list[dict[str, Any]]]:
    """Split one lead record into its rows for `leads`, `lead_events` and `signals` of a week."""
    out: dict[str, list[dict[str, Any]]] = {"leads": [], "lead_events": [], "signals": []}
    if week_key(lead.created_at, timezone) == week:
        out["leads"].append(
            {
                "lead_id": lead.lead_id,
                "crm": lead.crm,
                "source": lead.source,
                "source_type": lead.source_type,
                "motion": lead.motion,
                "created_at": lead.created_at,
                "account_id": lead.account_id,
                "signal_class": lead.signal_class,
                "email_key": email_key(lead.email),
                "definition_version": lead.definition_version,
                "source_owner": lead.extra.get("owner"),
            }
        )
    for stage in STAGES:
        at = lead.stage_time(stage)
        if at is None or week_key(at, timezone) != week:
            continue
        code = None
        if stage == "mql_rejected":
            code = lead.mql_rejection_code
        elif stage == "sal_rejected":
            code = lead.sal_rejection_code
        out["lead_events"].append(
            {
                "lead_id": lead.lead_id,
                "crm": lead.crm,
                "source": lead.source,
                "motion": lead.motion,
                "stage": stage,
                "at": at,
                "lead_created_at": lead.created_at,
                "rejection_code": code,
                "definition_version": lead.definition_version,
                "mql_at": lead.mql_at,
                "sal_at": lead.sal_at,
            }
        )
    for signal_class, signal_at in lead_signals(lead):
        if week_key(signal_at, timezone) != week:
            continue
        out["signals"].append(
            {
                "lead_id": lead.lead_id,
                "signal_class": signal_class,
                "motion": lead.motion,
                "account_id": lead.account_id,
                "signal_at": signal_at,
                "qualified_at": lead.stage_time(qualifying_stage),
            }
        )
    return out


def _repeated_ids(result: FetchResult) -> list[Lead]:
    """Return the earlier records of each id that repeats within one pull."""
    last = {lead.lead_id: lead for lead in result.leads}
    return [lead for lead in result.leads if last[lead.lead_id] is not lead]


def _unique_leads(result: FetchResult) -> list[Lead]:
    """Return the pull's leads with each id once: its last record, in first-seen order."""
    last = {lead.lead_id: lead for lead in result.leads}
    seen: set[str] = set()
    unique = []
    for lead in result.leads:
        if lead.lead_id not in seen:
            seen.add(lead.lead_id)
            unique.append(last[lead.lead_id])
    return unique


def snapshot_row(lead: Lead, synced_at: datetime) -> dict[str, Any]:
    instants = activity_instants(lead)
    return {
        "lead_id": lead.lead_id,
        "record": lead_to_json(lead),
        "first_activity_at": min(instants),
        "last_activity_at": max(instants),
        "is_deleted": bool(lead.extra.get("is_deleted")),
        "synced_at": synced_at,
    }


def build_ingest_assets(partitions: PartitionsDefinition) -> list:
    @asset(
        group_name="ingest",
        description=(
            "The raw snapshot of every CRM lead record, kept current by incremental syncs on "
            "the record's modification stamp (Salesforce SystemModstamp, HubSpot "
            "lastmodifieddate) over half-open UTC windows; deleted records are flagged and "
            "merged-away ids dropped."
        ),
    )
    def crm_snapshot(context: AssetExecutionContext, cadence: CadenceResource) -> MaterializeResult:
        warehouse = cadence.warehouse
        end = min(cadence.as_of(), datetime.now(UTC) - SYNC_LAG)
        summary = []
        for connector in cadence.connectors():
            if not hasattr(connector, "fetch_modified"):
                continue  # partner files are read per week from their drop folder
            start = warehouse.synced_until(connector.crm)
            if start is not None and start >= end:
                summary.append((connector.crm, "up to date", 0, 0, 0))
                continue
            if start is None and hasattr(connector, "list_contacts"):
                # The first load pages the list endpoint: no search cap, no search pacing.
                result = connector.list_contacts()
                window = "full list"
            else:
                result = connector.fetch_modified(start or SNAPSHOT_EPOCH, end)
                window = f"{(start or SNAPSHOT_EPOCH).isoformat()} .. {end.isoformat()}"
            if result.rejected:
                for error in result.rejected:
                    context.log.warning("snapshot record rejected: %s", error)
            now = datetime.now(UTC)
            rows = [snapshot_row(lead, now) for lead in result.leads]
            warehouse.apply_snapshot(connector.crm, rows, result.merged_ids, end)
            deleted = sum(1 for row in rows if row["is_deleted"])
            context.log.info(
                "%s snapshot %s: %d records (%d deleted), %d merged away, %d requests",
                connector.crm,
                window,
                len(rows),
                deleted,
                len(result.merged_ids),
                result.requests,
            )
            summary.append((connector.crm, window, len(rows), deleted, result.requests))
        return MaterializeResult(
            metadata={
                "synced_until": end.isoformat(),
                "records": sum(item[2] for item in summary),
                "syncs": MetadataValue.md(
                    markdown_table(["crm", "window", "records", "deleted", "requests"], summary)
                ),
            }
        )

    @asset(
        partitions_def=partitions,
        group_name="ingest",
        deps=[crm_snapshot],
        description=(
            "Every lead record with activity in the week (created, a stage change or a "
            "signal): CRM records from the snapshot, partner-file rows from the week's files."
        ),
        check_specs=[
            AssetCheckSpec(
                "no_rejected_records",
                asset="raw_crm_records",
                description="Every record mapped to a lead; rejected ones are kept with a reason.",
            ),
            AssetCheckSpec(
                "partner_file_counts_balance",
                asset="raw_crm_records",
                description="For every partner file, rows read = rows loaded + rows quarantined.",
                blocking=True,
            ),
        ],
    )
    def raw_crm_records(
        context: AssetExecutionContext, cadence: CadenceResource
    ) -> MaterializeResult:
        config = cadence.governance
        window = cadence.week_window(context.partition_key)
        warehouse = cadence.warehouse
        results: dict[str, FetchResult] = {}
        for row in warehouse.snapshot_overlapping(window.start, window.end):
            lead = lead_from_json(row["record"])
            if in_window(lead, window.start, window.end):
                results.setdefault(row["crm"], FetchResult()).leads.append(lead)
        for connector in cadence.connectors():
            if not hasattr(connector, "fetch_modified"):
                context.log.info("reading %s for %s", connector.crm, window.week)
                results[connector.crm] = connector.fetch_leads(window.start, window.end)

        # Write only after every read completed, so a failed read publishes nothing.
        rows, rejected, runs, loads = [], [], [], []
        completed = datetime.now(UTC)
        for crm, result in sorted(results.items()):
            for lead in _repeated_ids(result):
                rejected.append(
                    {
                        "crm": crm,
                        "origin": str(lead.extra.get("origin") or crm),
                        "record_id": lead.lead_id,
                        "field": "lead_id",
                        "reason": (
                            "the record id appears more than once in the week's records; the "
                            "last one is kept. Fix: send each lead once, or give repeats "
                            "their own ids"
                        ),
                    }
                )
            for lead in _unique_leads(result):
                rows.append(
                    {
                        "lead_id": lead.lead_id,
                        "crm": crm,
                        "source": lead.source,
                        "created_week": week_key(lead.created_at, config.timezone),
                        "record": lead_to_json(lead),
                    }
                )
            for error in result.rejected:
                rejected.append(
                    {
                        "crm": crm,
                        "origin": error.origin,
                        "record_id": error.record_id,
                        "field": error.field_name,
                        "reason": f"{error.problem}. Fix: {error.fix}",
                    }
                )
            loads += [
                {
                    "source_id": report.source_id,
                    "file": Path(report.file).name,
                    "rows_read": report.rows_read,
                    "rows_loaded": report.rows_loaded,
                    "rows_quarantined": report.rows_quarantined,
                    "file_error": report.file_error,
                }
                for report in result.files
            ]
            runs.append(
                {
                    "crm": crm,
                    "records": len(_unique_leads(result)),
                    "rejected": len(result.rejected),
                    "requests": result.requests,
                    "pages": result.pages,
                    "completed_at": completed,
                }
            )
        if rejected:
            context.log.warning(
                "week %s: %d records quarantined in rejected_records", window.week, len(rejected)
            )
        unbalanced = [
            load["file"]
            for load in loads
            if load["rows_read"] != load["rows_loaded"] + load["rows_quarantined"]
        ]
        warehouse.replace_week("raw_leads", window.week, rows)
        warehouse.replace_week("rejected_records", window.week, rejected)
        warehouse.replace_week("partner_file_loads", window.week, loads)
        warehouse.replace_week("ingest_runs", window.week, runs)
        context.log.info(
            "week %s: %d records from %s, %d rejected",
            window.week,
            len(rows),
            ", ".join(results) or "no connector",
            len(rejected),
        )
        return MaterializeResult(
            metadata={
                "records": len(rows),
                "rejected": len(rejected),
                "partner_files": len(loads),
                "by_crm": MetadataValue.md(
                    _markdown_counts(Counter(r["crm"] for r in rows), "crm")
                ),
                "partial_week": window.partial,
            },
            check_results=[
                AssetCheckResult(
                    check_name="no_rejected_records",
                    passed=not rejected,
                    severity=AssetCheckSeverity.WARN,
                    metadata={"rejected": len(rejected)},
                ),
                AssetCheckResult(
                    check_name="partner_file_counts_balance",
                    passed=not unbalanced,
                    severity=AssetCheckSeverity.ERROR,
                    metadata={"unbalanced_files": ", ".join(unbalanced) or "none"},
                ),
            ],
        )

    @asset(
        partitions_def=partitions,
        group_name="ingest",
        deps=[raw_crm_records],
        description=(
            "Leads created in the week (contract table `leads`), with the stage events and "
            "signals that happened in it (`lead_events`, `signals`)."
        ),
    )
    def leads(context: AssetExecutionContext, cadence: CadenceResource) -> MaterializeResult:
        config = cadence.governance
        week = context.partition_key
        warehouse = cadence.warehouse
        tables: dict[str, list[dict[str, Any]]] = {"leads": [], "lead_events": [], "signals": []}
        for raw in warehouse.rows("raw_leads", weeks=[week]):
            lead = lead_from_json(raw["record"])
            split = lead_rows(lead, week, config.timezone, config.signals.qualifying_stage)
            for name, new_rows in split.items():
                tables[name].extend(new_rows)
        for name, new_rows in tables.items():
            warehouse.replace_week(name, week, new_rows)
        by_source = Counter(row["source"] for row in tables["leads"])
        by_stage = Counter(row["stage"] for row in tables["lead_events"])
        context.log.info(
            "week %s: %d leads, %d stage events, %d signals",
            week,
            len(tables["leads"]),
            len(tables["lead_events"]),
            len(tables["signals"]),
        )
        return MaterializeResult(
            metadata={
                "leads": len(tables["leads"]),
                "stage_events": len(tables["lead_events"]),
                "signals": len(tables["signals"]),
                "sources": MetadataValue.md(_markdown_counts(by_source, "source")),
                "stages": MetadataValue.md(_markdown_counts(by_stage, "stage")),
            }
        )

    return [crm_snapshot, raw_crm_records, leads]
