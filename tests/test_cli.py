"""The `cadence` command's handling of bad input: clear messages and a non-zero exit."""

from typer.testing import CliRunner

from cadence_pipeline.cli import app

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
