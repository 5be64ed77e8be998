"""Slack Web API emulator: `auth.test`, `chat.postMessage` and file uploads under `/api/`.

Like Slack, it returns errors as HTTP 200 with `ok: false`, and rate limiting as HTTP 429
with `Retry-After`. Every accepted message is appended as one JSON line (channel, ts, text,
blocks) to `<state_dir>/slack_messages.jsonl`, which tests and the demo read back.

Files follow Slack's external upload, the path `files_upload_v2` of slack-sdk takes:
`files.getUploadURLExternal` returns an upload URL on this server, the client posts the
bytes there, and `files.completeUploadExternal` shares the file in a channel. A shared file
is stored under `<state_dir>/files/` and recorded as a message with a `files` entry.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cadence_pipeline.emulators.base import EMULATOR_TOKEN, Emulator, Fault, Request, Response

# Slack rejects a message with more than 50 blocks or a section text over 3,000 characters.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MESSAGES_FILE = "slack_messages.jsonl"


def slack_error(error: str, status: int = 200, **extra: Any) -> Response:
    return Response(status, {"ok": False, "error": error, **extra})


class SlackEmulator(Emulator):
    """Accepts posts to any non-empty channel and records them under the state directory."""

    name = "slack"

    def __init__(self, state_dir: Path, *, latency: float = 0.0, token: str = EMULATOR_TOKEN):
        super().__init__(latency=latency)
        self.state_dir = Path(state_dir)
        self.token = token
        self._lock = threading.Lock()
        self._last_ts = 0.0
        self._uploads: dict[str, dict[str, Any]] = {}

    @property
    def messages_path(self) -> Path:
        return self.state_dir / MESSAGES_FILE

    def messages(self) -> list[dict[str, Any]]:
        """Return every message accepted so far, oldest first."""
        if not self.messages_path.is_file():
            return []
        lines = self.messages_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def fault_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "expired_session":
            return slack_error("token_expired")
        status = fault.status or 500
        if status == 429:
            return slack_error("ratelimited", status=429)
        return Response(status, {"ok": False, "error": "internal_error"})

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/upload/"):
            return self._receive_upload(request.path.removeprefix("/upload/"), request.body)
        method = request.path.removeprefix("/api/")
        if method == request.path:
            return Response(404, {"ok": False, "error": "unknown_method"})
        params = _params(request)
        token = request.bearer_token() or params.get("token")
        if not token:
            return slack_error("not_authed")
        if token != self.token:
            return slack_error("invalid_auth")
        if method == "auth.test":
            return Response(
                200,
                {
                    "ok": True,
                    "url": "https://cadence-emulator.slack.com/",
                    "team": "cadence",
                    "user": "cadence-bot",
                    "team_id": "T0CADENCE",
                    "user_id": "U0CADENCE",
                    "bot_id": "B0CADENCE",
                },
            )
        if method == "chat.postMessage":
            return self._post_message(params)
        if method == "files.getUploadURLExternal":
            return self._upload_url(params)
        if method == "files.completeUploadExternal":
            return self._complete_upload(params)
        return slack_error("unknown_method")

    def _upload_url(self, params: dict[str, Any]) -> Response:
        filename = str(params.get("filename") or "")
        try:
            length = int(params.get("length") or 0)
        except ValueError:
            length = 0
        if not filename or length <= 0:
            return slack_error("invalid_arguments")
        with self._lock:
            file_id = f"F{len(self._uploads) + 1:09d}"
            self._uploads[file_id] = {"filename": filename, "length": length, "data": None}
        return Response(
            200, {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        )

    def _receive_upload(self, file_id: str, body: bytes) -> Response:
        with self._lock:
            upload = self._uploads.get(file_id)
            if upload is None:
                return Response(404, b"unknown upload")
            upload["data"] = body
        return Response(200, f"OK - {len(body)}".encode())

    def _complete_upload(self, params: dict[str, Any]) -> Response:
        files = params.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except json.JSONDecodeError:
                return slack_error("invalid_arguments")
        channel = str(params.get("channel_id") or "").strip()
        shared = []
        with self._lock:
            for item in files or []:
                upload = self._uploads.get(str(item.get("id")))
                if upload is None or upload["data"] is None:
                    return slack_error("file_not_found")
                folder = self.state_dir / "files"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{item['id']}-{upload['filename']}").write_bytes(upload["data"])
                shared.append(
                    {
                        "id": item["id"],
                        "name": upload["filename"],
                        "title": item.get("title"),
                        "size": len(upload["data"]),
                    }
                )
        if channel:
            with self._lock:
                now = max(time.time(), self._last_ts + 0.000001)
                self._last_ts = now
                message = {
                    "channel": channel,
                    "ts": f"{now:.6f}",
                    "text": "",
                    "thread_ts": params.get("thread_ts"),
                    "files": shared,
                }
                self.state_dir.mkdir(parents=True, exist_ok=True)
                with self.messages_path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(message) + "\n")
        return Response(200, {"ok": True, "files": shared})

    def _post_message(self, params: dict[str, Any]) -> Response:
        channel = str(params.get("channel") or "").strip()
        if not channel:
            return slack_error("channel_not_found")
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except json.JSONDecodeError:
                return slack_error("invalid_blocks_format")
        text = params.get("text")
        if not text and not blocks:
            return slack_error("no_text")
        if blocks is not None:
            problem = _check_blocks(blocks)
            if problem:
                return slack_error("invalid_blocks", errors=[problem])
        with self._lock:
            now = max(time.time(), self._last_ts + 0.000001)
            self._last_ts = now
            ts = f"{now:.6f}"
            message = {"channel": channel, "ts": ts, "text": text, "blocks": blocks}
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with self.messages_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(message) + "\n")
        body = {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": {
                "type": "message",
                "user": "U0CADENCE",
                "bot_id": "B0CADENCE",
                "text": text or "",
                "ts": ts,
                "blocks": blocks or [],
            },
        }
        return Response(200, body)


def _params(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    params: dict[str, Any] = {key: values[0] for key, values in request.query.items()}
    if not request.body:
        return params
    if "json" in content_type:
        payload = request.json()
        if isinstance(payload, dict):
            params.update(payload)
        return params
    form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
    params.update({key: values[0] for key, values in form.items()})
    return params


def _check_blocks(blocks: Any) -> str | None:
    if not isinstance(blocks, list):
        return "blocks must be a list"
    if len(blocks) > MAX_BLOCKS:
        return f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            return f"missing required field: type [json-pointer:/blocks/{index}]"
        if block["type"] == "section":
            text = (block.get("text") or {}).get("text") or ""
            if len(text) > MAX_SECTION_TEXT:
                return (
                    f"must be less than {MAX_SECTION_TEXT + 1} characters "
                    f"[json-pointer:/blocks/{index}/text/text]"
                )
    return None
