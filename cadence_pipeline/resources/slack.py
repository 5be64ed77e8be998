"""Post digests to Slack through slack-sdk: the emulator, a file outbox, or the live API.

Messages are Block Kit built with slack-sdk's models. Slack rejects a message with more
than 50 blocks or a section text over 3,000 characters (`invalid_blocks`), so a digest is
split into as many messages as it needs, the first carrying the header.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from cadence_pipeline.governance.digest import Digest

log = logging.getLogger(__name__)

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
REQUEST_TIMEOUT_SECONDS = 15


class SlackPostError(RuntimeError):
    """A digest could not be posted; the message gives the reason and what to change."""


def _chunks(lines: list[str], limit: int) -> list[str]:
    """Pack lines into texts of at most `limit` characters, splitting very long lines."""
    texts, current = [], ""
    for line in lines:
        while len(line) > limit:
            texts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            texts.append(current)
            current = line
        else:
            current = candidate
    if current:
        texts.append(current)
    return texts


def render_blocks(digest: Digest, max_blocks: int = 50) -> list[list[Block]]:
    """Render a digest as one or more Block Kit messages within Slack's limits."""
    blocks: list[Block] = [
        HeaderBlock(text=digest.title[:HEADER_LIMIT]),
        ContextBlock(elements=[MarkdownTextObject(text=digest.context)]),
    ]
    if digest.blockers:
        lines = ["*Blockers*"] + [f":rotating_light: {line}" for line in digest.blockers]
        blocks += [
            SectionBlock(text=MarkdownTextObject(text=t)) for t in _chunks(lines, SECTION_LIMIT)
        ]
    for section in digest.sections:
        blocks.append(DividerBlock())
        lines = [f"*{section.title}*"] + [f"• {line}" for line in section.lines]
        blocks += [
            SectionBlock(text=MarkdownTextObject(text=t)) for t in _chunks(lines, SECTION_LIMIT)
        ]
    return [blocks[i : i + max_blocks] for i in range(0, len(blocks), max_blocks)]


@dataclass
class PostResult:
    target: str
    channel: str
    message_ts: str
    messages: int


class DigestPoster:
    """Posts rendered digests to one target: `emulator`, `file` or `live`."""

    def __init__(
        self,
        target: str,
        channel: str,
        *,
        base_url: str | None = None,
        token: str | None = None,
        outbox: Path | None = None,
    ):
        self.target = target
        self.channel = channel
        self.outbox = outbox
        self.client: WebClient | None = None
        if target == "file":
            if outbox is None:
                raise ValueError("the file target needs an outbox directory")
            return
        if target == "live":
            token = token or os.environ.get("SLACK_BOT_TOKEN")
            if not token:
                raise SlackPostError(
                    "CADENCE_SLACK_TARGET=live needs a bot token: set SLACK_BOT_TOKEN, or use "
                    "the `file` or `emulator` target"
                )
            base_url = None
        elif target == "emulator":
            if not base_url:
                raise ValueError("the emulator target needs the emulator's base URL")
            token = token or "xoxb-emulator"
        else:
            raise ValueError(f"unknown Slack target {target!r}; use emulator, file or live")
        kwargs = {"base_url": base_url} if base_url else {}
        self.client = WebClient(
            token=token,
            timeout=REQUEST_TIMEOUT_SECONDS,
            retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
            **kwargs,
        )

    def post_alert(self, text: str) -> PostResult:
        """Post a one-paragraph alert (a paused source, say) outside the digest."""
        if self.target == "file":
            assert self.outbox is not None
            self.outbox.mkdir(parents=True, exist_ok=True)
            with (self.outbox / "alerts.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"channel": self.channel, "text": text}) + "\n")
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
            return PostResult("file", self.channel, f"file:{digest}", 1)
        assert self.client is not None
        blocks = [SectionBlock(text=MarkdownTextObject(text=text[:SECTION_LIMIT]))]
        try:
            response = self.client.chat_postMessage(
                channel=self.channel, text=text[:SECTION_LIMIT], blocks=blocks
            )
        except SlackApiError as error:
            code = error.response.get("error", "unknown_error")
            raise SlackPostError(
                f"Slack rejected an alert in {self.channel}: {code}. Check the channel name, "
                "the bot's chat:write scope and that the bot is a member of the channel"
            ) from error
        return PostResult(self.target, self.channel, response["ts"], 1)

    def post_chart(self, png: bytes, filename: str, title: str, thread_ts: str | None) -> bool:
        """Share a chart image in the digest's thread; return whether it was shared.

        Slack's file API takes a channel id (C...), not a name: the live target needs
        `slack.channel` set to an id, else the chart is skipped with a warning. A failed
        upload is logged and skipped too, because the digest itself is already posted.
        """
        if self.target == "file":
            assert self.outbox is not None
            self.outbox.mkdir(parents=True, exist_ok=True)
            (self.outbox / filename).write_bytes(png)
            return True
        assert self.client is not None
        if self.target == "live" and self.channel.startswith("#"):
            log.warning(
                "chart %s not shared: Slack's file API needs a channel id, and slack.channel "
                "is the name %s",
                filename,
                self.channel,
            )
            return False
        try:
            self.client.files_upload_v2(
                channel=self.channel,
                content=png,
                filename=filename,
                title=title,
                thread_ts=thread_ts,
            )
        except SlackApiError as error:
            log.warning(
                "chart %s not shared in %s: %s",
                filename,
                self.channel,
                error.response.get("error", "unknown_error"),
            )
            return False
        return True

    def post(self, digest: Digest, max_blocks: int = 50) -> PostResult:
        messages = render_blocks(digest, max_blocks)
        if self.target == "file":
            assert self.outbox is not None
            self.outbox.mkdir(parents=True, exist_ok=True)
            path = self.outbox / f"{digest.cadence}-{digest.period}.json"
            payload = [
                {
                    "channel": self.channel,
                    "text": digest.title,
                    "blocks": [block.to_dict() for block in blocks],
                }
                for blocks in messages
            ]
            path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
            return PostResult(
                "file", self.channel, f"file:{digest.content_hash()[:16]}", len(messages)
            )
        assert self.client is not None
        first_ts = ""
        for index, blocks in enumerate(messages):
            try:
                response = self.client.chat_postMessage(
                    channel=self.channel,
                    text=digest.title if index == 0 else f"{digest.title} ({index + 1})",
                    blocks=blocks,
                    thread_ts=first_ts or None,
                )
            except SlackApiError as error:
                code = error.response.get("error", "unknown_error")
                raise SlackPostError(
                    f"Slack rejected the {digest.cadence} digest for {digest.period} in "
                    f"{self.channel}: {code}. Check the channel name and the bot's scopes "
                    "(chat:write), and that the bot is a member of the channel"
                ) from error
            first_ts = first_ts or response["ts"]
        log.info(
            "posted %s digest %s to %s (%d messages)",
            digest.cadence,
            digest.period,
            self.channel,
            len(messages),
        )
        return PostResult(self.target, self.channel, first_ts, len(messages))
