"""Only one worker long-polls Telegram: the one holding a renewed Redis lease.

Telegram allows one ``getUpdates`` consumer per bot (a second gets ``409 Conflict``), so with
``REDIS_URL`` set every polling worker competes for ``kimi:telegram:poller:<bot id>``. The holder
polls and renews the lease every third of its lifetime; the others log once that another worker
polls and try again at the same pace, so one of them takes over within a lease lifetime if the
poller dies. A poller that cannot renew (Redis away) stops polling before its lease can lapse,
so two workers never poll at once. Scaling out is what the webhook is for; this only keeps an
accidental second polling worker harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from core import metrics
from core.leases import LeaseScripts, RedisLease

log = logging.getLogger(__name__)

Action = Callable[[], Awaitable[None]]


class PollingLease:
    """Starts polling while this worker holds the lease, stops it when the lease is lost."""

    def __init__(
        self,
        redis: Any,
        key: str,
        *,
        start_polling: Action,
        stop_polling: Action,
        owner: str,
        ttl: float = 15.0,
    ) -> None:
        self._redis = redis
        self._scripts = LeaseScripts(redis)
        self.key = key
        self._start = start_polling
        self._stop = stop_polling
        self._owner = owner
        self._ttl = ttl
        self._lease = self._new_lease()
        self._renewed_at = 0.0
        self._told_follower = False
        self._task: asyncio.Task[None] | None = None
        self.polling = False

    def _new_lease(self) -> RedisLease:
        return RedisLease(self._scripts, self.key, ttl=self._ttl, owner=self._owner)

    async def start(self) -> None:
        """One attempt now (so the log says at once who polls), then keep trying/renewing."""
        await self._step()
        self._task = asyncio.create_task(self._loop(), name="telegram-polling-lease")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.polling:
            await self._give_up("shutting down")
            with contextlib.suppress(Exception):
                await self._lease.release()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("telegram: polling lease step failed")

    async def _step(self) -> None:
        if self.polling:
            await self._renew()
        else:
            await self._try_lead()

    async def _try_lead(self) -> None:
        try:
            got = await self._lease.try_acquire()
        except Exception as exc:
            log.warning("telegram: cannot reach Redis for the polling lease: %s", exc)
            return
        if not got:
            if not self._told_follower:
                holder = await self._holder()
                log.info(
                    "telegram: another worker polls (%s); this one stays ready to take over",
                    holder or "unknown",
                )
                self._told_follower = True
            return
        self._renewed_at = time.monotonic()
        await self._start()
        self.polling = True
        self._told_follower = False
        metrics.set_telegram_polling(True)
        log.info("telegram: this worker holds the polling lease and polls")

    async def _renew(self) -> None:
        try:
            held = await self._lease.renew()
        except Exception as exc:
            # Stop before the lease can lapse under us: another worker may take it then.
            if time.monotonic() - self._renewed_at > self._ttl * 2 / 3:
                await self._give_up(f"cannot renew the lease ({exc})")
            return
        if held:
            self._renewed_at = time.monotonic()
            return
        await self._give_up("the lease was lost")

    async def _give_up(self, why: str) -> None:
        log.warning("telegram: stopping polling: %s", why)
        self.polling = False
        metrics.set_telegram_polling(False)
        try:
            await self._stop()
        finally:
            self._lease = self._new_lease()

    async def _holder(self) -> str | None:
        try:
            value = await self._redis.get(self.key)
        except Exception:
            return None
        return str(value).rsplit("/", 1)[0] if value else None
