"""Ingest: pull each week's leads from every connector, then split them into lead tables.

`raw_crm_records` stores every record with activity in the week exactly as mapped, so
the downstream tables of a week are a pure function of that snapshot. `leads` places each
lead in the week it was created, each stage change in the week it happened and each
signal in the week it fired.
"""

from collections import Counter
from datetime import UTC, datetime
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

from cadence_pipeline.governance.normalise import email_key
from cadence_pipeline.governance.records import STAGES, Lead, lead_from_json, lead_to_json
from cadence_pipeline.governance.weeks import week_key
from cadence_pipeline.resources.cadence import CadenceResource
from cadence_pipeline.resources.connector import FetchResult


def _markdown_counts(counts: Counter, header: str) -> str:
    lines = [f"| {header} | count |", "|---|---:|"]
    lines += [f"| {key} | {value} |" for key, value in counts.most_common()]
    return "\n".join(lines)


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
    signal_at = lead.signal_at or (lead.created_at if lead.signal_class else None)
    if lead.signal_class and signal_at is not None and week_key(signal_at, timezone) == week:
        out["signals"].append(
            {
                "lead_id": lead.lead_id,
                "signal_class": lead.signal_class,
                "motion": lead.motion,
                "account_id": lead.account_id,
                "signal_at": signal_at,
                "qualified_at": lead.stage_time(qualifying_stage),
            }
        )
    return out


def build_ingest_assets(partitions: PartitionsDefinition) -> list:
    @asset(
        partitions_def=partitions,
        group_name="ingest",
        description=(
            "Every CRM and partner-file record with activity in the week (created, a stage "
            "change or a signal), pulled through the connectors and stored as mapped."
        ),
        check_specs=[
            AssetCheckSpec(
                "no_rejected_records",
                asset="raw_crm_records",
                description="Every pulled record mapped to a lead; rejected ones are kept.",
            )
        ],
    )
    def raw_crm_records(
        context: AssetExecutionContext, cadence: CadenceResource
    ) -> MaterializeResult:
        config = cadence.governance
        window = cadence.week_window(context.partition_key)
        results: dict[str, FetchResult] = {}
        for connector in cadence.connectors():
            context.log.info("pulling %s for %s", connector.crm, window.week)
            results[connector.crm] = connector.fetch_leads(window.start, window.end)

        # Write only after every pull completed, so a failed pull publishes nothing.
        rows, rejected, runs = [], [], []
        completed = datetime.now(UTC)
        for crm, result in results.items():
            for lead in result.leads:
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
                context.log.warning("rejected record: %s", error)
            runs.append(
                {
                    "crm": crm,
                    "records": len(result.leads),
                    "rejected": len(result.rejected),
                    "requests": result.requests,
                    "pages": result.pages,
                    "completed_at": completed,
                }
            )
        warehouse = cadence.warehouse
        warehouse.replace_week("raw_leads", window.week, rows)
        warehouse.replace_week("rejected_records", window.week, rejected)
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
                "requests": sum(r["requests"] for r in runs),
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
                )
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

    return [raw_crm_records, leads]
