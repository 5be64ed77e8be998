"""Faults during a weekly run: the run either loads every record once or fails cleanly."""

from collections import Counter
from datetime import UTC, datetime

import pytest
from dagster import DagsterInstance

from cadence_pipeline.cli import QUIET_RUN_CONFIG, prepare_home
from cadence_pipeline.definitions import WEEKLY_JOB, build_definitions
from cadence_pipeline.emulators import Fault, ensure_emulators, stop_process_emulators
from cadence_pipeline.governance.weeks import span_for
from cadence_pipeline.resources.warehouse import Warehouse
from cadence_pipeline.settings import RunState, load_settings, save_run_state
from cadence_pipeline.simulator import generate

AS_OF = datetime(2026, 12, 4, tzinfo=UTC)
SALESFORCE = ("GET", "/services/data")
HUBSPOT = ("GET", "/crm/v3/objects/contacts")


@pytest.fixture
def week_setup(cadence_home, monkeypatch):
    """Two weeks of simulated fixtures, the demo emulators and the weekly job."""
    monkeypatch.setenv("CADENCE_SLACK_TARGET", "file")
    settings = load_settings()
    prepare_home(settings)
    summary = generate(settings.fixtures_dir, as_of=AS_OF, weeks=2, seed=5)
    span = span_for(summary.last_record, 2, AS_OF)
    save_run_state(settings, RunState(mode="demo", data="simulator:5", span=span))
    running = ensure_emulators(settings.home)
    job = build_definitions(settings).resolve_job_def(WEEKLY_JOB)
    yield settings, running, job, span.first_week
    stop_process_emulators()


def _run(job, week):
    with DagsterInstance.get() as instance:
        return job.execute_in_process(
            partition_key=week,
            instance=instance,
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )


def _failure_text(result) -> str:
    """The step failures' messages, with the errors that caused them."""
    texts = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = event.event_specific_data.error
        while error is not None:
            texts.append(error.message)
            error = error.cause
    return " ".join(texts)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("endpoint", "fault"),
    [
        (SALESFORCE, Fault.http_status(503, retry_after=0)),
        (SALESFORCE, Fault.rate_limited(0)),
        (SALESFORCE, Fault.drop()),
        (HUBSPOT, Fault.http_status(502, retry_after=0)),
        (HUBSPOT, Fault.rate_limited(0)),
        (HUBSPOT, Fault.drop()),
    ],
    ids=["sf-503", "sf-429", "sf-drop", "hs-502", "hs-429", "hs-drop"],
)
def test_transient_fault_loads_every_record_once(week_setup, endpoint, fault):
    settings, running, job, week = week_setup
    emulator = running.salesforce if endpoint is SALESFORCE else running.hubspot
    emulator.faults.add(*endpoint, fault)
    result = _run(job, week)
    assert result.success, _failure_text(result)
    assert emulator.faults.pending() == 0
    warehouse = Warehouse(settings.warehouse_url)
    raw = warehouse.rows("raw_leads", weeks=[week], columns=["crm", "lead_id"])
    counts = Counter((row["crm"], row["lead_id"]) for row in raw)
    assert counts and max(counts.values()) == 1
    assert {"salesforce", "hubspot", "partner_file"} >= {crm for crm, _ in counts}
    assert len(warehouse.rows("leads", weeks=[week])) > 500


@pytest.mark.timeout(120)
def test_persistent_outage_fails_and_publishes_nothing(week_setup):
    settings, running, job, week = week_setup
    running.salesforce.faults.add(*SALESFORCE, *[Fault.http_status(503)] * 20)
    result = _run(job, week)
    assert not result.success
    message = _failure_text(result)
    assert "Salesforce returned HTTP 503" in message
    assert "Fix:" in message
    warehouse = Warehouse(settings.warehouse_url)
    assert warehouse.synced_until("salesforce") is None
    assert warehouse.rows("raw_leads", weeks=[week]) == []
    assert warehouse.rows("leads", weeks=[week]) == []
    assert warehouse.rows("digests") == []


@pytest.mark.timeout(120)
def test_failed_run_then_rerun_loads_every_record_once(week_setup):
    settings, running, job, week = week_setup
    running.hubspot.faults.add(*HUBSPOT, *[Fault.http_status(500)] * 20)
    assert not _run(job, week).success
    running.hubspot.faults.clear()
    assert _run(job, week).success
    assert _run(job, week).success
    warehouse = Warehouse(settings.warehouse_url)
    leads = warehouse.rows("leads", weeks=[week], columns=["crm", "lead_id"])
    counts = Counter((row["crm"], row["lead_id"]) for row in leads)
    assert max(counts.values()) == 1
    assert "hubspot" in {crm for crm, _ in counts}
