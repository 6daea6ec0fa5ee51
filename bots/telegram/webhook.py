"""Webhook mode: Telegram POSTs updates to ``/telegram/webhook`` on our HTTP server.

Telegram sends the secret given to ``setWebhook`` in ``X-Telegram-Bot-Api-Secret-Token``;
anything without the matching secret is refused and never processed. Accepted updates go on
PTB's update queue and the request is answered at once (Telegram retries slow or failed
deliveries; duplicates are dropped by the update_id claim).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from telegram import Bot, Update

log = logging.getLogger(__name__)

PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def derive_secret(bot_token: str) -> str:
    """A stable secret from the bot token when TELEGRAM_WEBHOOK_SECRET is not set.

    Only ``A-Za-z0-9_-`` are allowed, up to 256 characters: a hex digest fits.
    """
    return hashlib.sha256(f"kimi-bot telegram webhook:{bot_token}".encode()).hexdigest()


def webhook_url(configured: str) -> str:
    """TELEGRAM_WEBHOOK_URL may be the full endpoint URL or just the public base URL."""
    parts = urlsplit(configured)
    if parts.path in ("", "/"):
        return urlunsplit((parts.scheme, parts.netloc, PATH, parts.query, ""))
    return configured


class WebhookReceiver:
    def __init__(
        self,
        secret: str,
        bot: Callable[[], Bot],
        queue: Callable[[], asyncio.Queue[object]],
        ready: Callable[[], bool],
    ) -> None:
        self._secret = secret.encode()
        self._bot = bot
        self._queue = queue
        self._ready = ready
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            self.refused += 1
            log.warning("telegram webhook: refused a request without the right secret token")
            return web.Response(status=403, text="forbidden")
        if not self._ready():
            return web.Response(status=503, text="starting")  # Telegram will redeliver
        try:
            body = await request.json(loads=json.loads)
            update = Update.de_json(body, self._bot())
        except Exception as exc:  # any malformed body: refuse it, never crash the server
            log.warning("telegram webhook: unreadable update (%s)", type(exc).__name__)
            return web.Response(status=400, text="bad update")
        if update is None:
            return web.Response(status=400, text="bad update")
        await self._queue().put(update)
        return web.Response(status=200, text="ok")
