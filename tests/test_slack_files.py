"""The Slack emulator's external file upload, driven by slack-sdk's files_upload_v2."""

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from cadence_pipeline.emulators import start_emulators


@pytest.fixture
def slack(tmp_path):
    with start_emulators(tmp_path / "fixtures", tmp_path / "state") as running:
        yield running, WebClient(token=running.token, base_url=running.slack_url, timeout=10)


@pytest.mark.timeout(30)
def test_upload_is_shared_in_thread(slack):
    running, client = slack
    posted = client.chat_postMessage(channel="#governance", text="digest")
    response = client.files_upload_v2(
        channel="#governance",
        content=b"\x89PNG fake",
        filename="chart.png",
        title="Chart",
        thread_ts=posted["ts"],
    )
    assert response["file"]["name"] == "chart.png"
    (shared,) = [m for m in running.slack.messages() if m.get("files")]
    assert shared["thread_ts"] == posted["ts"]
    assert shared["files"][0]["size"] == len(b"\x89PNG fake")


@pytest.mark.timeout(30)
def test_upload_needs_filename_and_length(slack):
    _, client = slack
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        client.files_getUploadURLExternal(filename="", length=0)


@pytest.mark.timeout(30)
def test_completing_unknown_file_fails(slack):
    _, client = slack
    with pytest.raises(SlackApiError, match="file_not_found"):
        client.files_completeUploadExternal(
            files=[{"id": "F404", "title": "x"}], channel_id="#governance"
        )
