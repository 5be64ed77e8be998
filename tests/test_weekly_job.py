"""The weekly job end to end: simulator fixtures, emulators, every asset, the digest."""

import json
import re
import uuid
from datetime import UTC, datetime

import pytest
from dagster import DagsterInstance
from sqlalchemy import create_engine, text

from cadence_pipeline.cli import QUIET_RUN_CONFIG, prepare_home, run_demo
from cadence_pipeline.definitions import WEEKLY_JOB, build_definitions
from cadence_pipeline.emulators import stop_process_emulators
from cadence_pipeline.governance.weeks import span_for
from cadence_pipeline.resources.warehouse import Warehouse
from cadence_pipeline.settings import RunState, load_settings, save_run_state
from cadence_pipeline.simulator import generate

AS_OF = datetime(2026, 12, 4, tzinfo=UTC)  # a Friday: the week of 2026-11-30 is partial
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    """Run the default demo once: 16 weeks of the simulated engine."""
    home = tmp_path_factory.mktemp("demo")
    env = {"CADENCE_HOME": str(home), "CADENCE_SLACK_TARGET": "emulator"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("CADENCE_WAREHOUSE_URL", raising=False)
        patch.delenv("CADENCE_CONFIG", raising=False)
        settings = load_settings()
        run_demo(settings, weeks=16, as_of=AS_OF, data=None, seed=7)
        yield settings
    stop_process_emulators()


def _slack_messages(settings) -> list[dict]:
    path = settings.home / "emulators" / "slack_messages.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.timeout(300)
def test_demo_finds_both_scenarios(demo_home):
    warehouse = Warehouse(demo_home.warehouse_url)
    manifest = json.loads((demo_home.fixtures_dir / "manifest.json").read_text())["summary"]
    partner = manifest["partner"]["source_id"]
    cohort = manifest["cohort"]["signal_class"]
    rows = warehouse.rows("escalations")
    by_mode = {(row["drift_mode"], row["subject"]) for row in rows}
    assert ("validation_rollback", partner) in by_mode
    assert ("signal_noise_creep", cohort) in by_mode


@pytest.mark.timeout(300)
def test_partner_paused_within_onboarding_window(demo_home):
    warehouse = Warehouse(demo_home.warehouse_url)
    manifest = json.loads((demo_home.fixtures_dir / "manifest.json").read_text())["summary"]
    partner = manifest["partner"]
    rows = warehouse.rows("validation_pass_rate", source=partner["source_id"])
    first = min(rows, key=lambda row: row["week"])
    assert first["week"] == partner["first_week"]
    assert first["status"] == "paused"
    assert first["pass_rate"] == pytest.approx(0.41, abs=0.06)
    (escalation,) = warehouse.rows(
        "escalations", rule="validation.onboarding_gate", subject=partner["source_id"]
    )
    evidence = json.loads(escalation["evidence"])
    decided = datetime.fromisoformat(evidence["decided_at"])
    first_delivery = datetime.fromisoformat(partner["first_delivery_at"])
    assert (decided - first_delivery).total_seconds() <= 72 * 3600
    assert escalation["owner"] == partner["owner"]
    (alert,) = warehouse.rows("source_alerts", source=partner["source_id"])
    assert alert["posted_at"] is not None
    alerts = [m for m in _slack_messages(demo_home) if partner["source_id"] in m.get("text", "")]
    assert len(alerts) == 1
    assert "is paused" in alerts[0]["text"]
    (registered,) = warehouse.rows("source_registry", source=partner["source_id"])
    assert registered["status"] == "onboarding"
    assert registered["established"] is False
    later = sorted(row["status"] for row in rows if row["week"] > first["week"] and row["leads"])
    assert set(later) == {"onboarding"}


@pytest.mark.timeout(300)
def test_digest_posted_once_for_latest_complete_week(demo_home):
    warehouse = Warehouse(demo_home.warehouse_url)
    digests = warehouse.rows("digests", cadence="weekly")
    posted = [row for row in digests if row["posted_at"] is not None]
    assert [row["period"] for row in posted] == ["2026-11-23"]
    assert len(digests) == 15  # every complete week is recorded; the partial one is not
    messages = _slack_messages(demo_home)
    digests_posted = [m for m in messages if "Weekly demand review" in m.get("text", "")]
    assert len(digests_posted) == 1
    assert digests_posted[0]["channel"] == "#demand-governance"
    text_blob = json.dumps(messages)
    assert "Weekly demand review: week of 2026-11-23" in text_blob
    assert not EMAIL.search(text_blob)
    markdown = (demo_home.digests_dir / "weekly-2026-11-23.md").read_text()
    chart = demo_home.digests_dir / "weekly-2026-11-23-pass-rates.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"]({chart.name})" in markdown
    assert not (demo_home.digests_dir / "weekly-2026-11-16-pass-rates.png").exists()
    shared = [m for m in messages if m.get("files")]
    assert len(shared) == 1
    assert shared[0]["files"][0]["name"] == chart.name
    assert shared[0]["thread_ts"] == digests_posted[0]["ts"]
    stored = demo_home.home / "emulators" / "files" / f"{shared[0]['files'][0]['id']}-{chart.name}"
    assert stored.read_bytes() == chart.read_bytes()
    for block in (
        "1. Action register",
        "2. Pipeline variance",
        "3. Validation pass rate",
        "4. Signal-class performance",
        "5. Handoff disputes",
        "6. Decisions",
    ):
        assert block in markdown


@pytest.mark.timeout(300)
def test_rerun_of_posted_week_posts_nothing(demo_home, monkeypatch):
    monkeypatch.setenv("CADENCE_HOME", str(demo_home.home))
    before = len(_slack_messages(demo_home))
    warehouse = Warehouse(demo_home.warehouse_url)
    escalations_before = warehouse.rows("escalations", weeks=["2026-11-23"])
    defs = build_definitions(demo_home)
    job = defs.resolve_job_def(WEEKLY_JOB)
    prepare_home(demo_home)
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            partition_key="2026-11-23", instance=instance, run_config=QUIET_RUN_CONFIG
        )
    assert result.success
    assert len(_slack_messages(demo_home)) == before
    assert warehouse.rows("escalations", weeks=["2026-11-23"]) == escalations_before
    assert len(warehouse.rows("digests", period="2026-11-23")) == 1


@pytest.fixture
def postgres_url():
    name = f"cadence_job_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_weekly_partition_on_postgres(cadence_home, postgres_url, monkeypatch):
    monkeypatch.setenv("CADENCE_WAREHOUSE_URL", postgres_url)
    monkeypatch.setenv("CADENCE_SLACK_TARGET", "file")
    settings = load_settings()
    prepare_home(settings)
    summary = generate(settings.fixtures_dir, as_of=AS_OF, weeks=2, seed=3)
    span = span_for(summary.last_record, 2, AS_OF)
    save_run_state(settings, RunState(mode="demo", data="simulator:3", span=span))
    job = build_definitions(settings).resolve_job_def(WEEKLY_JOB)
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            partition_key=span.first_week, instance=instance, run_config=QUIET_RUN_CONFIG
        )
    assert result.success
    stop_process_emulators()
    warehouse = Warehouse(postgres_url)
    assert warehouse.dialect == "postgresql"
    leads = warehouse.rows("leads", weeks=[span.first_week])
    assert len(leads) > 500
    rates = warehouse.rows("validation_pass_rate", weeks=[span.first_week])
    assert sum(row["leads"] for row in rates) == len(leads)
    assert {row["status"] for row in rates} <= {"ok", "low_volume", "below_threshold"}
    assert warehouse.rows("pipeline_variance", weeks=[span.first_week])
    assert warehouse.rows("signal_class_performance", weeks=[span.first_week])
    assert warehouse.rows("handoff_rejections", weeks=[span.first_week])
    (digest,) = warehouse.rows("digests", period=span.first_week)
    assert digest["target"] == "file"
    assert digest["posted_at"] is not None
    warehouse.dispose()
