"""The escalation register: this week's findings, continued from earlier weeks."""

from collections import Counter

from dagster import (
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    TimeWindowPartitionMapping,
    asset,
)

from cadence_pipeline.assets.common import markdown_table
from cadence_pipeline.governance.escalations import Finding, assign
from cadence_pipeline.governance.weeks import shift_week
from cadence_pipeline.resources.cadence import CadenceResource

REOPEN_WEEKS = 4


def build_escalation_assets(partitions: PartitionsDefinition, upstream: list) -> list:
    @asset(
        partitions_def=partitions,
        group_name="escalations",
        deps=[
            *upstream,
            AssetDep(
                "escalations",
                partition_mapping=TimeWindowPartitionMapping(start_offset=-1, end_offset=-1),
            ),
        ],
        description=(
            "One row per escalation and week in which it is present, with a stable id "
            "(rule, subject, first week), tier, owner, drift mode and occurrences so far."
        ),
    )
    def escalations(context: AssetExecutionContext, cadence: CadenceResource) -> MaterializeResult:
        window = cadence.week_window(context.partition_key)
        week = window.week
        warehouse = cadence.warehouse
        if window.partial:
            # A week in progress is reviewed once it is complete; raising now would
            # escalate half a week's numbers.
            warehouse.replace_week("escalations", week, [])
            context.log.info("week %s is in progress: no escalations yet", week)
            return MaterializeResult(metadata={"escalations": 0, "partial_week": True})
        findings = [
            Finding(
                rule=row["rule"],
                subject=row["subject"],
                owner=row["owner"],
                summary=row["summary"],
                escalated_to=row["escalated_to"],
                drift_mode=row["drift_mode"],
                raised_in=row["raised_in"],
                evidence={"raw": row["evidence"]} if row["evidence"] else {},
            )
            for row in warehouse.rows("weekly_findings", weeks=[week])
        ]
        earlier = warehouse.rows("escalations", since=shift_week(week, -REOPEN_WEEKS), before=week)
        rows = assign(week, findings, earlier, reopen_weeks=REOPEN_WEEKS)
        # Keep the evidence as the block stored it rather than re-wrapped.
        evidence = {
            (r["rule"], r["subject"]): r["evidence"]
            for r in warehouse.rows("weekly_findings", weeks=[week])
        }
        for row in rows:
            row["evidence"] = evidence.get((row["rule"], row["subject"]))
        warehouse.replace_week("escalations", week, rows)
        by_drift = Counter(row["drift_mode"] or "none" for row in rows)
        context.log.info("week %s: %d escalations", week, len(rows))
        return MaterializeResult(
            metadata={
                "escalations": len(rows),
                "new": sum(1 for row in rows if row["occurrences"] == 1),
                "by_drift_mode": MetadataValue.md(
                    markdown_table(["drift mode", "count"], by_drift.most_common())
                ),
                "register": MetadataValue.md(
                    markdown_table(
                        ["id", "rule", "subject", "to", "owner", "weeks"],
                        [
                            (
                                r["escalation_id"],
                                r["rule"],
                                r["subject"],
                                r["escalated_to"] or "-",
                                r["owner"] or "-",
                                r["occurrences"],
                            )
                            for r in rows
                        ],
                    )
                ),
            }
        )

    return [escalations]
