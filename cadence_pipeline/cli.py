"""The `cadence` command line: `cadence demo` runs the weekly review end to end."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from dagster import DagsterError
from rich.console import Console

from cadence_pipeline.governance.weeks import shift_week, span_for, week_key, week_start
from cadence_pipeline.settings import (
    SLACK_TARGETS,
    RunState,
    Settings,
    load_run_state,
    load_settings,
    save_run_state,
)
from cadence_pipeline.simulator.spec import EngineSpec

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Run the governance cadence of a marketing demand engine on Dagster.",
)
console = Console(highlight=False, soft_wrap=True)

DEFAULT_WEEKS = 16  # four warm-up weeks for the trailing averages plus twelve reviewed weeks

DAGSTER_YAML = """\
# Dagster instance for cadence: SQLite storage under this folder, no telemetry.
telemetry:
  enabled: false
"""


# The demo prints its own progress; Dagster's console logger shows only warnings. The run's
# full event log stays in the Dagster instance for the UI.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


# The snapshot's first sync starts here; no CRM record is older.
EARLIEST_AS_OF = datetime(2000, 1, 2, tzinfo=UTC)


class DemoError(RuntimeError):
    """The demo cannot go on; the message names what to change."""


def _parse_as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise typer.BadParameter(
            f"{value!r} is not an ISO date or datetime (examples: 2026-11-30, "
            "2026-11-30T09:00+00:00)"
        ) from error
    if parsed.tzinfo is None:
        # A bare date or naive datetime is read in UTC, the documented default.
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if parsed > datetime.now(UTC):
        raise typer.BadParameter(
            f"{value!r} is in the future; the as-of instant is the CRM's 'now' and cannot be "
            "later than this machine's clock"
        )
    if parsed < EARLIEST_AS_OF:
        raise typer.BadParameter(f"{value!r} is before {EARLIEST_AS_OF.date()}; pass a later date")
    return parsed


def prepare_home(settings: Settings) -> None:
    """Create CADENCE_HOME and its Dagster home, and point DAGSTER_HOME at it."""
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)


def _reset_for_new_data(settings: Settings, state: RunState) -> None:
    """Drop cadence's tables when the data or span changed, so weeks never mix."""
    previous = load_run_state(settings)
    if previous is None or previous.data != state.data or previous.span != state.span:
        from cadence_pipeline.resources.warehouse import Warehouse, metadata

        warehouse = Warehouse(settings.warehouse_url)
        metadata.drop_all(warehouse.engine)
        warehouse.dispose()
        shutil.rmtree(settings.home / "emulators", ignore_errors=True)


def _write_fixtures(
    settings: Settings,
    data: Path | None,
    weeks: int,
    as_of: datetime | None,
    seed: int,
    spec: EngineSpec | None = None,
) -> tuple[RunState, str]:
    fixtures = settings.fixtures_dir
    shutil.rmtree(fixtures, ignore_errors=True)
    fixtures.mkdir(parents=True)
    timezone = settings.load_governance().timezone
    if data is None:
        from cadence_pipeline.simulator import generate

        as_of = as_of or datetime.now(UTC).replace(microsecond=0)
        summary = generate(fixtures, as_of=as_of, weeks=weeks, seed=seed, spec=spec)
        span = span_for(summary.last_record, weeks, as_of, timezone)
        label = f"simulator (seed {seed})"
        data_id = f"simulator:{seed}"
        if spec is not None:
            data_id += ":" + hashlib.sha256(repr(spec).encode()).hexdigest()[:12]
        return RunState(mode="demo", data=data_id, span=span), label

    from cadence_pipeline.datasets import convert

    summary = convert(data, fixtures, timezone=timezone, as_of=as_of)
    span = summary.span(weeks, timezone)
    if summary.as_of <= summary.last_record:
        # The data runs past the requested as-of: the span ends with the as-of's week, and
        # records after it stay out of the run, as they would in a CRM at that instant.
        span = span_for(summary.as_of - timedelta(microseconds=1), weeks, summary.as_of, timezone)
        console.print(
            f"  --as-of {summary.as_of.date()} is before the data's last record "
            f"({summary.last_record.date()}): records after it are outside the run"
        )
    label = f"{summary.kind} data set at {data}, {summary.leads_written} leads"
    if summary.rejected_rows:
        console.print(
            f"  {summary.rejected_rows} rows or values were not used; reasons in "
            f"{fixtures / 'rejected_rows.csv'}"
        )
    return RunState(mode="demo", data=f"{summary.kind}:{data.resolve()}", span=span), label


@app.command()
def demo(
    weeks: Annotated[
        int,
        typer.Option(
            min=1,
            max=260,
            help="Weekly partitions to materialize, counted back from the week of the last record.",
        ),
    ] = DEFAULT_WEEKS,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Fix 'now' (ISO date or datetime, UTC if no offset) for a reproducible run.",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder of a public data set (Olist, Maven "
            "or X Education) to run on instead of the "
            "simulator."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    slack_target: Annotated[
        str | None,
        typer.Option(
            help="Where digests go: emulator, file or live (overrides CADENCE_SLACK_TARGET)."
        ),
    ] = None,
) -> None:
    """Generate or convert data, start the emulators and run every weekly partition."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if slack_target is not None:
        if slack_target not in SLACK_TARGETS:
            raise typer.BadParameter(f"--slack-target must be one of {', '.join(SLACK_TARGETS)}")
        os.environ["CADENCE_SLACK_TARGET"] = slack_target
    try:
        settings = load_settings()
        run_demo(settings, weeks=weeks, as_of=_parse_as_of(as_of), data=data, seed=seed)
    except (DemoError, ValueError, FileNotFoundError, DagsterError) as error:
        console.print(f"[red]cadence demo failed:[/red] {error}")
        raise typer.Exit(code=1) from error


def run_demo(
    settings: Settings,
    *,
    weeks: int,
    as_of: datetime | None,
    data: Path | None,
    seed: int,
    spec: EngineSpec | None = None,
) -> None:
    """Write fixtures (simulated with `spec`, or converted from `data`) and run every week."""
    started = time.perf_counter()
    prepare_home(settings)
    check_targets(settings)
    console.print(f"cadence demo in {settings.home}")
    state, label = _write_fixtures(settings, data, weeks, as_of, seed, spec)
    _reset_for_new_data(settings, state)
    save_run_state(settings, state)
    span = state.span
    console.print(
        f"  data: {label}; {len(span.weeks)} weeks {span.first_week} .. {span.last_week}"
        f"{' (last week partial)' if span.partial_last_week else ''}; "
        f"as of {span.as_of.isoformat()}"
    )

    from cadence_pipeline.resources.warehouse import Warehouse

    partial_week = span.last_week if span.partial_last_week else None
    run_weeks(settings, span.weeks, partial_week=partial_week)
    warehouse = Warehouse(settings.warehouse_url)
    _print_summary(settings, warehouse, span, time.perf_counter() - started)
    warehouse.dispose()


def check_targets(settings: Settings) -> None:
    """Fail before any work when the warehouse or the Slack target cannot be used."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from cadence_pipeline.resources.warehouse import Warehouse

    # The URL is shown only with its password hidden, and not at all when it cannot be
    # parsed, because SQLAlchemy's parse error repeats the whole string.
    try:
        display_url = _safe_url(settings.warehouse_url)
    except ArgumentError as error:
        raise DemoError(
            "CADENCE_WAREHOUSE_URL is not a valid SQLAlchemy URL. Fix it (e.g. "
            "postgresql+psycopg2://user@host:5432/db), or unset it for the SQLite default"
        ) from error
    try:
        warehouse = Warehouse(settings.warehouse_url)
        warehouse.ensure_schema()
        warehouse.dispose()
    except (ArgumentError, SQLAlchemyError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise DemoError(
            f"the warehouse at {display_url} cannot be used: {reason}. Fix CADENCE_WAREHOUSE_URL "
            "(e.g. postgresql+psycopg2://user@host:5432/db), or unset it for the SQLite default"
        ) from error
    if settings.slack_target == "live" and not os.environ.get("SLACK_BOT_TOKEN"):
        raise DemoError(
            "CADENCE_SLACK_TARGET=live needs a bot token: set SLACK_BOT_TOKEN, or use the "
            "`file` or `emulator` target"
        )


def _failure_reason(result) -> str:
    """Return the innermost error message of a failed run's first failed step."""
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = event.event_specific_data.error
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None:
            return error.message.strip().splitlines()[-1] if error.message.strip() else ""
    return ""


def run_weeks(settings: Settings, weeks: list[str], *, partial_week: str | None = None) -> None:
    """Run the weekly job for each week in order, in process, printing one line a week.

    Weeks run in order because each week's escalation register continues the one before.
    """
    from dagster import DagsterInstance

    from cadence_pipeline.definitions import WEEKLY_JOB, build_definitions
    from cadence_pipeline.resources.warehouse import Warehouse

    defs = build_definitions(settings)
    job = defs.resolve_job_def(WEEKLY_JOB)
    known = set(job.partitions_def.get_partition_keys())
    missing = [week for week in weeks if week not in known]
    if missing:
        raise DemoError(
            f"week {missing[0]} is not a weekly partition of this code location; the "
            "partitions start at `history_start` in governance.yaml (default: 16 weeks ago)"
        )
    warehouse = Warehouse(settings.warehouse_url)
    with DagsterInstance.get() as instance:
        for index, week in enumerate(weeks, start=1):
            week_started = time.perf_counter()
            result = job.execute_in_process(
                partition_key=week,
                instance=instance,
                raise_on_error=False,
                run_config=QUIET_RUN_CONFIG,
            )
            if not result.success:
                failures = [
                    event.step_key
                    for event in result.all_events
                    if event.event_type_value == "STEP_FAILURE"
                ]
                raise DemoError(
                    f"week {week} failed in {', '.join(filter(None, failures)) or 'the run'}: "
                    f"{_failure_reason(result)} (run {result.run_id}; `cadence dev` shows "
                    "its full log)"
                )
            leads = len(warehouse.rows("leads", weeks=[week], columns=["lead_id"]))
            present = warehouse.rows("escalations", weeks=[week], columns=["occurrences"])
            new = sum(1 for row in present if row["occurrences"] == 1)
            partial = " (partial)" if week == partial_week else ""
            console.print(
                f"  [{index:>2}/{len(weeks)}] week {week}{partial}: {leads:>5} leads, "
                f"{new} new and {len(present) - new} carried-over escalations, "
                f"{time.perf_counter() - week_started:.1f}s"
            )
    warehouse.dispose()


@app.command()
def backfill(
    weeks: Annotated[
        int, typer.Option(min=1, max=260, help="Complete weeks to run, ending with --through.")
    ] = 12,
    through: Annotated[
        str | None,
        typer.Option(help="Last week to run (its Monday, YYYY-MM-DD); default: last week."),
    ] = None,
) -> None:
    """Run the weekly review for past weeks, oldest first, in this process."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        prepare_home(settings)
        governance = settings.load_governance()
        if through is None:
            last = shift_week(week_key(datetime.now(UTC), governance.timezone), -1)
        else:
            try:
                last = week_start(date.fromisoformat(through)).isoformat()
            except ValueError as error:
                raise typer.BadParameter(
                    f"--through {through!r} is not a date (YYYY-MM-DD)"
                ) from error
        selected = [shift_week(last, -offset) for offset in range(weeks - 1, -1, -1)]
        console.print(f"cadence backfill in {settings.home}: {selected[0]} .. {selected[-1]}")
        check_targets(settings)
        run_weeks(settings, selected)
    except (DemoError, ValueError, FileNotFoundError, DagsterError) as error:
        console.print(f"[red]cadence backfill failed:[/red] {error}")
        raise typer.Exit(code=1) from error


def _print_summary(settings: Settings, warehouse, span, seconds: float) -> None:
    leads = warehouse.rows("leads")
    sources = {row["source"] for row in leads}
    escalations = warehouse.rows("escalations")
    new = [row for row in escalations if row["occurrences"] == 1]
    by_drift: dict[str, int] = {}
    for row in new:
        mode = row["drift_mode"] or "no drift mode"
        by_drift[mode] = by_drift.get(mode, 0) + 1
    digest_week = span.last_complete_week
    digests = warehouse.rows("digests", period=digest_week, cadence="weekly")
    console.print("")
    console.print(f"[bold]Done in {seconds:.1f}s[/bold]")
    console.print(f"  weeks:        {len(span.weeks)} ({span.first_week} .. {span.last_week})")
    console.print(f"  leads:        {len(leads)} from {len(sources)} sources")
    drift_text = ", ".join(f"{k} {v}" for k, v in sorted(by_drift.items())) or "none"
    console.print(f"  escalations:  {len(new)} raised over the span ({drift_text})")
    if digests:
        row = digests[0]
        where = (
            f"posted to {row['channel']} via {row['target']}"
            if row["posted_at"]
            else ("recorded, not posted")
        )
        console.print(f"  digest:       week {digest_week}, {where}")
        console.print(f"                {row['markdown_path']}")
    else:
        console.print(f"  digest:       none for week {digest_week}")
    console.print(f"  warehouse:    {_safe_url(settings.warehouse_url)}")
    console.print("  Dagster UI:   cadence dev (or dagster dev -w workspace.yaml with")
    console.print(f"                DAGSTER_HOME={settings.dagster_home})")


def _safe_url(url: str) -> str:
    """Hide a password in a database URL before showing it."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


WORKSPACE_YAML = """\
# Written by `cadence dev`: the cadence code location, named as in the repository's
# workspace.yaml.
load_from:
  - python_module:
      module_name: cadence_pipeline.definitions
      location_name: cadence
"""


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    host: Annotated[str, typer.Option(help="Address the Dagster UI listens on.")] = "127.0.0.1",
) -> None:
    """Open the Dagster UI (and its daemon) on the data under CADENCE_HOME."""
    settings = load_settings()
    prepare_home(settings)
    workspace = settings.dagster_home / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML, encoding="utf-8")
    sibling = Path(sys.executable).with_name("dagster")
    executable = str(sibling) if sibling.exists() else shutil.which("dagster")
    if executable is None:
        console.print(
            "[red]cadence dev failed:[/red] the dagster command is not installed; "
            "run `make install`"
        )
        raise typer.Exit(code=1)
    os.environ["CADENCE_HOME"] = str(settings.home)
    os.execv(
        executable,
        [executable, "dev", "-w", str(workspace), "-h", host, "-p", str(port)],
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
