"""Weekly block 5: MQL and SAL rejection codes, routes, owners and definition versions."""

from collections import Counter

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from cadence_pipeline.assets.common import finding_rows, governance_check, markdown_table
from cadence_pipeline.governance.findings import handoff_findings
from cadence_pipeline.governance.handoffs import (
    STAGE_OF_EVENT,
    UNMAPPED,
    Rejection,
    evaluate_codes,
    normalise_code,
)
from cadence_pipeline.resources.cadence import CadenceResource


def build_handoff_assets(partitions: PartitionsDefinition, leads_asset) -> list:
    @asset(
        partitions_def=partitions,
        group_name="handoffs",
        deps=[leads_asset],
        description=(
            "MQL and SAL rejections of the week by code, with share, remediation route, "
            "owner and whether the code is mapped, awaiting an owner or unmapped."
        ),
        check_specs=[
            AssetCheckSpec(
                "codes_mapped",
                asset="handoff_rejections",
                description="Every rejection code has a remediation route or an owner.",
            )
        ],
    )
    def handoff_rejections(
        context: AssetExecutionContext, cadence: CadenceResource
    ) -> MaterializeResult:
        config = cadence.governance
        window = cadence.week_window(context.partition_key)
        warehouse = cadence.warehouse
        first_seen: dict = {}
        earlier = warehouse.rows(
            "lead_events", before=window.week, columns=["stage", "rejection_code", "at"]
        )
        for row in earlier:
            if row["stage"] in STAGE_OF_EVENT:
                code = normalise_code(row["rejection_code"])
                if code not in first_seen or row["at"] < first_seen[code]:
                    first_seen[code] = row["at"]
        rejections = []
        versions: Counter = Counter()
        for row in warehouse.rows("lead_events", weeks=[window.week]):
            if row["stage"] in STAGE_OF_EVENT:
                rejections.append(
                    Rejection(
                        STAGE_OF_EVENT[row["stage"]],
                        normalise_code(row["rejection_code"]),
                        row["at"],
                    )
                )
            if row["stage"] == "mql" and row["definition_version"]:
                versions[row["definition_version"]] += 1
        codes = evaluate_codes(rejections, window.observed_at, config.handoffs, first_seen)
        rows = [
            {
                "stage": c.stage,
                "rejection_code": c.rejection_code,
                "count": c.count,
                "share": c.share,
                "remediation_route": c.remediation_route,
                "owner": c.owner,
                "status": c.status,
                "first_seen_at": c.first_seen_at,
            }
            for c in codes
        ]
        warehouse.replace_week("handoff_rejections", window.week, rows)
        findings = handoff_findings(codes, dict(versions), config)
        warehouse.replace_week(
            "weekly_findings", window.week, finding_rows(findings), block="handoffs"
        )
        unmapped = [c for c in codes if c.status == UNMAPPED]
        preview = markdown_table(
            ["stage", "code", "count", "share", "route", "status"],
            [
                (
                    c.stage,
                    c.rejection_code,
                    c.count,
                    f"{c.share:.0%}",
                    c.remediation_route or "-",
                    c.status,
                )
                for c in codes
            ],
        )
        return MaterializeResult(
            metadata={
                "rejections": len(rejections),
                "codes": len(codes),
                "unmapped": len(unmapped),
                "codes_table": MetadataValue.md(preview),
            },
            check_results=[
                governance_check("codes_mapped", [c.rejection_code for c in unmapped], "unmapped")
            ],
        )

    return [handoff_rejections]
