"""Settings from the environment and the run state kept under CADENCE_HOME.

Secrets (CRM credentials, the Slack token) are read from the environment only, when a
resource needs them, never from a file in the repository.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cadence_pipeline.governance.config import GovernanceConfig, load_config
from cadence_pipeline.governance.weeks import WeekSpan

SLACK_TARGETS = ("emulator", "file", "live")


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse_url: str
    config_path: Path | None
    slack_target: str

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def fixtures_dir(self) -> Path:
        return self.home / "fixtures"

    @property
    def digests_dir(self) -> Path:
        return self.home / "digests"

    @property
    def run_state_path(self) -> Path:
        return self.home / "run_state.json"

    def load_governance(self) -> GovernanceConfig:
        return load_config(self.config_path)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read CADENCE_HOME, CADENCE_WAREHOUSE_URL, CADENCE_CONFIG and CADENCE_SLACK_TARGET."""
    env = os.environ if env is None else env
    home = Path(env.get("CADENCE_HOME", ".cadence")).expanduser().resolve()
    warehouse_url = env.get("CADENCE_WAREHOUSE_URL") or f"sqlite:///{home / 'warehouse.db'}"
    config_path: Path | None = None
    if env.get("CADENCE_CONFIG"):
        config_path = Path(env["CADENCE_CONFIG"]).expanduser().resolve()
        if not config_path.is_file():
            raise FileNotFoundError(
                f"CADENCE_CONFIG names {config_path}, which does not exist; "
                "point it at a governance.yaml or unset it"
            )
    elif (home / "governance.yaml").is_file():
        config_path = home / "governance.yaml"
    slack_target = env.get("CADENCE_SLACK_TARGET", "emulator")
    if slack_target not in SLACK_TARGETS:
        raise ValueError(
            f"CADENCE_SLACK_TARGET={slack_target!r} is not one of {', '.join(SLACK_TARGETS)}"
        )
    return Settings(
        home=home, warehouse_url=warehouse_url, config_path=config_path, slack_target=slack_target
    )


@dataclass(frozen=True)
class RunState:
    """The mode, data, span of weeks and as-of instant that the last `cadence demo` set up."""

    mode: str
    data: str
    span: WeekSpan

    def to_json(self) -> str:
        return json.dumps(
            {
                "mode": self.mode,
                "data": self.data,
                "first_week": self.span.first_week,
                "last_week": self.span.last_week,
                "as_of": self.span.as_of.isoformat(),
                "partial_last_week": self.span.partial_last_week,
            },
            indent=2,
        )


def save_run_state(settings: Settings, state: RunState) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.run_state_path.write_text(state.to_json() + "\n", encoding="utf-8")


def load_run_state(settings: Settings) -> RunState | None:
    """Return the stored run state, or None when no demo has set one up."""
    path = settings.run_state_path
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    span = WeekSpan(
        first_week=raw["first_week"],
        last_week=raw["last_week"],
        as_of=datetime.fromisoformat(raw["as_of"]),
        partial_last_week=bool(raw["partial_last_week"]),
    )
    return RunState(mode=raw["mode"], data=raw["data"], span=span)
