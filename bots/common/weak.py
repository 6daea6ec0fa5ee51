"""Callbacks from a part of an answer to its owner that do not keep the owner alive.

An answer's objects call back up the chain (the pacer asks the answer to preview, a Telegram
message asks the sink for the notice under the text). A bound method kept as a callback is a
reference to its object, so owner and part form a reference cycle, and the whole answer (its
text, sink, messages) outlives the turn until a full garbage collection: under the 40-minute
soak hundreds of finished answers waited in memory (bench/NOTES.md). ``weakref.WeakMethod`` is
the standard library's answer; these two functions only say what a call does once the owner
is gone (nothing: the answer is over).
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def weak_callback(method: Callable[P, R], gone: Callable[P, R]) -> Callable[P, R]:
    """Calls the bound ``method`` while its object lives, ``gone`` after."""
    ref = weakref.WeakMethod(method)  # type: ignore[arg-type]

    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = ref()
        return gone(*args, **kwargs) if bound is None else bound(*args, **kwargs)

    return call


async def _nothing(*args: object, **kwargs: object) -> None:
    return None


def weak_async_callback(
    method: Callable[P, Awaitable[None]],
) -> Callable[P, Awaitable[None]]:
    """Awaits the bound coroutine ``method`` while its object lives; nothing after."""
    return weak_callback(method, _nothing)
