"""The periodic balance check: the Prometheus gauge, and a warning to admins before it runs out.

Every worker checks (``BALANCE_CHECK_EVERY`` seconds, at start too) and sets its own gauge, so
any worker's ``/metrics`` shows it; the admins' message for a balance under
``BALANCE_ALERT_BELOW`` is claimed per day across workers, so they get at most one a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from core import metrics, texts
from core.account import AccountFacts, AccountUnavailable, Balance
from core.admin_alerts import AdminAlerts

log = logging.getLogger(__name__)


class BalanceWatch:
    """``check()`` once, or ``start()`` to check every ``every`` seconds (0: never)."""

    def __init__(
        self,
        account: AccountFacts,
        alerts: AdminAlerts,
        *,
        every: float,
        alert_below: float | None = None,
        timezone: str = "UTC",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._account = account
        self._alerts = alerts
        self._every = every
        self._alert_below = alert_below
        self._tz = ZoneInfo(timezone)
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.last: Balance | None = None

    async def check(self) -> Balance | None:
        """Ask for the balance, set the gauge, tell the admins if it is low; None if Moonshot
        could not say (logged; the gauge keeps its last value)."""
        try:
            balance = await self._account.balance()
        except AccountUnavailable as exc:
            log.warning("balance check failed: %s", exc)
            return None
        if self.last is None:
            log.info("Moonshot balance: %s", balance.describe())
        self.last = balance
        metrics.set_account_balance(balance.amounts())
        threshold = self._alert_below
        if threshold is not None and balance.available < threshold:
            day = self._clock().astimezone(self._tz).date().isoformat()
            text = texts.both(
                "alert_balance_low",
                available=balance.money(balance.available),
                threshold=balance.money(threshold),
            )
            await self._alerts.tell_once(f"balance-low:{day}", text)
        return balance

    def start(self) -> None:
        """Check now and then every ``every`` seconds, in the background (0: not at all)."""
        if self._every <= 0 or self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="balance-watch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a bug here must not end the checks for the worker's lifetime
                log.exception("balance check crashed")
            await asyncio.sleep(self._every)
