"""The ReplySink for the web chat: each call becomes one server-sent event on the response.

The browser renders; this side only frames events. A browser that goes away mid-answer does
not stop the turn: the answer is still finished and stored, and the page shows it on reload.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

log = logging.getLogger(__name__)

EVENT_STREAM_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-store",
    "X-Accel-Buffering": "no",  # proxies such as nginx would otherwise hold the stream back
}


def event_frame(event: str, data: dict[str, object]) -> bytes:
    """One SSE frame; JSON keeps newlines in the text out of the framing."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class EventStreamSink:
    """Writes ``begin``/``delta``/``notice``/``done``/``aborted``/``reply`` events."""

    def __init__(self, response: web.StreamResponse) -> None:
        self._response = response
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
        await self.send("delta", {"text": delta})

    async def notice(self, text: str) -> None:
        await self.send("notice", {"text": text})

    async def complete(self, text: str) -> None:
        await self.send("done", {"text": text})

    async def abort(self, partial_text: str, reason: str) -> None:
        self.failed = True
        await self.send("aborted", {"text": partial_text, "reason": reason})

    async def reply(self, text: str) -> None:
        await self.send("reply", {"text": text})
