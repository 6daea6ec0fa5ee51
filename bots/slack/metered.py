"""The Slack Web API client with failed calls counted in ``kimi_platform_api_errors``.

Every slack-sdk method (``chat_postMessage``, ``chat_startStream``…) and bolt's own calls go
through ``api_call``, so one override sees them all with their method name.

:func:`shared_session` gives the client one connection pool: without a session slack-sdk opens a
new one (a new TCP and TLS connection) for every call, which under load costs more CPU and
latency than the rest of an answer's Slack traffic.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from core import metrics


def shared_session(timeout: float = 30.0) -> aiohttp.ClientSession | None:
    """A keep-alive session for every Web API call (None outside an event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return None
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))


class MeteredWebClient(AsyncWebClient):
    """AsyncWebClient that records error answers (``ok: false``, 429) and network failures."""

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:  # type: ignore[override]
        try:
            return await super().api_call(api_method, **kwargs)
        except Exception:
            metrics.record_platform_error("slack", api_method)
            raise
