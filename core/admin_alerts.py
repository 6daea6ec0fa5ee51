"""Telling the bot's admins, once, that the Moonshot account needs them.

Some failures are not the user's and not one request's: the balance ran out, a model's tokens for
the day are spent, the balance is about to run out. Users already get a clear error; the people who
can fix it (``ADMINS``) get a direct message, at most once per key across every worker and restart
(the claim is the processed-events table every platform's exactly-once delivery already uses), and
a WARNING line goes to the log either way. Which admins can be messaged depends on the adapters
that run: Telegram and Slack have DMs (``notify_user``); the web chat and the CLI do not, so for
their admins the log line is all there is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from core import errors, texts

log = logging.getLogger(__name__)

SOURCE = "admin-alert"  # the processed-events source of the claims
MAX_KEY = 160  # processed_events.event_id's length
SEND_TIMEOUT = 10.0  # per direct message: a stuck platform must not hold the caller

Notify = Callable[[str, str], Awaitable[None]]  # (the platform's own user id, text)
Claim = Callable[[str, str], Awaitable[bool]]  # (source, key) -> True the first time


class DirectMessages(Protocol):
    """An adapter that can write to one user privately (Telegram, Slack)."""

    name: str

    async def notify_user(self, user_id: str, text: str) -> None: ...


class AdminAlerts:
    """``tell_once(key, text)``: every admin reachable by DM gets ``text`` once per ``key``."""

    def __init__(self, admins: Iterable[str], claim: Claim) -> None:
        self._admins = list(dict.fromkeys(admins))
        self._claim = claim
        self._channels: dict[str, Notify] = {}

    def register(self, platform: str, notify_user: Notify) -> None:
        """Admins ``<platform>:<id>`` are messaged through ``notify_user(<id>, text)``."""
        self._channels[platform.lower()] = notify_user

    def register_adapter(self, adapter: object) -> bool:
        """Use ``adapter.notify_user`` if it has one; False for adapters without DMs."""
        notify_user = getattr(adapter, "notify_user", None)
        name = getattr(adapter, "name", "")
        if notify_user is None or not name:
            return False
        self.register(str(name), notify_user)
        return True

    def reachable(self) -> list[str]:
        """The admins a DM can reach with the adapters registered so far."""
        return [admin for admin in self._admins if self._route(admin) is not None]

    async def tell_once(self, key: str, text: str) -> bool:
        """Send ``text`` to the admins unless some worker already did for ``key``; True if this
        call sent it. Never raises: an alert that cannot be sent is a log line."""
        key = key[:MAX_KEY]
        summary = text.splitlines()[0] if text.strip() else key
        try:
            first = await self._claim(SOURCE, key)
        except Exception as exc:
            log.warning("admin alert %s not sent (%s): %s", key, type(exc).__name__, summary)
            return False
        if not first:
            log.warning("admin alert %s (admins were already told): %s", key, summary)
            return False
        told, missed = await self._send(text)
        if told:
            whom = "told " + ", ".join(told)
        elif self._admins:
            whom = "no admin reachable by a direct message"
        else:
            whom = "ADMINS is empty"
        if missed:
            whom += "; not reached: " + ", ".join(missed)
        log.warning("admin alert %s (%s): %s", key, whom, summary)
        return True

    async def _send(self, text: str) -> tuple[list[str], list[str]]:
        told: list[str] = []
        missed: list[str] = []
        for admin in self._admins:
            route = self._route(admin)
            if route is None:
                missed.append(admin)
                continue
            notify, user_id = route
            try:
                await asyncio.wait_for(notify(user_id, text), SEND_TIMEOUT)
            except Exception as exc:  # blocked the bot, never opened a DM, platform down
                log.warning("admin alert: could not message %s (%s)", admin, _why(exc))
                missed.append(admin)
            else:
                told.append(admin)
        return told, missed

    def _route(self, admin: str) -> tuple[Notify, str] | None:
        platform, _, user_id = admin.partition(":")
        notify = self._channels.get(platform.lower())
        return (notify, user_id) if notify is not None and user_id else None


def account_alert(
    error: errors.KimiError, now: datetime, day_timezone: str
) -> tuple[str, str] | None:
    """The key and the admins' text for an error that ``alerts_admins``, else None.

    The balance running out is said once; a model's spent tokens for the day once per model and
    day (the day Moonshot counts in, ``day_timezone``), since it ends by itself at midnight.
    """
    if not error.alerts_admins:
        return None
    if isinstance(error, errors.DailyLimitReached):
        day = now.astimezone(ZoneInfo(day_timezone)).date().isoformat()
        model = error.model or "?"
        text = texts.both("alert_daily_limit", model=model, timezone=day_timezone)
        return f"{error.kind}:{model}:{day}", text
    if isinstance(error, errors.QuotaExceeded):
        return error.kind, texts.both("alert_quota")
    return error.kind, f"kimi-bot: {error.kind}: {error.detail or error.kind}"


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
