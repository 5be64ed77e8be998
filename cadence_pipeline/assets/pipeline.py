"""Weekly block 2: pipeline variance per motion against the trailing four-week average."""

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from cadence_pipeline.assets.common import finding_rows, governance_check, markdown_table, next_week
from cadence_pipeline.governance.findings import pipeline_findings
from cadence_pipeline.governance.pipeline import (
    BREACH,
    EventRow,
    LeadRow,
    Measure,
    evaluate_variance,
    weekly_measures,
)
from cadence_pipeline.governance.weeks import shift_week
from cadence_pipeline.resources.cadence import CadenceResource
from cadence_pipeline.resources.warehouse import Warehouse


def measures_for(
    warehouse: Warehouse, week: str, motions: list[str]
) -> dict[tuple[str, str], Measure]:
    leads = [
        LeadRow(row["motion"]) for row in warehouse.rows("leads", weeks=[week], columns=["motion"])
    ]
    events = [
        EventRow(row["motion"], row["stage"], row["at"], row["mql_at"], row["sal_at"])
        for row in warehouse.rows("lead_events", weeks=[week])
    ]
    return weekly_measures(leads, events, motions)


def build_pipeline_assets(partitions: PartitionsDefinition, leads_asset) -> list:
    @asset(
        partitions_def=partitions,
        group_name="pipeline",
        deps=[leads_asset],
        description=(
            "Volume in and out, SAL acceptance, conversion velocity and motion mix per motion, "
            "each against its deseasonalised trailing four-week average."
        ),
        check_specs=[
            AssetCheckSpec(
                "within_tolerance",
                asset="pipeline_variance",
                description="Every judged metric is within the weekly tolerance.",
            )
        ],
    )
    def pipeline_variance(
        context: AssetExecutionContext, cadence: CadenceResource
    ) -> MaterializeResult:
        config = cadence.governance
        window = cadence.week_window(context.partition_key)
        warehouse = cadence.warehouse
        motions = warehouse.distinct("leads", "motion", before=next_week(window.week))
        extracted = set(warehouse.weeks_present("ingest_runs"))
        trailing_weeks = [
            shift_week(window.week, -offset)
            for offset in range(1, config.pipeline.trailing_weeks + 1)
        ]
        trailing = {
            week: measures_for(warehouse, week, motions)
            for week in trailing_weeks
            if week in extracted
        }
        current = measures_for(warehouse, window.week, motions)
        rows = evaluate_variance(
            window.week, current, trailing, config.pipeline, partial=window.partial
        )
        warehouse.replace_week(
            "pipeline_variance",
            window.week,
            [{k: v for k, v in row.__dict__.items()} for row in rows],
        )
        findings = pipeline_findings(rows, config)
        warehouse.replace_week(
            "weekly_findings", window.week, finding_rows(findings), block="pipeline"
        )
        breaches = [row for row in rows if row.status == BREACH]
        preview = markdown_table(
            ["motion", "metric", "value", "trailing avg", "variance", "status"],
            [
                (
                    row.motion,
                    row.metric,
                    "n/a" if row.value is None else f"{row.value:.3g}",
                    "n/a" if row.trailing_4w_avg is None else f"{row.trailing_4w_avg:.3g}",
                    "n/a" if row.variance is None else f"{row.variance:+.1%}",
                    row.status,
                )
                for row in rows
            ],
        )
        return MaterializeResult(
            metadata={
                "breaches": len(breaches),
                "partial_week": window.partial,
                "variance": MetadataValue.md(preview),
            },
            check_results=[
                governance_check(
                    "within_tolerance", [f"{r.motion}/{r.metric}" for r in breaches], "breaches"
                )
            ],
        )

    return [pipeline_variance]
