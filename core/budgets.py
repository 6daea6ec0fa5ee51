"""Spending budgets in the catalog's currency (the account's: CNY on api.moonshot.cn, USD on
api.moonshot.ai): per user per day and per month, and for the whole bot per month.

Checked before a turn calls Moonshot: over a budget, the turn is refused with a message that
says when the budget resets (local midnight / the first of next month in ``KIMI_TIMEZONE``),
and no model call is made. Admins are exempt. Spending comes from the usage ledger, so a call
already running when the budget is reached still completes (the overshoot is one call at most
per concurrent turn).

Only spending in that currency counts: ledger rows of another currency (written before the bot
moved between api.moonshot.cn and api.moonshot.ai) are not converted at a guessed rate.

Settings (all optional; unset means no budget): ``BUDGET_USER_DAILY``, ``BUDGET_USER_MONTHLY``,
``BUDGET_GLOBAL_MONTHLY`` (the older ``*_CNY`` names are read too).

The operator console sets a user's own daily/monthly budget (:class:`UserOverrides`, stored in
the database); it wins over ``BUDGET_USER_*`` for that user. The overrides are read from memory
and re-read at most every :data:`OVERRIDES_TTL` seconds (a write in the console updates this
worker's copy at once; other workers see it within the TTL).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from core import texts
from core.limits.errors import format_duration
from core.usage_report import money
from storage.records import UsageTotals

log = logging.getLogger(__name__)

USER_DAILY = "user_daily"
USER_MONTHLY = "user_monthly"
GLOBAL_MONTHLY = "global_monthly"
OVERRIDES_TTL = 5.0  # seconds


class _Totals(Protocol):
    async def totals(
        self,
        *,
        user_id: str | None = None,
        chat_key: str | None = None,
        since: datetime | None = None,
    ) -> UsageTotals: ...


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """The caps, in the catalog's currency; None: no such budget."""

    user_daily: float | None = None
    user_monthly: float | None = None
    global_monthly: float | None = None

    @property
    def enabled(self) -> bool:
        return any(v is not None for v in (self.user_daily, self.user_monthly, self.global_monthly))


@dataclass(frozen=True, slots=True)
class BudgetRefusal:
    """Why a turn may not run: which budget, how much was spent, and when it resets."""

    scope: str
    limit: float
    spent: float
    currency: str
    resets_at: datetime  # aware, in the operator's time zone
    now: datetime

    def message(self, lang: str = "en") -> str:
        zone = getattr(self.resets_at.tzinfo, "key", None) or self.resets_at.strftime("%Z")
        when = f"{self.resets_at:%Y-%m-%d %H:%M} {zone}"
        wait = (self.resets_at - self.now).total_seconds()
        spent = texts.text(
            "budget_spent",
            lang,
            spent=money(self.spent, self.currency, 2),
            limit=money(self.limit, self.currency, 2),
        )
        after = texts.text("budget_resets", lang, when=when, wait=format_duration(wait, lang))
        return texts.text(f"budget_{self.scope}", lang, spent=spent, after=after)

    localized = message


def day_bounds(now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """Local midnight today and tomorrow (DST-safe: built from the calendar date)."""
    today = now.astimezone(tz).date()
    tomorrow = today + timedelta(days=1)
    return (
        datetime(today.year, today.month, today.day, tzinfo=tz),
        datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=tz),
    )


def month_bounds(now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """Local midnight of the first of this month and of next month."""
    today = now.astimezone(tz).date()
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return (
        datetime(today.year, today.month, 1, tzinfo=tz),
        datetime(year, month, 1, tzinfo=tz),
    )


@dataclass(frozen=True, slots=True)
class UserBudget:
    """One user's budgets set in the console; None: the environment's default applies."""

    daily: float | None = None
    monthly: float | None = None


OverrideLoader = Callable[[], Awaitable[Iterable[tuple[str, UserBudget]]]]


class UserOverrides:
    """Per-user budgets from the console, cached in memory for :data:`OVERRIDES_TTL` seconds."""

    def __init__(
        self,
        load: OverrideLoader,
        *,
        ttl: float = OVERRIDES_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._budgets: dict[str, UserBudget] = {}
        self._loaded_at: float | None = None

    async def get(self, user_id: str) -> UserBudget | None:
        if self._loaded_at is None or self._clock() - self._loaded_at >= self._ttl:
            try:
                self.replace(await self._load())
            except Exception as exc:  # the last good copy stays in force until the next try
                log.warning("could not re-read the console's budgets: %s", type(exc).__name__)
                self._loaded_at = self._clock()
        return self._budgets.get(user_id)

    def replace(self, budgets: Iterable[tuple[str, UserBudget]]) -> None:
        self._budgets = dict(budgets)
        self._loaded_at = self._clock()

    def invalidate(self) -> None:
        """The next check re-reads the table (this worker's console just wrote to it)."""
        self._loaded_at = None


class Budgets:
    """``await budgets.check(user_id, is_admin, now)`` → None, or the refusal to show."""

    def __init__(
        self,
        usage: _Totals,
        policy: BudgetPolicy,
        tz: tzinfo,
        *,
        currency: str,
        overrides: UserOverrides | None = None,
    ) -> None:
        self._usage = usage
        self.policy = policy
        self.tz = tz
        self.currency = currency
        self.overrides = overrides

    @classmethod
    def from_settings(
        cls, settings: Any, db: Any, overrides: UserOverrides | None = None
    ) -> Budgets:
        policy = BudgetPolicy(
            user_daily=settings.budget_user_daily,
            user_monthly=settings.budget_user_monthly,
            global_monthly=settings.budget_global_monthly,
        )
        tz = ZoneInfo(settings.kimi_timezone)
        return cls(db.usage, policy, tz, currency=settings.catalog.currency, overrides=overrides)

    async def policy_for(self, user_id: str) -> BudgetPolicy:
        """The environment's caps, with this user's own budgets from the console in their place."""
        if self.overrides is None:
            return self.policy
        own = await self.overrides.get(user_id)
        if own is None:
            return self.policy
        return replace(
            self.policy,
            user_daily=own.daily if own.daily is not None else self.policy.user_daily,
            user_monthly=own.monthly if own.monthly is not None else self.policy.user_monthly,
        )

    async def check(self, user_id: str, is_admin: bool, now: datetime) -> BudgetRefusal | None:
        """The refusal whose budget resets last among those spent (it is the one that binds)."""
        if is_admin:
            return None
        policy = await self.policy_for(user_id)
        if not policy.enabled:
            return None
        day_start, day_end = day_bounds(now, self.tz)
        month_start, month_end = month_bounds(now, self.tz)
        checks = [
            (USER_DAILY, policy.user_daily, user_id, day_start, day_end),
            (USER_MONTHLY, policy.user_monthly, user_id, month_start, month_end),
            (GLOBAL_MONTHLY, policy.global_monthly, None, month_start, month_end),
        ]
        refusals: list[BudgetRefusal] = []
        for scope, limit, who, start, end in checks:
            if limit is None:
                continue
            spent = (await self._usage.totals(user_id=who, since=start)).cost(self.currency)
            if spent >= limit:
                local_now = now.astimezone(self.tz)
                refusals.append(BudgetRefusal(scope, limit, spent, self.currency, end, local_now))
        if not refusals:
            return None
        return max(refusals, key=lambda r: r.resets_at)
