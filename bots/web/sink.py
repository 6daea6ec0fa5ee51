"""The ReplySink for the web chat: each call becomes one server-sent event on the response.

The browser renders; this side only frames events. A browser that goes away mid-answer does
not stop the turn: the answer is still finished and stored, and the page shows it on reload.

Of ``bots.common`` the web chat uses only :class:`~bots.common.parts.AnswerParts`, as a
platform with no length limit (one part, never split) and no edit calls: the part's growth
goes out as ``delta`` events the moment text arrives and its final text as ``done``. There is
nothing to pace (no rate limit) and no note to compose (``aborted`` carries the reason and the
page words it), so ``StreamedAnswer`` is not used. ``reply`` is its own event; an answer in
progress keeps streaming after it, as ``core.types.ReplySink`` says.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bots.common.parts import AnswerParts, PartWriter
from bots.common.weak import weak_async_callback

log = logging.getLogger(__name__)

Send = Callable[[str, dict[str, object]], Awaitable[None]]  # one event: its name and data

EVENT_STREAM_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-store",
    "X-Accel-Buffering": "no",  # proxies such as nginx would otherwise hold the stream back
}


def event_frame(event: str, data: dict[str, object]) -> bytes:
    """One SSE frame; JSON keeps newlines in the text out of the framing."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class _Unlimited:
    """The web chat's ``Layout``: the whole answer is one part, written as events."""

    limit = None

    def __init__(self, send: Send) -> None:
        self._send = send

    def fit(self, part: str) -> list[str]:
        return [part]

    def writer(self, index: int) -> PartWriter:
        return _EventPart(self._send)


class _EventPart:
    """The answer's one part: what is new since the last event goes out as a ``delta``."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._sent = 0

    async def show(self, text: str) -> None:
        delta = text[self._sent :]
        self._sent = len(text)
        if delta:
            await self._send("delta", {"text": delta})

    async def finish(self, text: str) -> None:
        await self._send("done", {"text": text})

    async def delete(self) -> None:
        """Never needed: the answer is always exactly one part."""


class EventStreamSink:
    """Writes ``begin``/``delta``/``thinking``/``notice``/``done``/``aborted``/``reply`` events."""

    def __init__(self, response: web.StreamResponse) -> None:
        self._response = response
        # weakly: the parts are ours, and a bound method would make a reference cycle
        self._parts = AnswerParts(_Unlimited(weak_async_callback(self.send)))
        self._text = ""
        self.gone = False
        self.failed = False

    async def send(self, event: str, data: dict[str, object]) -> None:
        if self.gone:
            return
        try:
            await self._response.write(event_frame(event, data))
        except (ConnectionError, RuntimeError) as error:  # closed by the browser
            self.gone = True
            log.info(
                "web chat: browser went away mid-answer (%s); the answer is still stored", error
            )

    async def begin(self) -> None:
        await self.send("begin", {})

    async def append(self, delta: str) -> None:
        self._text += delta
        await self._parts.show(self._text)

    async def thinking(self, delta: str) -> None:
        """Reasoning goes out as its own events; the page shows it apart, dimmed and folded."""
        await self.send("thinking", {"text": delta})

    async def notice(self, text: str) -> None:
        await self.send("notice", {"text": text})

    async def complete(self, text: str) -> None:
        await self._parts.finish(text)

    async def abort(self, partial_text: str, reason: str) -> None:
        self.failed = True
        await self.send("aborted", {"text": partial_text, "reason": reason})

    async def reply(self, text: str) -> None:
        """A separate message; an answer in progress keeps streaming after it."""
        await self.send("reply", {"text": text})
