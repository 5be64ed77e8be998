"""A sensor that requests one run for each new or rewritten partner CSV file.

The cursor stores a fingerprint of every file already requested, `size-mtime_ns` by default
or a SHA-256 of the content, so each file version triggers exactly one run. The run key is
the file's path relative to the drop folder plus that fingerprint, so Dagster also drops a
repeated request if the cursor is ever lost. Files modified less than `settle_seconds` ago
wait for the next tick, so a file still being uploaded is not read half-written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from cadence_pipeline.governance.config import GovernanceConfig
from cadence_pipeline.governance.weeks import week_key

logger = logging.getLogger(__name__)

CURSOR_VERSION = 1
FILE_TAG = "cadence/partner_file"


def file_fingerprint(path: Path, *, content_hash: bool = False) -> str:
    """Return `size-mtime_ns`, or `sha256:<hex>` of the content when `content_hash` is set."""
    if content_hash:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return f"sha256:{digest.hexdigest()}"
    stat = path.stat()
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def read_cursor(cursor: str | None) -> dict[str, str]:
    """Return {relative path: fingerprint} from a cursor string; an empty cursor is {}."""
    if not cursor:
        return {}
    data = json.loads(cursor)
    if not isinstance(data, dict) or data.get("version") != CURSOR_VERSION:
        raise ValueError(
            f"unsupported partner-file sensor cursor {cursor[:80]!r}; reset the sensor's cursor"
        )
    return dict(data.get("files", {}))


def write_cursor(files: dict[str, str]) -> str:
    return json.dumps({"version": CURSOR_VERSION, "files": dict(sorted(files.items()))})


def build_partner_file_sensor(
    *,
    job_name: str,
    drop_dir: Path | Callable[[], Path],
    partition_for_file: Callable[[Path], str | None],
    name: str = "partner_file_drops",
    minimum_interval_seconds: int = 60,
    settle_seconds: float = 60.0,
    content_hash: bool = False,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
) -> SensorDefinition:
    """Build the sensor; `drop_dir` may be a callable, read at every tick.

    `partition_for_file` returns the partition key (the ISO Monday of the week the file's
    rows fall in) or None for a file with no readable row, which is recorded and skipped.
    """

    def _drop_dir() -> Path:
        return Path(drop_dir() if callable(drop_dir) else drop_dir)

    @sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Requests one run of the week a partner CSV file's rows fall in, for every new or "
            "rewritten file under the partner drop folder."
        ),
    )
    def partner_file_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        root = _drop_dir()
        if not root.is_dir():
            return SkipReason(f"the partner drop folder {root} does not exist")
        seen = read_cursor(context.cursor)
        current: dict[str, str] = {}
        requests: list[RunRequest] = []
        now = time.time()
        for path in sorted(root.glob("*/*.csv")):
            relative = path.relative_to(root).as_posix()
            if now - path.stat().st_mtime < settle_seconds:
                # Still being written, or just written: look again at the next tick.
                if relative in seen:
                    current[relative] = seen[relative]
                continue
            fingerprint = file_fingerprint(path, content_hash=content_hash)
            current[relative] = fingerprint
            if seen.get(relative) == fingerprint:
                continue
            partition = partition_for_file(path)
            if partition is None:
                context.log.warning("partner file %s has no readable row; no run", relative)
                continue
            requests.append(
                RunRequest(
                    run_key=f"{relative}@{fingerprint}",
                    partition_key=partition,
                    tags={FILE_TAG: relative},
                )
            )
        context.log.info("partner files: %d new or changed", len(requests))
        return SensorResult(run_requests=requests, cursor=write_cursor(current))

    return partner_file_sensor


def partner_file_week(config: GovernanceConfig) -> Callable[[Path], str | None]:
    """Return a `partition_for_file` that reads the file and names its latest week.

    The week is the ISO Monday (in the configured timezone) of the latest creation instant
    among the file's loaded rows. NOTE: a file whose rows span several weeks triggers a run
    of the latest week only. The earlier weeks pick the rows up when they are rerun.
    """
    from cadence_pipeline.resources.partner_files import PartnerFileConnector

    def partition(path: Path) -> str | None:
        connector = PartnerFileConnector(drop_dir=path.parent.parent, config=config)
        leads = connector.read_path(path).leads
        if not leads:
            return None
        weeks = {week_key(lead.created_at, config.timezone) for lead in leads}
        if len(weeks) > 1:
            logger.warning(
                "partner file %s spans weeks %s; requesting the latest",
                path.name,
                ", ".join(sorted(weeks)),
            )
        return max(weeks)

    return partition
