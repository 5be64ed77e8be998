"""Shared fixtures: a throwaway CADENCE_HOME and the location of the public data sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The public data sets: CADENCE_SHARED_DATA, else ../shared/data next to the repo."""
    configured = os.environ.get("CADENCE_SHARED_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


@pytest.fixture
def cadence_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty CADENCE_HOME with its own SQLite warehouse and the file Slack target."""
    home = tmp_path / "home"
    monkeypatch.setenv("CADENCE_HOME", str(home))
    monkeypatch.delenv("CADENCE_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("CADENCE_CONFIG", raising=False)
    monkeypatch.setenv("CADENCE_SLACK_TARGET", "emulator")
    return home
