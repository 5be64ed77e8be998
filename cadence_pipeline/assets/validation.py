"""Weekly block 3: each lead validated at capture, and the pass rate by source."""

import json
from collections import defaultdict
from dataclasses import asdict

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from cadence_pipeline.assets.common import finding_rows, governance_check, next_week
from cadence_pipeline.governance.config import GovernanceConfig
from cadence_pipeline.governance.findings import validation_findings
from cadence_pipeline.governance.records import lead_from_json
from cadence_pipeline.governance.sources import (
    BELOW_THRESHOLD,
    PAUSED,
    Judged,
    SourceInfo,
    source_timeline,
)
from cadence_pipeline.governance.validation import (
    effective_rule_version,
    rule_set_description,
    validate_batch,
)
from cadence_pipeline.governance.weeks import weeks_between
from cadence_pipeline.resources.cadence import CadenceResource
from cadence_pipeline.resources.warehouse import Warehouse


def build_registry(
    warehouse: Warehouse, week: str, config: GovernanceConfig
) -> tuple[dict[str, SourceInfo], str | None]:
    """Derive the source registry from the leads of every week up to `week`.

    A source is established when it appears in the first extracted week of history or is
    listed as established in configuration. Returns the registry and that first week.
    """
    extracted = [w for w in warehouse.weeks_present("ingest_runs") if w <= week]
    history_start = extracted[0] if extracted else None
    first_seen: dict[str, tuple] = {}
    columns = ["source", "created_at", "week", "motion", "source_type", "source_owner"]
    for row in warehouse.rows("leads", before=next_week(week), columns=columns):
        current = first_seen.get(row["source"])
        if current is None or row["created_at"] < current[0]:
            first_seen[row["source"]] = (
                row["created_at"],
                row["week"],
                row["motion"],
                row["source_type"],
                row["source_owner"],
            )
    registry = {}
    for source, (seen_at, first_week, motion, source_type, feed_owner) in first_seen.items():
        # Owner: configuration first, then the one the feed names (a partner manifest),
        # then the validation owner.
        configured = config.sources.get(source)
        owner = (configured.owner if configured else None) or feed_owner or config.validation.owner
        registry[source] = SourceInfo(
            source=source,
            source_type=source_type or config.source_type(source),
            motion=(configured.motion if configured and configured.motion else motion),
            owner=owner,
            first_seen_at=seen_at,
            first_week=first_week,
            established=bool(configured and configured.established) or first_week == history_start,
        )
    return registry, history_start


def source_histories(warehouse: Warehouse, week: str) -> dict[str, list[Judged]]:
    """Return every source's judged leads from the first week of history to `week`."""
    outcomes = {
        row["lead_id"]: row["passed"]
        for row in warehouse.rows(
            "lead_validation", before=next_week(week), columns=["lead_id", "passed"]
        )
    }
    history: dict[str, list[Judged]] = defaultdict(list)
    columns = ["lead_id", "source", "created_at"]
    for row in warehouse.rows("leads", before=next_week(week), columns=columns):
        history[row["source"]].append(Judged(row["created_at"], outcomes.get(row["lead_id"])))
    return history


def build_validation_assets(partitions: PartitionsDefinition, leads_asset) -> list:
    @asset(
        partitions_def=partitions,
        group_name="validation",
        deps=[leads_asset],
        description=(
            "Each lead created in the week checked against the compliance, truth and value "
            "rules, with every failed rule, the rules that did not apply and the rule version."
        ),
    )
    def lead_validation(
        context: AssetExecutionContext, cadence: CadenceResource
    ) -> MaterializeResult:
        config = cadence.governance
        week = context.partition_key
        warehouse = cadence.warehouse
        batch = [
            lead_from_json(row["record"])
            for row in warehouse.rows("raw_leads", weeks=[week])
            if row["created_week"] == week
        ]
        known: dict[str, str] = {}
        earlier = warehouse.rows(
            "leads", before=week, columns=["lead_id", "created_at", "email_key"]
        )
        for row in sorted(earlier, key=lambda r: (r["created_at"], r["lead_id"])):
            if row["email_key"]:
                known.setdefault(row["email_key"], row["lead_id"])
        results = validate_batch(batch, config, known)
        sources = {lead.lead_id: lead.source for lead in batch}
        rows = [
            {
                "lead_id": r.lead_id,
                "source": sources[r.lead_id],
                "passed": r.passed,
                "failed_rules": ",".join(r.failed_rules),
                "not_applicable_rules": ",".join(r.not_applicable_rules),
                "rule_version": r.rule_version,
                "duplicate_of": r.duplicate_of,
            }
            for r in results
        ]
        warehouse.replace_week("lead_validation", week, rows)
        # The rule set is a definition: register the version this week's results name.
        if results and warehouse.register_definition(
            "validation_rules",
            results[0].rule_version,
            week,
            config.validation.owner,
            json.dumps(rule_set_description(config), sort_keys=True, default=str),
        ):
            context.log.info("registered validation rule set %s", results[0].rule_version)
        versions = {
            row["definition_version"]
            for row in warehouse.rows("leads", weeks=[week], columns=["definition_version"])
            if row["definition_version"]
        }
        for version in sorted(versions):
            warehouse.register_definition(
                "mql_definition", version, week, "revops_lead", "seen on MQLs of this week"
            )
        failures: dict[str, int] = defaultdict(int)
        for r in results:
            for rule in r.failed_rules:
                failures[rule] += 1
        table = "\n".join(
            ["| rule | failures |", "|---|---:|"]
            + [f"| {rule} | {count} |" for rule, count in sorted(failures.items())]
        )
        passed = sum(1 for r in results if r.passed)
        evaluated = sum(1 for r in results if r.passed is not None)
        context.log.info(
            "week %s: %d leads, %d evaluated, %d passed", week, len(rows), evaluated, passed
        )
        return MaterializeResult(
            metadata={
                "leads": len(rows),
                "evaluated": evaluated,
                "passed": passed,
                "failed_rules": MetadataValue.md(table),
            }
        )

    @asset(
        partitions_def=partitions,
        group_name="validation",
        deps=[lead_validation],
        description=(
            "Pass rate by source with its 95% Wilson interval, threshold and status; new "
            "sources go through the onboarding gate, established ones escalate when below "
            "standard two weeks running."
        ),
        check_specs=[
            AssetCheckSpec(
                "sources_meet_standard",
                asset="validation_pass_rate",
                description="No source is paused or below its validation standard.",
            )
        ],
    )
    def validation_pass_rate(
        context: AssetExecutionContext, cadence: CadenceResource
    ) -> MaterializeResult:
        config = cadence.governance
        week = context.partition_key
        warehouse = cadence.warehouse
        registry, history_start = build_registry(warehouse, week, config)
        rule_version = effective_rule_version(config)
        history = source_histories(warehouse, week)

        statuses = []
        for source, info in sorted(registry.items()):
            weeks = weeks_between(min(info.first_week, history_start or week), week)
            timeline = source_timeline(info, history[source], weeks, config, as_of=cadence.as_of())
            if timeline and timeline[-1].week == week:
                statuses.append(timeline[-1])
        rows = [
            {
                "source": s.source,
                "source_type": registry[s.source].source_type,
                "motion": registry[s.source].motion,
                "leads": s.leads,
                "evaluated": s.evaluated,
                "passed": s.passed,
                "pass_rate": s.pass_rate,
                "ci_low": s.ci_low,
                "ci_high": s.ci_high,
                "threshold": s.threshold,
                "status": s.status,
                "established": s.established,
                "rule_version": rule_version,
                "note": s.note,
            }
            for s in statuses
        ]
        warehouse.replace_week("validation_pass_rate", week, rows)
        warehouse.replace_week(
            "weekly_findings",
            week,
            finding_rows(validation_findings(statuses, registry, config)),
            block="validation",
        )
        flagged = [s for s in statuses if s.status in (PAUSED, BELOW_THRESHOLD)]
        preview = "\n".join(
            ["| source | leads | pass rate | threshold | status |", "|---|---:|---:|---:|---|"]
            + [
                f"| {r['source']} | {r['leads']} | "
                f"{'n/a' if r['pass_rate'] is None else format(r['pass_rate'], '.1%')} | "
                f"{r['threshold']:.0%} | {r['status']} |"
                for r in rows
            ]
        )
        return MaterializeResult(
            metadata={
                "sources": len(rows),
                "flagged": len(flagged),
                "pass_rates": MetadataValue.md(preview),
            },
            check_results=[
                governance_check(
                    "sources_meet_standard",
                    [s.source for s in flagged],
                    "flagged",
                    gates=str([asdict(s.gate) for s in flagged if s.gate])[:2000],
                )
            ],
        )

    return [lead_validation, validation_pass_rate]
