"""Weekly block 4: signal-class qualification against the model, and dormancy."""

from datetime import datetime, timedelta

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from cadence_pipeline.assets.common import finding_rows, governance_check, markdown_table, next_week
from cadence_pipeline.governance.findings import signal_findings
from cadence_pipeline.governance.records import lead_from_json
from cadence_pipeline.governance.signals import (
    BELOW_MODEL,
    Signal,
    evaluate_classes,
    find_dormant,
)
from cadence_pipeline.governance.weeks import shift_week, week_key
from cadence_pipeline.resources.cadence import CadenceResource


def _signal(row: dict) -> Signal:
    return Signal(
        lead_id=row["lead_id"],
        signal_class=row["signal_class"],
        motion=row["motion"],
        signal_at=row["signal_at"],
        qualified_at=row["qualified_at"],
        account_id=row["account_id"],
    )


def account_activity(cadence: CadenceResource, since: str, week: str) -> dict[str, datetime]:
    """Return each account's last CRM activity seen in raw records, when the CRM reports it.

    Salesforce reports it with `connectors.salesforce.account_activity.enabled`; otherwise
    the raw records carry none and this returns an empty mapping without reading them.
    """
    salesforce = cadence.governance.connectors.get("salesforce", {})
    if not salesforce.get("account_activity", {}).get("enabled"):
        return {}
    latest: dict[str, datetime] = {}
    for row in cadence.warehouse.rows(
        "raw_leads", since=since, before=next_week(week), columns=["record"]
    ):
        lead = lead_from_json(row["record"])
        value = lead.extra.get("account_last_activity_at")
        if lead.account_id and value:
            at = datetime.fromisoformat(value)
            if lead.account_id not in latest or at > latest[lead.account_id]:
                latest[lead.account_id] = at
    return latest


def build_signal_assets(partitions: PartitionsDefinition, leads_asset) -> list:
    @asset(
        partitions_def=partitions,
        group_name="signals",
        deps=[leads_asset],
        description=(
            "Qualification rate per signal class against the class model at the same signal "
            "age (provisional while the window is open), plus dormant cohorts and accounts."
        ),
        check_specs=[
            AssetCheckSpec(
                "classes_within_model",
                asset="signal_class_performance",
                description="No signal class falls more than the tolerance below its model.",
            )
        ],
    )
    def signal_class_performance(
        context: AssetExecutionContext, cadence: CadenceResource
    ) -> MaterializeResult:
        config = cadence.governance
        rules = config.signals
        window = cadence.week_window(context.partition_key)
        warehouse = cadence.warehouse
        # Observe each week's signals when their window has closed, or at the run's as-of.
        observed_at = min(window.as_of, window.end + timedelta(days=rules.window_days))
        signals = [_signal(row) for row in warehouse.rows("signals", weeks=[window.week])]
        classes = evaluate_classes(signals, observed_at, rules)

        history_start = shift_week(window.week, -20)
        history = [
            _signal(row)
            for row in warehouse.rows("signals", since=history_start, before=next_week(window.week))
        ]
        dormant = find_dormant(
            history,
            window.observed_at,
            rules,
            account_activity=account_activity(cadence, history_start, window.week),
        )
        first_weeks: dict[str, str] = {}
        class_weeks = warehouse.rows(
            "signals", before=next_week(window.week), columns=["signal_class", "week"]
        )
        for row in class_weeks:
            first = first_weeks.get(row["signal_class"])
            if first is None or row["week"] < first:
                first_weeks[row["signal_class"]] = row["week"]

        rows = [
            {
                "signal_class": c.signal_class,
                "motion": c.motion,
                "signals": c.signals,
                "qualified": c.qualified,
                "qualification_rate": c.qualification_rate,
                "expected_rate": c.expected_rate,
                "change": c.change,
                "provisional": c.provisional,
                "observed_at": observed_at,
                "first_week": first_weeks.get(c.signal_class),
                "status": c.status,
            }
            for c in classes
        ]
        warehouse.replace_week("signal_class_performance", window.week, rows)
        warehouse.replace_week(
            "dormancy",
            window.week,
            [
                {
                    "subject_type": d.subject_type,
                    "subject": d.subject,
                    "motion": d.motion,
                    "last_signal_at": d.last_signal_at,
                    "days_dark": d.days_dark,
                }
                for d in dormant
            ],
        )
        recent = {window.week, shift_week(window.week, -1)}
        findings = signal_findings(classes, dormant, first_weeks, window.week, recent, config)
        warehouse.replace_week(
            "weekly_findings", window.week, finding_rows(findings), block="signals"
        )
        below = [c for c in classes if c.status == BELOW_MODEL]
        preview = markdown_table(
            ["class", "motion", "signals", "rate", "expected", "change", "status"],
            [
                (
                    c.signal_class,
                    c.motion,
                    c.signals,
                    f"{c.qualification_rate:.1%}",
                    f"{c.expected_rate:.1%}",
                    "n/a" if c.change is None else f"{c.change:+.0%}",
                    c.status + (" (provisional)" if c.provisional else ""),
                )
                for c in classes
            ],
        )
        context.log.info(
            "week %s: %d classes, %d below model, %d dormant subjects",
            window.week,
            len(classes),
            len(below),
            len(dormant),
        )
        return MaterializeResult(
            metadata={
                "classes": len(classes),
                "below_model": len(below),
                "dormant": len(dormant),
                "performance": MetadataValue.md(preview),
                "first_signal_week": min(first_weeks.values(), default="none"),
                "observed_at": observed_at.isoformat(),
                "iso_week": week_key(window.start, config.timezone),
            },
            check_results=[
                governance_check(
                    "classes_within_model", [c.signal_class for c in below], "below_model"
                )
            ],
        )

    return [signal_class_performance]
