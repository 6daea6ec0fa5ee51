"""Update delivery: the getUpdates queue (offset, long polling, conflicts) and webhook pushes.

Like Telegram, an update stays queued until confirmed (getUpdates with a higher offset, or a 2xx
from the webhook), ``allowed_updates`` is one bot-wide setting applied when updates are created,
and getUpdates is refused with 409 while a webhook is set.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .errors import ApiError

ALL_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
# Without allowed_updates Telegram sends everything except these opt-in kinds.
OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


def update_type(update: dict[str, Any]) -> str:
    """The kind of an update: its one key besides update_id."""
    return next((key for key in update if key != "update_id"), "unknown")


@dataclass
class _Queued:
    update: dict[str, Any]
    forced: bool = False
    delivered: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


@dataclass
class Webhook:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class WebhookAttempt:
    """One POST to the bot's webhook: HTTP status, or None with ``error`` on network failure."""

    update_id: int
    status: int | None
    error: str | None = None
    secret_sent: bool = False
    timestamp: float = field(default_factory=time.monotonic)


class UpdateHub:
    """Owns pending updates and hands them out by polling or webhook."""

    def __init__(
        self,
        *,
        first_update_id: int = 100_000,
        webhook_retry_delays: tuple[float, ...] = (0.05, 0.2, 0.5, 1.0),
        webhook_timeout: float = 10.0,
    ) -> None:
        self._queue: list[_Queued] = []
        self._next_update_id = first_update_id
        self._allowed: list[str] | None = None
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._closed = False
        self._worker: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.webhook_retry_delays = webhook_retry_delays
        self.webhook_timeout = webhook_timeout
        self.webhook: Webhook | None = None
        self.webhook_attempts: list[WebhookAttempt] = []
        self.dropped: list[dict[str, Any]] = []

    # -- producing -------------------------------------------------------------------------
    def new_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    @property
    def allowed_updates(self) -> list[str]:
        if not self._allowed:
            return [kind for kind in ALL_UPDATE_TYPES if kind not in OPT_IN_UPDATE_TYPES]
        return list(self._allowed)

    def set_allowed(self, allowed: list[str] | None) -> None:
        """None keeps the previous setting; an empty list restores the default."""
        if allowed is not None:
            self._allowed = [str(kind) for kind in allowed]

    def push(self, update: dict[str, Any], *, forced: bool = False) -> bool:
        """Queue an update unless allowed_updates filters it out; True when queued."""
        if not forced and update_type(update) not in self.allowed_updates:
            self.dropped.append(update)
            return False
        self._queue.append(_Queued(update, forced=forced))
        self._queue.sort(key=lambda item: item.update_id)
        self._notify()
        return True

    def pending(self) -> list[dict[str, Any]]:
        return [item.update for item in self._queue]

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # -- polling ---------------------------------------------------------------------------
    def _confirm(self, offset: int | None) -> None:
        if not offset:
            return
        if offset < 0:
            self._queue = self._queue[offset:]
            return
        self._queue = [
            item
            for item in self._queue
            if item.update_id >= offset or (item.forced and not item.delivered)
        ]

    async def get_updates(
        self,
        *,
        offset: int | None,
        limit: int,
        wait: float,
        allowed_updates: list[str] | None,
    ) -> list[dict[str, Any]]:
        """getUpdates: confirm below ``offset``, then wait up to ``wait`` s for updates."""
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        self.set_allowed(allowed_updates)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # an older long poll sees the newer generation and ends with 409
        self._confirm(offset)
        limit = min(max(limit, 1), 100)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(wait, 0.0)
        while not self._queue and not self._closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                break
            if generation != self._poll_generation:
                raise ApiError(409, POLL_CONFLICT)
            if self.webhook is not None:
                return []
        batch = self._queue[:limit]
        for item in batch:
            item.delivered = True
        return [item.update for item in batch]

    # -- webhook ---------------------------------------------------------------------------
    def set_webhook(
        self,
        url: str,
        *,
        secret_token: str | None,
        max_connections: int,
        allowed_updates: list[str] | None,
        drop_pending_updates: bool,
    ) -> None:
        self.set_allowed(allowed_updates)
        if drop_pending_updates:
            self._queue.clear()
        self.webhook = Webhook(url, secret_token=secret_token, max_connections=max_connections)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._deliver_loop())
        self._notify()

    def delete_webhook(self, *, drop_pending_updates: bool) -> None:
        if drop_pending_updates:
            self._queue.clear()
        self.webhook = None
        self._notify()

    def webhook_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            info["ip_address"] = "127.0.0.1"
            if self._allowed:
                info["allowed_updates"] = list(self._allowed)
            if self.webhook.last_error_date is not None:
                info["last_error_date"] = self.webhook.last_error_date
                info["last_error_message"] = self.webhook.last_error_message
        return info

    async def _deliver_loop(self) -> None:
        failures = 0
        while not self._closed and self.webhook is not None:
            if not self._queue:
                event = self._changed
                await event.wait()
                continue
            item = self._queue[0]
            webhook = self.webhook
            ok = await self._post(webhook, item.update)
            if self.webhook is not webhook:
                continue
            if ok:
                failures = 0
                if item in self._queue:
                    self._queue.remove(item)
                continue
            failures += 1
            if failures > len(self.webhook_retry_delays):
                failures = 0
                if item in self._queue:
                    self._queue.remove(item)
                    self.dropped.append(item.update)
                continue
            await asyncio.sleep(self.webhook_retry_delays[failures - 1])

    async def _post(self, webhook: Webhook, update: dict[str, Any]) -> bool:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)
            )
        headers = {}
        if webhook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
        attempt = WebhookAttempt(
            update_id=int(update["update_id"]), status=None, secret_sent=bool(headers)
        )
        self.webhook_attempts.append(attempt)
        try:
            async with self._session.post(webhook.url, json=update, headers=headers) as response:
                await response.read()
                attempt.status = response.status
                if 200 <= response.status < 300:
                    return True
                webhook.last_error_message = (
                    f"Wrong response from the webhook: {response.status} {response.reason}"
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"
            webhook.last_error_message = (
                "Connection timed out" if isinstance(exc, TimeoutError) else "Connection refused"
            )
        webhook.last_error_date = int(time.time())
        return False

    async def close(self) -> None:
        """Wake long polls so the server can stop, end webhook delivery."""
        self._closed = True
        self._notify()
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        if self._session is not None:
            await self._session.close()
            self._session = None
