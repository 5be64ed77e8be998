"""The new-source onboarding gate, evaluated as leads arrive rather than once a week.

`onboarding_gate` walks every source's judged leads up to the end of the week, or to the
run's as-of while the week is in progress. It stores each source's status in the source
registry. The first time a source fails the gate, it sends the source's owner an alert in
Slack at once. The onboarding sensor
and the partner-file sensor run it for the week in progress between weekly reviews; the
weekly job runs it too.
"""

from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from cadence_pipeline.assets.common import markdown_table
from cadence_pipeline.assets.validation import build_registry, source_histories
from cadence_pipeline.governance.config import GovernanceConfig
from cadence_pipeline.governance.sources import (
    GATE_FAIL,
    NOT_APPLICABLE,
    OK,
    ONBOARDING,
    PAUSED,
    SourceInfo,
    WeekStatus,
    source_timeline,
)
from cadence_pipeline.governance.weeks import weeks_between
from cadence_pipeline.resources.cadence import CadenceResource

LIVE = "live"


def registry_status(info: SourceInfo, timeline: list[WeekStatus]) -> tuple[str, str]:
    """Return a source's registry status (onboarding, live, paused) and a short note."""
    if info.established:
        return LIVE, "established"
    judged = [row for row in timeline if row.status != NOT_APPLICABLE]
    if not judged:
        if timeline:
            return LIVE, "no validated fields: the onboarding gate does not apply"
        return ONBOARDING, "no leads yet"
    last = judged[-1]
    if last.status == PAUSED:
        return PAUSED, last.note
    if last.status == ONBOARDING:
        return ONBOARDING, last.note
    if last.status == OK or any(row.status == OK for row in judged):
        return LIVE, last.note or "passed the onboarding gate"
    return ONBOARDING, last.note


def alert_text(info: SourceInfo, row: WeekStatus, config: GovernanceConfig) -> str:
    """Write the owner's alert for a failed gate: figures and the action, no personal data."""
    gate = row.gate
    assert gate is not None
    sample = (
        f"{gate.sample} leads of its first {config.validation.onboarding_hours} hours"
        if gate.basis == "window"
        else f"its first {gate.sample} leads"
    )
    return (
        f":no_entry: {config.seat_mention(info.owner)} new source *{info.source}* "
        f"({info.source_type}) is paused: {gate.passed} of {sample} "
        f"({gate.pass_rate:.0%}, 95% interval {gate.ci_low:.0%}-{gate.ci_high:.0%}) passed "
        f"validation, against the {gate.threshold:.0%} onboarding threshold. "
        "Stop routing it and send it back through onboarding; its later leads are tracked "
        "in the weekly digest."
    )


def build_onboarding_assets(partitions: PartitionsDefinition, validation_asset) -> list:
    @asset(
        partitions_def=partitions,
        group_name="validation",
        deps=[validation_asset],
        description=(
            "Each new source judged on its first 72 hours of leads (or its first sample): "
            "source registry status, and an immediate Slack alert to the owner of a source "
            "that fails the gate."
        ),
    )
    def onboarding_gate(
        context: AssetExecutionContext, cadence: CadenceResource
    ) -> MaterializeResult:
        config = cadence.governance
        window = cadence.week_window(context.partition_key)
        warehouse = cadence.warehouse
        registry, history_start = build_registry(warehouse, window.week, config)
        history = source_histories(warehouse, window.week)
        # One alert per paused source: the gate fails a source once, and its later leads
        # are re-onboarding, tracked in the weekly digest.
        alerted = {row["source"] for row in warehouse.rows("source_alerts", columns=["source"])}
        now = datetime.now(UTC)
        summary_rows = []
        sent = 0
        for source, info in sorted(registry.items()):
            weeks = weeks_between(min(info.first_week, history_start or window.week), window.week)
            timeline = source_timeline(info, history[source], weeks, config, as_of=cadence.as_of())
            status, note = registry_status(info, timeline)
            failed = [
                row for row in timeline if row.gate is not None and row.gate.outcome == GATE_FAIL
            ]
            since = failed[-1].gate.decided_at if status == PAUSED and failed else None
            warehouse.upsert_source(
                {
                    "source": info.source,
                    "source_type": info.source_type,
                    "motion": info.motion,
                    "owner": info.owner,
                    "first_seen_at": info.first_seen_at,
                    "first_week": info.first_week,
                    "established": info.established,
                    "status": status,
                    "status_since": since,
                    "note": note,
                    "updated_at": now,
                }
            )
            for row in failed:
                if source in alerted:
                    continue
                text = alert_text(info, row, config)
                result = cadence.digest_poster().post_alert(text)
                warehouse.insert_row(
                    "source_alerts",
                    {
                        "source": source,
                        "decided_at": row.gate.decided_at,
                        "owner": info.owner,
                        "channel": result.channel,
                        "target": result.target,
                        "posted_at": now,
                        "message_ts": result.message_ts,
                        "text": text,
                    },
                )
                alerted.add(source)
                sent += 1
                context.log.info("source %s failed the onboarding gate; owner alerted", source)
            if not info.established:
                summary_rows.append((source, info.source_type, status, info.owner, note))
        return MaterializeResult(
            metadata={
                "new_sources": len(summary_rows),
                "alerts_sent": sent,
                "onboarding": MetadataValue.md(
                    markdown_table(["source", "type", "status", "owner", "note"], summary_rows)
                ),
            }
        )

    return [onboarding_gate]
