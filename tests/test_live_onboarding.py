"""Live mode: a partner file lands, the sensor requests a check, the gate pauses the source.

No demo run state: the code location is live, the only connector is the partner drop
folder, and the Slack target is the file outbox.
"""

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from dagster import DagsterInstance, build_sensor_context

from cadence_pipeline.cli import QUIET_RUN_CONFIG, prepare_home
from cadence_pipeline.definitions import ONBOARDING_JOB, build_definitions
from cadence_pipeline.governance.weeks import shift_week, week_key
from cadence_pipeline.resources.cadence import CadenceResource
from cadence_pipeline.resources.warehouse import Warehouse
from cadence_pipeline.settings import load_settings

MANIFEST = """\
source: acme_syndication
source_type: content_syndication
motion: b2b
owner: data_lead
timezone: UTC
columns: {lead_id: Ref, created_at: Created, email: Email, consent: Consent, country: Country}
"""


def _write_delivery(folder, created: datetime, n: int, passing: int) -> None:
    rows = ["Ref,Created,Email,Consent,Country"]
    for i in range(n):
        at = (created + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if i < passing:
            rows.append(f"R{i},{at},buyer{i}@northwind-analytics.com,true,US")
        else:
            rows.append(f"R{i},{at},not-an-address-{i},false,US")
    (folder / "delivery.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _run(job, week):
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            partition_key=week, instance=instance, run_config=QUIET_RUN_CONFIG
        )
    assert result.success


@pytest.mark.timeout(180)
def test_partner_file_triggers_gate_and_alert(cadence_home, tmp_path, monkeypatch):
    drop = tmp_path / "drops"
    partner = drop / "acme"
    partner.mkdir(parents=True)
    (partner / "partner.yaml").write_text(MANIFEST, encoding="utf-8")
    monkeypatch.setenv("CADENCE_PARTNER_DROP_DIR", str(drop))
    monkeypatch.setenv("CADENCE_SLACK_TARGET", "file")
    settings = load_settings()
    prepare_home(settings)

    # The file's rows are two hours old, so their week is the week in progress, or the week
    # before just after Monday midnight. The week before theirs is the first week of history.
    created = datetime.now(UTC) - timedelta(hours=1, minutes=60)
    week = week_key(created)
    _write_delivery(partner, created, n=60, passing=20)
    defs = build_definitions(settings)
    job = defs.resolve_job_def(ONBOARDING_JOB)
    _run(job, shift_week(week, -1))

    sensor = defs.resolve_sensor_def("partner_file_drops")
    with build_sensor_context(repository_def=defs.get_repository_def()) as context:
        result = sensor.evaluate_tick(context)
    assert result.run_requests == [] or result.skip_message  # written under a minute ago
    stamp = (datetime.now(UTC) - timedelta(minutes=5)).timestamp()
    os.utime(partner / "delivery.csv", (stamp, stamp))
    with build_sensor_context(repository_def=defs.get_repository_def()) as context:
        (request,) = sensor.evaluate_tick(context).run_requests
    assert request.partition_key == week
    _run(job, request.partition_key)

    warehouse = Warehouse(settings.warehouse_url)
    (registered,) = warehouse.rows("source_registry", source="acme_syndication")
    assert registered["established"] is False
    assert registered["status"] == "paused"
    (alert,) = warehouse.rows("source_alerts", source="acme_syndication")
    # The first 50 leads already fail, so the gate decides before its 72 hours are over.
    assert "20 of its first 50 leads" in alert["text"]
    outbox = settings.home / "slack_outbox" / "alerts.jsonl"
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert len(lines) == 1
    assert "acme_syndication" in lines[0]["text"]
    assert "@" not in lines[0]["text"].replace("<@", "")

    # The partner is paused, so the onboarding sensor finds no source left onboarding.
    onboarding = defs.resolve_sensor_def("onboarding_sources")
    resources = {"cadence": CadenceResource(home=str(settings.home))}
    with build_sensor_context(
        resources=resources, repository_def=defs.get_repository_def()
    ) as context:
        assert onboarding.evaluate_tick(context).skip_message == "no source is onboarding"
