"""The ReplySinks the Slack adapter gives the assistant: thread answers and ephemeral replies."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.common.answer import StreamedAnswer, with_note
from bots.common.splitting import split_markdown
from bots.common.thinking import ThinkingClock
from bots.slack.answer import MRKDWN_SOURCE_LIMIT, Answer
from bots.slack.api import call, error_code
from bots.slack.mrkdwn import to_mrkdwn
from bots.slack.target import ReplyTarget
from bots.slack.writers import Blocks
from core import texts

log = logging.getLogger(__name__)

THINKING_STEP = 5.0  # seconds between updates of the "thinking… N s" status line


class StreamGate:
    """Remembers that Slack refused native streaming, so later answers skip the failing call.

    Kept apart for top-level DM messages and thread replies: Slack may stream one and not the
    other. A refusal is retried after ``retry_after`` seconds (the app may get the feature).
    """

    def __init__(
        self, retry_after: float = 600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._retry_after = retry_after
        self._clock = clock
        self._refused: dict[bool, float] = {}

    def allows(self, target: ReplyTarget) -> bool:
        since = self._refused.get(target.thread_ts is None)
        return since is None or self._clock() - since >= self._retry_after

    def refused(self, target: ReplyTarget) -> None:
        self._refused[target.thread_ts is None] = self._clock()


class SlackSink:
    """Streams one answer into a DM or thread, with a status line while Kimi thinks.

    The streaming is :class:`~bots.common.answer.StreamedAnswer`: native streaming when Slack
    allows it, else ``chat.postMessage`` + ``chat.update``; either way previews are paced and
    long answers continue in further messages. Notices go to the status line instead.

    After :meth:`hold_end`, ``complete`` keeps the final text and :meth:`end_held` ends the
    answer with blocks (its feedback buttons, which need the stored answer's id: known only
    after ``complete``). Anything else said meanwhile ends it first, without them.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        target: ReplyTarget,
        *,
        interval: float,
        gate: StreamGate,
        lang: str = "en",
    ) -> None:
        self._client = client
        self._lang = lang
        self.target = target
        answer = Answer(
            client,
            target,
            native=gate.allows(target),
            on_stream_refused=lambda: gate.refused(target),
        )
        self._parts = answer
        self._holding = False
        self._held: str | None = None
        self._answer = StreamedAnswer(
            answer,
            interval=interval,
            standalone=lambda: Answer(client, target, native=False),
            note=lambda reason: f"⚠️ {reason}",
        )
        self._status_shown = False
        # The status line is an API call: say how long the model has thought every few seconds.
        self._thinking = ThinkingClock(lang, step=THINKING_STEP)

    async def begin(self) -> None:
        await self._status(texts.text("slack_thinking", self._lang))

    async def append(self, delta: str) -> None:
        self._answer.append(delta)

    async def thinking(self, delta: str) -> None:
        """While the model reasons, the status line says "thinking… 12 s"."""
        status = self._thinking.tick()
        if status is not None:
            await self._status(status)

    async def notice(self, text: str) -> None:
        """Retry notices go in the status line: they pass, the answer stays clean."""
        self._thinking.hidden()
        await self._status(text)

    def hold_end(self) -> None:
        """``complete`` keeps the final text until :meth:`end_held`."""
        self._holding = True

    async def end_held(self, blocks: Blocks | None) -> bool:
        """End a held answer, its last message with ``blocks``; True if they landed there
        (False too when there was no held answer: it failed, or never began)."""
        self._holding = False
        return await self._release(blocks)

    async def _release(self, blocks: Blocks | None) -> bool:
        text, self._held = self._held, None
        if text is None:
            return False
        self._parts.end_with(blocks)
        try:
            await self._answer.complete(text)
        finally:
            await self._clear_status()
        return bool(blocks) and self._parts.attached

    async def complete(self, text: str) -> None:
        if self._holding and self._held is None and not self._answer.ended:
            self._held = text
            return
        try:
            await self._answer.complete(text)
        finally:
            await self._clear_status()

    async def abort(self, partial_text: str, reason: str) -> None:
        await self._release(None)
        try:
            await self._answer.abort(partial_text, reason)
        finally:
            await self._clear_status()

    async def reply(self, text: str) -> None:
        """A standalone message in the same place as answers; an answer in progress goes on."""
        await self._release(None)
        await self._answer.reply(text)
        await self._clear_status()

    async def _status(self, status: str) -> None:
        """``assistant.threads.setStatus``: best effort, an answer never fails for it."""
        if self.target.status_ts is None:
            return
        try:
            await call(
                lambda _: self._client.assistant_threads_setStatus(
                    channel_id=self.target.channel,
                    thread_ts=self.target.status_ts,  # type: ignore[arg-type]
                    status=status,
                ),
                attempts=2,
            )
            self._status_shown = bool(status)
        except SlackApiError as error:
            log.debug("status line not shown: %s", error_code(error))

    async def _clear_status(self) -> None:
        if self._status_shown:
            await self._status("")


class EphemeralSink:
    """Slash-command answers in channels: only the person who ran the command sees them."""

    def __init__(self, respond: Callable[..., Awaitable[Any]]) -> None:
        self._respond = respond

    async def begin(self) -> None:
        return None

    async def append(self, delta: str) -> None:
        return None

    async def thinking(self, delta: str) -> None:
        return None

    async def notice(self, text: str) -> None:
        return None

    async def complete(self, text: str) -> None:
        await self.reply(text)

    async def abort(self, partial_text: str, reason: str) -> None:
        await self.reply(with_note(partial_text, f"⚠️ {reason}").strip())

    async def reply(self, text: str) -> None:
        for part in split_markdown(text, MRKDWN_SOURCE_LIMIT):
            await self._respond(text=to_mrkdwn(part), response_type="ephemeral")
