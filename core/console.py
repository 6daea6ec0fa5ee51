"""The operator console's numbers (``/admin``), platform-free: usage and cost over time, budget
consumption, the balance and its trend, live limiter state and answer quality.

Usage and cost come from the same ledger queries as ``kimi-bot usage`` (:mod:`storage.usage`):
the tables are ``db.usage.report`` rows, the charts ``db.usage.daily`` points bucketed here, and
the CSV export is :func:`core.usage_cli.usage_report_text` itself. Money is summed only within
one currency (the catalog's); rows billed in another currency are shown apart, never added.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from core.account import AccountUnavailable, Balance
from core.budgets import day_bounds, month_bounds
from core.limits import LimitSnapshot
from core.usage_cli import DEFAULT_SINCE, usage_report_text
from core.usage_report import UsagePeriods, usage_periods
from storage.console import AnswerOutcomes, ConsoleQueries, ConversationRow, MessageRow, WorkerRow
from storage.feedback import FeedbackCounts
from storage.usage import REPORT_GROUPS, SERIES_GROUPS, UsagePoint, UsageRow

PERIODS = ("day", "week", "month")
GROUPS = SERIES_GROUPS
BUCKETS = {"day": 30, "week": 12, "month": 12}  # how far back each period's chart looks
CSV_GROUPS = REPORT_GROUPS  # what ``kimi-bot usage --by`` accepts
BALANCE_TTL = 60.0  # seconds a balance answer is reused (pages must not hammer Moonshot)
BALANCE_SAMPLES = 200


@dataclass(frozen=True, slots=True)
class Window:
    """A chart's time range: the first day, the CLI's ``--since`` for it, and bucket labels."""

    period: str
    since: datetime
    since_text: str
    buckets: list[str]


def bucket_of(day: str, period: str) -> str:
    """The bucket a ``YYYY-MM-DD`` day falls in: the day, its week's Monday, or ``YYYY-MM``."""
    if period == "day":
        return day
    if period == "month":
        return day[:7]
    parsed = date.fromisoformat(day)
    return (parsed - timedelta(days=parsed.weekday())).isoformat()


def window(period: str, now: datetime, tz: tzinfo) -> Window:
    """The last ``BUCKETS[period]`` days, weeks (from Monday) or months, up to today."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    today = now.astimezone(tz).date()
    count = BUCKETS[period]
    if period == "day":
        first = today - timedelta(days=count - 1)
        buckets = [(first + timedelta(days=i)).isoformat() for i in range(count)]
        since_text = f"{count}d"
    elif period == "week":
        monday = today - timedelta(days=today.weekday())
        first = monday - timedelta(weeks=count - 1)
        buckets = [(first + timedelta(weeks=i)).isoformat() for i in range(count)]
        since_text = first.isoformat()
    else:
        year, month = today.year, today.month - (count - 1)
        while month < 1:
            year, month = year - 1, month + 12
        first = date(year, month, 1)
        buckets = []
        for _ in range(count):
            buckets.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        since_text = first.isoformat()
    since = datetime(first.year, first.month, first.day, tzinfo=tz)
    return Window(period, since, since_text, buckets)


@dataclass(slots=True)
class Bucket:
    """One bucket of the chart: money in the catalog's currency, tokens of every call."""

    label: str
    calls: int = 0
    fresh_tokens: int = 0  # prompt tokens not served from Moonshot's context cache
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # tokens + tool fees, catalog currency only
    tool_fees: float = 0.0
    web_searches: int = 0
    by_group: dict[str, float] = field(default_factory=dict)  # cost per group key


@dataclass(frozen=True, slots=True)
class UsageSeries:
    window: Window
    by: str
    currency: str
    buckets: list[Bucket]
    groups: list[str]  # group keys by cost, highest first
    other_currencies: dict[str, float]  # money billed in another currency (never added)


def series(points: Sequence[UsagePoint], win: Window, *, by: str, currency: str) -> UsageSeries:
    """Bucket daily points into the window's buckets (pure; the unit tests use it directly)."""
    buckets = {label: Bucket(label) for label in win.buckets}
    totals: dict[str, float] = {}
    other: dict[str, float] = {}
    for point in points:
        bucket = buckets.get(bucket_of(point.day, win.period))
        if bucket is None:
            continue
        bucket.calls += point.calls
        bucket.fresh_tokens += max(0, point.prompt_tokens - point.cached_tokens)
        bucket.cached_tokens += point.cached_tokens
        bucket.completion_tokens += point.completion_tokens
        bucket.web_searches += point.web_searches
        if point.currency != currency:
            other[point.currency] = other.get(point.currency, 0.0) + point.cost
            continue
        bucket.cost += point.cost
        bucket.tool_fees += point.tool_fees
        bucket.by_group[point.key] = bucket.by_group.get(point.key, 0.0) + point.cost
        totals[point.key] = totals.get(point.key, 0.0) + point.cost
    groups = sorted(totals, key=lambda key: (-totals[key], key))
    return UsageSeries(win, by, currency, list(buckets.values()), groups, other)


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """Spending against one budget (the catalog's currency)."""

    scope: str  # user_daily, user_monthly, global_monthly
    who: str  # a user id, or "" for the whole bot
    spent: float
    limit: float

    @property
    def share(self) -> float:
        return self.spent / self.limit if self.limit > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Overview:
    periods: UsagePeriods
    currency: str
    daily: UsageSeries
    balance: Balance | None
    balance_error: str
    balance_samples: list[tuple[float, float]]  # (unix time, available)
    days_left: float | None  # the balance at the last 7 days' average spending
    outcomes: AnswerOutcomes
    feedback: FeedbackCounts


@dataclass(frozen=True, slots=True)
class Quality:
    since: datetime
    outcomes: AnswerOutcomes
    first_token: dict[str, dict[int, float]]  # model -> percentile -> ms
    first_token_calls: dict[str, int]
    feedback: dict[str, FeedbackCounts]


@dataclass(frozen=True, slots=True)
class Live:
    limits: list[LimitSnapshot]
    waits: dict[str, float]  # model -> calls that queued for a limit (429s avoided)
    workers: list[WorkerRow]
    alive_after: datetime
    in_progress: int


class Console:
    """The numbers of every console page, read from the services (never written)."""

    def __init__(self, services: Any) -> None:
        self._services = services
        self._queries = ConsoleQueries(services.db.engine)
        self._balance: tuple[float, Balance | None, str] | None = None
        self.balance_samples: list[tuple[float, float]] = []

    @property
    def settings(self) -> Any:
        return self._services.settings

    @property
    def currency(self) -> str:
        return str(self.settings.catalog.currency)

    @property
    def tz(self) -> tzinfo:
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.settings.kimi_timezone)

    # -- usage -----------------------------------------------------------------------------
    async def usage(
        self, period: str, by: str, now: datetime
    ) -> tuple[UsageSeries, list[UsageRow]]:
        """The chart's series and the table's rows (``kimi-bot usage --by <by>`` rows)."""
        win = window(period, now, self.tz)
        db = self._services.db
        points = await db.usage.daily(by=by, since=win.since, tz=self.tz)
        rows = await db.usage.report(by=by, since=win.since, tz=self.tz)
        return series(points, win, by=by, currency=self.currency), rows

    async def csv(self, by: str, since_text: str | None, now: datetime) -> str:
        """Exactly what ``kimi-bot usage --by <by> --since <since> --format csv`` prints."""
        if by not in CSV_GROUPS:
            raise ValueError(f"by must be one of {', '.join(CSV_GROUPS)}")
        text = await usage_report_text(
            self._services.db,
            by=by,
            fmt="csv",
            since_text=since_text or DEFAULT_SINCE,
            tz=self.tz,
            now=now,
            catalog=self.settings.catalog,  # as run_usage_command passes it
        )
        return text + "\n"  # the command prints it with print()

    async def budgets(self, now: datetime, *, top: int = 20) -> list[BudgetUse]:
        """Spending against each budget that is set: the bot's, then the top spenders' (each
        user's own budgets from the console's settings in place of ``BUDGET_USER_*``)."""
        budgets = getattr(self._services.assistant, "budgets", None)
        if budgets is None:
            return []
        policy, currency, db = budgets.policy, self.currency, self._services.db
        day_start, _ = day_bounds(now, self.tz)
        month_start, _ = month_bounds(now, self.tz)
        uses: list[BudgetUse] = []
        if policy.global_monthly is not None:
            spent = (await db.usage.totals(since=month_start)).cost(currency)
            uses.append(BudgetUse("global_monthly", "", spent, policy.global_monthly))
        month = [
            r
            for r in await db.usage.report(by="user", since=month_start, tz=self.tz)
            if r.currency == currency
        ][:top]
        today = {
            r.key: r.cost
            for r in await db.usage.report(by="user", since=day_start, tz=self.tz)
            if r.currency == currency
        }
        policy_for = getattr(budgets, "policy_for", None)
        for row in month:
            own = await policy_for(row.key) if policy_for is not None else policy
            if own.user_monthly is not None:
                uses.append(BudgetUse("user_monthly", row.key, row.cost, own.user_monthly))
            if own.user_daily is not None:
                uses.append(
                    BudgetUse("user_daily", row.key, today.get(row.key, 0.0), own.user_daily)
                )
        return uses

    # -- overview --------------------------------------------------------------------------
    async def balance(self) -> tuple[Balance | None, str]:
        """The account's balance (asked at most once a ``BALANCE_TTL``), or why there is none."""
        account = getattr(self._services, "account", None)
        if account is None:
            return None, "no Moonshot account to ask (demo mode or no API key)"
        cached = self._balance
        now = time.monotonic()
        if cached is not None and now - cached[0] < BALANCE_TTL:
            return cached[1], cached[2]
        try:
            balance: Balance | None = await account.balance()
            error = ""
        except AccountUnavailable as exc:
            balance, error = None, f"Moonshot did not say: {exc}"
        self._balance = (now, balance, error)
        if balance is not None:
            self.balance_samples.append((time.time(), balance.available))
            del self.balance_samples[:-BALANCE_SAMPLES]
        return balance, error

    async def overview(self, now: datetime) -> Overview:
        db, tz = self._services.db, self.tz
        periods = await usage_periods(db, now, tz)
        win = window("day", now, tz)
        points = await db.usage.daily(by="model", since=win.since, tz=tz)
        daily = series(points, win, by="model", currency=self.currency)
        balance, error = await self.balance()
        week = [bucket.cost for bucket in daily.buckets[-7:]]
        per_day = sum(week) / len(week) if week else 0.0
        days_left = None
        if balance is not None and per_day > 0:
            days_left = max(0.0, balance.available) / per_day
        month_start = month_bounds(now, tz)[0]
        outcomes = await self._queries.outcomes(since=month_start)
        rated = await db.feedback.by_model(since=month_start)
        feedback = FeedbackCounts(
            sum(c.up for c in rated.values()), sum(c.down for c in rated.values())
        )
        return Overview(
            periods,
            self.currency,
            daily,
            balance,
            error,
            list(self.balance_samples),
            days_left,
            outcomes,
            feedback,
        )

    # -- quality ---------------------------------------------------------------------------
    async def quality(self, period: str, now: datetime) -> Quality:
        win = window(period, now, self.tz)
        db = self._services.db
        latency = await db.usage.first_token_percentiles(since=win.since)
        return Quality(
            since=win.since,
            outcomes=await self._queries.outcomes(since=win.since),
            first_token={model: values for model, (_, values) in latency.items()},
            first_token_calls={model: n for model, (n, _) in latency.items()},
            feedback=await db.feedback.by_model(since=win.since),
        )

    # -- live ------------------------------------------------------------------------------
    async def live(self, now: datetime) -> Live:
        from prometheus_client import REGISTRY

        limiter = self._services.limiter
        snapshots = [await limiter.snapshot(model) for model in limiter.catalog.ids()]
        waits = {
            s.model: REGISTRY.get_sample_value("kimi_limiter_waits_total", {"model": s.model})
            or 0.0
            for s in snapshots
        }
        alive_after = now - timedelta(seconds=float(self.settings.worker_dead_after))
        return Live(
            limits=snapshots,
            waits=waits,
            workers=await self._queries.workers(),
            alive_after=alive_after,
            in_progress=await self._queries.answers_in_progress(),
        )

    # -- conversations ---------------------------------------------------------------------
    async def conversations(self, *, limit: int = 50, offset: int = 0) -> list[ConversationRow]:
        return await self._queries.conversations(limit=limit, offset=offset)

    async def conversation(
        self, conversation_id: int
    ) -> tuple[ConversationRow, list[MessageRow]] | None:
        found = await self._queries.conversation(conversation_id)
        if found is None:
            return None
        return found, await self._queries.messages(conversation_id)
