"""The partner-file sensor: one run request per new file version, cursor, settle time."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from dagster import SkipReason, build_sensor_context

from cadence_pipeline.governance.config import load_config
from cadence_pipeline.sensors.partner_files import (
    FILE_TAG,
    build_partner_file_sensor,
    partner_file_week,
    read_cursor,
)

CONFIG = load_config()
MANIFEST = (
    "source: partner_acme\nmotion: b2b\ntimezone: UTC\n"
    "columns: {lead_id: Ref, created_at: Created}\n"
)


def drop_file(root: Path, partner: str, name: str, rows: str) -> Path:
    folder = root / partner
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "partner.yaml").write_text(MANIFEST, encoding="utf-8")
    path = folder / name
    path.write_text("Ref,Created\n" + rows, encoding="utf-8")
    return path


def evaluate(sensor, cursor=None):
    context = build_sensor_context(cursor=cursor)
    return sensor(context)


@pytest.fixture
def sensor(tmp_path):
    return build_partner_file_sensor(
        job_name="weekly_review",
        drop_dir=tmp_path,
        partition_for_file=partner_file_week(CONFIG),
        settle_seconds=0,
    )


def test_new_file_requests_its_week(tmp_path, sensor):
    drop_file(tmp_path, "acme", "d1.csv", "A1,2026-11-03T10:00:00Z\nA2,2026-11-04T10:00:00Z\n")
    result = evaluate(sensor)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.partition_key == "2026-11-02"
    assert request.tags[FILE_TAG] == "acme/d1.csv"
    assert request.run_key.startswith("acme/d1.csv@")
    assert list(read_cursor(result.cursor)) == ["acme/d1.csv"]


def test_seen_file_is_not_requested_again(tmp_path, sensor):
    drop_file(tmp_path, "acme", "d1.csv", "A1,2026-11-03T10:00:00Z\n")
    first = evaluate(sensor)
    second = evaluate(sensor, first.cursor)
    assert second.run_requests == []
    drop_file(tmp_path, "acme", "d2.csv", "A3,2026-11-10T10:00:00Z\n")
    third = evaluate(sensor, second.cursor)
    assert [request.partition_key for request in third.run_requests] == ["2026-11-09"]
    assert sorted(read_cursor(third.cursor)) == ["acme/d1.csv", "acme/d2.csv"]


def test_rewritten_file_is_requested_once(tmp_path, sensor):
    path = drop_file(tmp_path, "acme", "d1.csv", "A1,2026-11-03T10:00:00Z\n")
    first = evaluate(sensor)
    path.write_text("Ref,Created\nA1,2026-11-03T10:00:00Z\nA2,2026-11-03T11:00:00Z\n")
    second = evaluate(sensor, first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert evaluate(sensor, second.cursor).run_requests == []


def test_content_hash_ignores_touch(tmp_path):
    sensor = build_partner_file_sensor(
        job_name="weekly_review",
        drop_dir=tmp_path,
        partition_for_file=lambda path: "2026-11-02",
        settle_seconds=0,
        content_hash=True,
    )
    path = drop_file(tmp_path, "acme", "d1.csv", "A1,2026-11-03T10:00:00Z\n")
    first = evaluate(sensor)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert evaluate(sensor, first.cursor).run_requests == []


def test_file_still_settling_waits(tmp_path):
    sensor = build_partner_file_sensor(
        job_name="weekly_review",
        drop_dir=tmp_path,
        partition_for_file=lambda path: "2026-11-02",
        settle_seconds=3600,
    )
    drop_file(tmp_path, "acme", "d1.csv", "A1,2026-11-03T10:00:00Z\n")
    result = evaluate(sensor)
    assert result.run_requests == []
    assert read_cursor(result.cursor) == {}


def test_file_without_rows_is_skipped(tmp_path, sensor):
    drop_file(tmp_path, "acme", "empty.csv", "")
    result = evaluate(sensor)
    assert result.run_requests == []


def test_missing_drop_folder_skips(tmp_path):
    sensor = build_partner_file_sensor(
        job_name="weekly_review",
        drop_dir=lambda: tmp_path / "nowhere",
        partition_for_file=lambda path: None,
    )
    assert isinstance(evaluate(sensor), SkipReason)


def test_sensor_targets_job_name(sensor):
    assert sensor.job_name == "weekly_review"


def test_unknown_cursor_is_rejected():
    with pytest.raises(ValueError, match="reset the sensor"):
        read_cursor(json.dumps({"version": 99}))
