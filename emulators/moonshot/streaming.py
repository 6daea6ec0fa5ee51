"""Writing chunks as Server-Sent Events, with pacing and the stream faults (drop, stall, slow)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

DONE = b"data: [DONE]\n\n"
CLIENT_CHECK_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """How to pace one stream: delay per chunk, where to cut or stall, and for how long."""

    delay: float = 0.0
    cut_after: int | None = None
    abort: bool = False
    stall_after: int | None = None
    stall_seconds: float = 0.0


def sse(chunk: dict[str, Any]) -> bytes:
    return (
        b"data: " + json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
    )


def finish_index(chunks: list[dict[str, Any]]) -> int:
    """Index of the chunk carrying ``finish_reason``: cuts and stalls happen before it."""
    for index, chunk in enumerate(chunks):
        choices = chunk.get("choices") or []
        if choices and choices[0].get("finish_reason"):
            return index
    return len(chunks)


async def pause(closing: asyncio.Event, seconds: float, request: web.Request | None = None) -> bool:
    """Sleep ``seconds``; True (stop now) if the emulator is shutting down or the client left.

    Watching the client matters for stalls: a stalled stream whose client timed out must give
    its concurrency slot back, as the real service does when the connection goes away.
    """
    if seconds <= CLIENT_CHECK_SECONDS:
        # The pause between two tokens: a plain sleep. Waiting on ``closing`` costs a task
        # per chunk (``wait_for``), about a fifth of a soak's emulator CPU (bench/NOTES.md);
        # shutting down or a client gone is noticed at most one token later.
        await asyncio.sleep(max(seconds, 0.0))
        return closing.is_set() or _client_gone(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if closing.is_set() or _client_gone(request):
            return True
        left = deadline - loop.time()
        if left <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), min(left, CLIENT_CHECK_SECONDS))


def _client_gone(request: web.Request | None) -> bool:
    if request is None:
        return False
    transport = request.transport
    return transport is None or transport.is_closing()


async def write_stream(
    request: web.Request,
    chunks: list[dict[str, Any]],
    plan: StreamPlan,
    closing: asyncio.Event,
) -> web.StreamResponse:
    """Send ``chunks`` then ``[DONE]``, unless the plan cuts the stream; a client that goes away
    simply ends the stream (its concurrency slot is released by the caller)."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    if plan.cut_after is not None:
        response.force_close()
    await response.prepare(request)
    last = finish_index(chunks)
    cut = None if plan.cut_after is None else min(plan.cut_after, last)
    stall = None if plan.stall_after is None else min(plan.stall_after, last)
    try:
        for index, chunk in enumerate(chunks):
            if index == cut:
                if plan.abort and request.transport is not None:
                    request.transport.close()  # mid-body: the client sees a broken chunked body
                    return response
                await response.write_eof()
                return response
            if index == stall and await pause(closing, plan.stall_seconds, request):
                return response
            if index and plan.delay and await pause(closing, plan.delay, request):
                return response
            await response.write(sse(chunk))
        await response.write(DONE)
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away
    return response
