"""The weekly digest: laid out by the review's blocks, posted once, recorded in `digests`.

A digest is posted only for the latest complete week as of the run, and only once per
period and channel unless the run sets `force`. Digests of earlier weeks (a backfill) are
recorded with their markdown copy but not posted. A partial week gets no digest.
"""

from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from cadence_pipeline.governance.digest import build_weekly_digest
from cadence_pipeline.governance.weeks import shift_week
from cadence_pipeline.resources.cadence import CadenceResource
from cadence_pipeline.resources.charts import pass_rate_trend_png


class DigestConfig(Config):
    force: bool = False
    """Post again even when this period's digest was already posted to the channel."""


def build_digest_assets(
    partitions: PartitionsDefinition, escalations_asset, upstream: list
) -> list:
    @asset(
        partitions_def=partitions,
        group_name="digests",
        deps=[escalations_asset, *upstream],
        description=(
            "The weekly review digest for the meeting owners, laid out by the six decision "
            "blocks; posted to Slack for the latest complete week and recorded in `digests`."
        ),
    )
    def weekly_digest(
        context: AssetExecutionContext, config: DigestConfig, cadence: CadenceResource
    ) -> MaterializeResult:
        governance = cadence.governance
        window = cadence.week_window(context.partition_key)
        if window.partial:
            context.log.info(
                "week %s is not complete as of %s: no digest", window.week, window.as_of.isoformat()
            )
            return MaterializeResult(metadata={"posted": False, "reason": "partial week"})
        warehouse = cadence.warehouse
        week = window.week
        digest = build_weekly_digest(
            week,
            as_of_text=window.as_of.strftime("%Y-%m-%d %H:%M %Z"),
            pass_rates=warehouse.rows("validation_pass_rate", weeks=[week]),
            variance=warehouse.rows("pipeline_variance", weeks=[week]),
            classes=warehouse.rows("signal_class_performance", weeks=[week]),
            dormant=warehouse.rows("dormancy", weeks=[week]),
            rejections=warehouse.rows("handoff_rejections", weeks=[week]),
            escalations=warehouse.rows("escalations", weeks=[week]),
            resolved=warehouse.rows("escalations", weeks=[shift_week(week, -1)]),
            mention=lambda seat: governance.seat_mention(seat) if seat else "no owner",
        )
        settings = cadence.settings
        settings.digests_dir.mkdir(parents=True, exist_ok=True)
        markdown = digest.to_markdown()
        latest = cadence.latest_complete_week()
        chart_path = None
        if week == latest:
            # The trend chart is drawn for the week the review discusses, not for every
            # backfilled week.
            trend_weeks = [shift_week(week, -offset) for offset in range(11, -1, -1)]
            trend_rows = warehouse.rows(
                "validation_pass_rate",
                since=trend_weeks[0],
                before=shift_week(week, 1),
                columns=["week", "source", "pass_rate"],
            )
            chart_path = settings.digests_dir / f"weekly-{week}-pass-rates.png"
            chart_path.write_bytes(
                pass_rate_trend_png(
                    trend_rows, trend_weeks, governance.validation.threshold.default
                )
            )
            markdown += f"\n![Twelve-week pass rate by source]({chart_path.name})\n"
        markdown_path = settings.digests_dir / f"weekly-{week}.md"
        markdown_path.write_text(markdown, encoding="utf-8")
        channel = governance.slack.channel
        content_hash = digest.content_hash()

        previous = [
            row
            for row in warehouse.rows("digests", cadence="weekly", period=week, channel=channel)
            if row["posted_at"] is not None
        ]
        row = {
            "cadence": "weekly",
            "period": week,
            "channel": channel,
            "target": settings.slack_target,
            "posted_at": None,
            "message_ts": None,
            "content_hash": content_hash,
            "markdown_path": str(markdown_path),
            "recorded_at": datetime.now(UTC),
        }
        if week != latest:
            reason = f"backfill: only the latest complete week ({latest}) is posted"
        elif previous and not config.force:
            reason = f"already posted at {previous[0]['posted_at'].isoformat()}"
            row.update(
                posted_at=previous[0]["posted_at"],
                message_ts=previous[0]["message_ts"],
                target=previous[0]["target"],
            )
        else:
            if settings.slack_target == "emulator" and not cadence.demo_mode:
                context.log.warning(
                    "the Slack target is the local emulator, so no one receives this digest; "
                    "set CADENCE_SLACK_TARGET=live and SLACK_BOT_TOKEN to deliver it"
                )
            poster = cadence.digest_poster()
            result = poster.post(digest, governance.slack.max_blocks)
            row.update(
                posted_at=datetime.now(UTC), message_ts=result.message_ts, target=result.target
            )
            reason = f"posted to {channel} via {result.target} ({result.messages} messages)"
            if chart_path is not None and poster.post_chart(
                chart_path.read_bytes(),
                chart_path.name,
                "Validation pass rate by source, twelve weeks",
                None if result.target == "file" else result.message_ts,
            ):
                reason += " with the pass-rate chart"
        warehouse.insert_digest(row)
        context.log.info("weekly digest %s: %s", week, reason)
        metadata = {}
        if chart_path is not None:
            metadata["pass_rate_chart"] = MetadataValue.path(str(chart_path))
        return MaterializeResult(
            metadata={
                **metadata,
                "posted": row["posted_at"] is not None and reason.startswith("posted"),
                "reason": reason,
                "content_hash": content_hash,
                "markdown_path": MetadataValue.path(str(markdown_path)),
                "digest": MetadataValue.md(digest.to_markdown()[:20000]),
            }
        )

    return [weekly_digest]
