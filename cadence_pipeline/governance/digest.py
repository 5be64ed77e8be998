"""The weekly digest laid out by the review's six decision blocks, as plain data.

The same `Digest` renders to markdown (the copy kept under CADENCE_HOME) and to Slack
Block Kit. It carries source ids, codes and counts, never contact data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cadence_pipeline.governance.weeks import shift_week

Mention = Callable[[str | None], str]


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)


@dataclass
class Digest:
    cadence: str
    period: str
    title: str
    context: str
    blockers: list[str]
    sections: list[Section]

    def to_markdown(self) -> str:
        out = [f"# {self.title}", "", self.context, ""]
        if self.blockers:
            out += ["**Blockers**", ""] + [f"- {line}" for line in self.blockers] + [""]
        for section in self.sections:
            out += [f"## {section.title}", ""]
            out += [f"- {line}" for line in section.lines] or ["- nothing to report"]
            out.append("")
        return "\n".join(out)

    def content_hash(self) -> str:
        return hashlib.sha256(self.to_markdown().encode()).hexdigest()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _pct(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}%}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.0%}"


def _pipeline_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    displayed_metrics = (
        "volume_in",
        "volume_out",
        "sal_acceptance_rate",
        "mql_to_sal_days",
        "b2b_share",
    )
    for motion in sorted({row["motion"] for row in rows}):
        parts = []
        for metric in displayed_metrics:
            row = next((r for r in rows if r["motion"] == motion and r["metric"] == metric), None)
            if row is None:
                continue
            if row["value"] is None:
                parts.append(f"{metric.replace('_', ' ')} n/a")
                continue
            value = row["value"]
            if metric.endswith("rate") or metric.endswith("share"):
                text = _pct(value)
            elif metric.endswith("days"):
                text = f"{value:.1f} d"
            else:
                text = f"{value:.0f}"
            note = ""
            status = row["status"]
            if status == "breach":
                note = f" :warning: {_signed(row['variance'])} vs 4-wk avg"
            elif status == "ok":
                note = f" ({_signed(row['variance'])})"
            elif status == "within_noise":
                note = f" ({_signed(row['variance'])}, within noise)"
            elif status in ("low_volume", "insufficient_history", "partial_week"):
                note = f" ({status.replace('_', ' ')})"
            parts.append(f"{metric.replace('_', ' ')} {text}{note}")
        if parts:
            lines.append(f"*{motion}*: " + "; ".join(parts))
    return lines


def build_weekly_digest(
    week: str,
    *,
    as_of_text: str,
    pass_rates: Sequence[Mapping[str, Any]],
    variance: Sequence[Mapping[str, Any]],
    classes: Sequence[Mapping[str, Any]],
    dormant: Sequence[Mapping[str, Any]],
    rejections: Sequence[Mapping[str, Any]],
    escalations: Sequence[Mapping[str, Any]],
    mention: Mention,
    resolved: Sequence[Mapping[str, Any]] | None = None,
) -> Digest:
    """Lay out one week's contract rows as the six blocks of the weekly review.

    `resolved` contains last week's escalation rows. Those not present this week are listed
    as closed, because an escalation is present only in the weeks its rule still fires.
    """
    iso = date.fromisoformat(week).isocalendar()
    title = f"Weekly demand review: week of {week} (ISO {iso.year}-W{iso.week:02d})"
    blockers = [
        f"{row['rule']} on {row['subject']} has no owner: assign one before the review"
        for row in escalations
        if not row["owner"]
    ]

    carried = [row for row in escalations if row["first_week"] <= shift_week(week, -2)]
    actions = Section("1. Action register")
    for row in carried:
        actions.lines.append(
            f"`{row['escalation_id']}` {row['rule']} on *{row['subject']}*, open since "
            f"{row['first_week']} (present in {row['occurrences']} weeks), "
            f"{mention(row['owner'])}: open for more than 14 days, flagged into the monthly "
            "risk register"
        )
    present = {row["escalation_id"] for row in escalations}
    for row in resolved or []:
        if row["escalation_id"] not in present:
            actions.lines.append(
                f"`{row['escalation_id']}` {row['rule']} on *{row['subject']}*: not raised "
                "this week, closed"
            )
    if not carried:
        actions.lines.append("no escalation has been open for more than 14 days")

    pipeline = Section("2. Pipeline variance", _pipeline_lines(variance))

    validation = Section("3. Validation pass rate by source")
    if not pass_rates:
        validation.lines.append("no leads from any source this week: pass rates n/a")
    for row in sorted(pass_rates, key=lambda r: (r["status"] == "ok", r["source"])):
        if row["status"] == "not_applicable":
            validation.lines.append(
                f"*{row['source']}*: {row['leads']} leads, validation not applicable "
                "(the source provides no validated fields)"
            )
            continue
        interval = ""
        if row["ci_low"] is not None:
            interval = f" [{_pct(row['ci_low'])}-{_pct(row['ci_high'])}]"
        flag = {
            "paused": " :no_entry:",
            "below_threshold": " :warning:",
            "onboarding": " :hourglass:",
            "low_volume": " (low volume)",
        }.get(row["status"], "")
        note = f"; {row['note']}" if row["note"] else ""
        validation.lines.append(
            f"*{row['source']}*{flag}: {_pct(row['pass_rate'], 1)}{interval} of "
            f"{row['evaluated']} against {_pct(row['threshold'])}, {row['status']}{note}"
        )

    signals = Section("4. Signal-class performance")
    for row in classes:
        if row["status"] != "below_model":
            continue
        signals.lines.append(
            f":warning: *{row['signal_class']}* ({row['motion']}): "
            f"{_pct(row['qualification_rate'], 1)} vs model {_pct(row['expected_rate'], 1)} "
            f"({_signed(row['change'])}{', provisional' if row['provisional'] else ''})"
        )
    judged = [row for row in classes if row["status"] != "low_volume"]
    signals.lines.append(
        f"{len(judged)} classes judged, {sum(r['status'] == 'below_model' for r in classes)} "
        f"below model, {sum(r['status'] == 'low_volume' for r in classes)} low volume"
    )
    cohorts = [row for row in dormant if row["subject_type"] == "cohort"]
    accounts = [row for row in dormant if row["subject_type"] == "account"]
    for row in cohorts:
        signals.lines.append(f"dormant cohort *{row['subject']}*: dark {row['days_dark']} days")
    if accounts:
        signals.lines.append(f"{len(accounts)} B2B accounts dark for more than 30 days")

    handoffs = Section("5. Handoff disputes")
    for stage in ("mql", "sal"):
        stage_rows = sorted(
            (r for r in rejections if r["stage"] == stage), key=lambda r: -r["count"]
        )
        if not stage_rows:
            continue
        total = sum(r["count"] for r in stage_rows)
        top = ", ".join(f"{r['rejection_code']} {_pct(r['share'])}" for r in stage_rows[:4])
        handoffs.lines.append(f"*{stage.upper()} rejections* ({total}): {top}")
        for row in stage_rows:
            if row["status"] != "mapped":
                handoffs.lines.append(
                    f":warning: code *{row['rejection_code']}* ({row['count']}) "
                    f"{row['status'].replace('_', ' ')}"
                )

    decisions = Section("6. Decisions and owners")
    for row in escalations:
        if row["occurrences"] != 1:
            continue
        tier = f" -> {row['escalated_to']}" if row["escalated_to"] else ""
        drift = f" [{row['drift_mode']}]" if row["drift_mode"] else ""
        decisions.lines.append(f"{mention(row['owner'])}{tier}{drift}: {row['summary']}")
    if not decisions.lines:
        decisions.lines.append("no new escalation this week")

    new = sum(1 for row in escalations if row["occurrences"] == 1)
    return Digest(
        cadence="weekly",
        period=week,
        title=title,
        context=(
            f"As of {as_of_text}. {_count(len(escalations), 'escalation')} present this week: "
            f"{new} new, {len(escalations) - new} carried over."
        ),
        blockers=blockers,
        sections=[actions, pipeline, validation, signals, handoffs, decisions],
    )
