"""The `cadence` command's handling of bad input: clear messages and a non-zero exit."""

from datetime import UTC, datetime

import pytest
from conftest import shared_data_dir
from typer.testing import CliRunner

from cadence_pipeline.cli import app
from cadence_pipeline.emulators import stop_process_emulators
from cadence_pipeline.resources.warehouse import Warehouse

runner = CliRunner()


def test_missing_data_folder_is_reported(cadence_home, tmp_path):
    result = runner.invoke(app, ["demo", "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "cadence demo failed" in result.output
    assert "nowhere" in result.output


def test_unrecognised_data_set_is_reported(cadence_home, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "contacts.csv").write_text("id,email\n1,someone@example.org\n")
    result = runner.invoke(app, ["demo", "--data", str(folder)])
    assert result.exit_code == 1
    assert "olist_marketing_qualified_leads_dataset.csv" in result.output
    assert "someone@example.org" not in result.output


def test_invalid_as_of_is_reported(cadence_home):
    result = runner.invoke(app, ["demo", "--as-of", "last tuesday"])
    assert result.exit_code == 2
    assert "not an ISO date" in result.output


def test_unknown_slack_target_is_reported(cadence_home):
    result = runner.invoke(app, ["demo", "--slack-target", "email"])
    assert result.exit_code == 2
    assert "emulator, file, live" in result.output


def test_invalid_governance_file_is_reported(cadence_home):
    cadence_home.mkdir(parents=True)
    (cadence_home / "governance.yaml").write_text("pipeline:\n  tolerance: 3\n")
    result = runner.invoke(app, ["demo", "--weeks", "2"])
    assert result.exit_code == 1
    assert "pipeline.tolerance" in result.output
    assert "governance.yaml" in result.output


def test_backfill_before_history_start_is_reported(cadence_home):
    result = runner.invoke(app, ["backfill", "--weeks", "40"])
    assert result.exit_code == 1
    assert "is not a weekly partition" in result.output
    assert "history_start" in result.output


def test_backfill_rejects_bad_through_date(cadence_home):
    result = runner.invoke(app, ["backfill", "--through", "next monday"])
    assert result.exit_code == 2
    assert "not a date" in result.output


def test_unparsable_warehouse_url_is_masked(cadence_home, monkeypatch):
    monkeypatch.setenv("CADENCE_WAREHOUSE_URL", "not a url with s3cret inside")
    result = runner.invoke(app, ["demo", "--weeks", "2"])
    assert result.exit_code == 1
    assert "not a valid SQLAlchemy URL" in result.output
    assert "s3cret" not in result.output


def test_future_as_of_is_rejected(cadence_home):
    result = runner.invoke(app, ["demo", "--as-of", "2999-01-01"])
    assert result.exit_code == 2
    assert "in the future" in result.output


def test_bad_warehouse_url_is_reported_before_work(cadence_home, monkeypatch):
    monkeypatch.setenv(
        "CADENCE_WAREHOUSE_URL", "postgresql+psycopg2://cadence:secret@127.0.0.1:1/x"
    )
    result = runner.invoke(app, ["demo", "--weeks", "2"])
    assert result.exit_code == 1
    assert "cannot be used" in result.output
    assert "secret" not in result.output
    assert not (cadence_home / "fixtures").exists()


def test_live_slack_without_token_is_reported_before_work(cadence_home, monkeypatch):
    monkeypatch.setenv("CADENCE_SLACK_TARGET", "live")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    result = runner.invoke(app, ["demo", "--weeks", "2"])
    assert result.exit_code == 1
    assert "SLACK_BOT_TOKEN" in result.output
    assert not (cadence_home / "fixtures").exists()


@pytest.mark.dataset
@pytest.mark.timeout(180)
def test_earlier_as_of_ends_data_span(cadence_home):
    olist = shared_data_dir() / "olist-marketing-funnel"
    if not olist.is_dir():
        pytest.skip(f"the Olist data set is not at {olist}; set CADENCE_SHARED_DATA")
    result = runner.invoke(
        app, ["demo", "--data", str(olist), "--weeks", "3", "--as-of", "2018-01-01"]
    )
    assert result.exit_code == 0, result.output
    assert "2017-12-11 .. 2017-12-25" in result.output
    assert "records after it are outside the run" in result.output
    warehouse = Warehouse(f"sqlite:///{cadence_home / 'warehouse.db'}")
    leads = warehouse.rows("leads", columns=["created_at"])
    assert leads
    assert max(row["created_at"] for row in leads) < datetime(2018, 1, 1, tzinfo=UTC)
    stop_process_emulators()
