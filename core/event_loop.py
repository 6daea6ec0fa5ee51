"""Which event loop runs the process: uvloop where it is installed, asyncio's own otherwise.

Why: the service is one event loop relaying streams (Kimi's tokens in, Telegram drafts and
Slack appends out, aiosqlite's results back from its threads). Profiled under ``bench.soak``
(1,000 conversations, py-spy), asyncio's selector loop spent a fifth of its time in one line,
``sock.recv(256 KiB)``: every read of every socket allocates a fresh 256 KiB bytes object, which
glibc maps and unmaps for each read of a ~200-byte chunk. uvloop (libuv, well kept, used by
uvicorn) reads into one buffer it keeps, and its handles and timers are C. Nothing in the
service depends on which loop runs it; ``EVENT_LOOP=asyncio`` chooses asyncio's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from core.config import ConfigError

T = TypeVar("T")
LoopChoice = Literal["auto", "uvloop", "asyncio"]
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class EventLoopUnavailable(ConfigError):
    """``EVENT_LOOP=uvloop`` where uvloop is not installed (Windows, or a trimmed install)."""


def loop_factory(choice: LoopChoice = "auto") -> LoopFactory | None:
    """The factory for ``choice``; None means asyncio's default loop."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError as exc:
        if choice == "auto":
            return None
        raise EventLoopUnavailable(
            "EVENT_LOOP=uvloop, but uvloop cannot be imported here "
            f"({exc}): install it (pip install uvloop) or set EVENT_LOOP=auto"
        ) from exc
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], choice: LoopChoice = "auto") -> T:
    """``asyncio.run(main)`` on the chosen loop (``asyncio.Runner`` takes a factory on 3.11 too)."""
    try:
        factory = loop_factory(choice)
    except EventLoopUnavailable:
        main.close()  # never started: no "coroutine was never awaited" after the error
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def running_loop_name() -> str:
    """Which loop runs the caller, "uvloop" or "asyncio" (for the start-up log)."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"
