"""Slack Web API calls that honour HTTP 429 ``Retry-After`` exactly.

slack_sdk's ``AsyncRateLimitErrorRetryHandler`` reads ``Retry-After`` correctly (3.48 parses the
whole header), yet the adapter's client runs without it and every call that must land goes
through ``call``, because a client-wide handler retries inside ``api_call``, where we cannot:

- choose per call: a status line gets 2 attempts and a name lookup 3, while a final answer
  gets :data:`MAX_ATTEMPTS`; a handler applies one policy to every call, bolt's own included;
- bound the wait: the handler sleeps whatever Slack says, while ``call`` gives up past
  :data:`MAX_WAIT` so the answer can fall back or fail visibly instead of hanging;
- back off Slack's own 5xx hiccups (any status, bounded), not only 500/503 once;
- count each refused attempt: :class:`bots.slack.metered.MeteredWebClient` sees it only if
  the retry happens above ``api_call``.

The attempt number handed to each attempt lets callers that buffer (slack-sdk's chat stream
keeps text it failed to send) avoid adding it twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 6
MAX_WAIT = 300.0  # a longer Retry-After means Slack is down for us; give up and say so


def error_code(error: SlackApiError) -> str:
    """Slack's ``error`` string (``ratelimited``, ``msg_too_long``…), or ``unknown``."""
    try:
        return str(error.response.get("error") or "unknown")
    except AttributeError:
        return "unknown"


def retry_after(error: SlackApiError) -> float | None:
    """Seconds to wait for a 429 answer, or None when the error is not a rate limit."""
    response = error.response
    if getattr(response, "status_code", None) != 429:
        return None
    raw: object = None
    for name, value in (getattr(response, "headers", None) or {}).items():
        if str(name).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            break
    try:
        seconds = float(str(raw).strip())
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_WAIT)


async def call(
    attempt: Callable[[int], Awaitable[T]],
    *,
    attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run ``attempt(n)`` until it is not rate limited; ``n`` counts retries (0 first)."""
    for number in range(attempts):
        try:
            return await attempt(number)
        except SlackApiError as error:
            wait = retry_after(error)
            status = getattr(error.response, "status_code", 200)
            if wait is None and status >= 500:
                wait = min(2.0**number, 8.0)  # Slack's own hiccup: back off, bounded
            if wait is None or number + 1 >= attempts:
                raise
            log.info("Slack API error %s: retrying in %.0fs", status, wait)
            await sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
