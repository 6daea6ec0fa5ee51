"""The numbers behind the console's pages, on SQLite and PostgreSQL, and the limiter's
read-only snapshot on both backends (in-process and Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.console import bucket_of, series, window
from core.limits import FakeClock, Limiter
from storage.console import ConsoleQueries, error_kind
from storage.usage import UsagePoint
from tests.admin.conftest import ledger_row, seed
from tests.limits.helpers import MODEL, catalog, make_backend

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_daily_points_add_up_to_the_reports_days_and_groups(db):
    """The charts' points (any grouping) sum to ``kimi-bot usage --by day`` and ``--by model``,
    with days cut in the operator's time zone (16:30 UTC is the next day in Shanghai)."""
    base = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
    await seed(
        db,
        [
            (base, ledger_row(cost=0.5, cached=100)),
            (base - timedelta(hours=1), ledger_row(model="moonshot-v1-8k", cost=0.25)),
            (base + timedelta(days=1), ledger_row(cost=1.0, platform="slack", user="slack:U1")),
            (base + timedelta(days=1), ledger_row(cost=0.03, currency="USD", first_token_ms=None)),
        ],
    )
    points = await db.usage.daily(by="model", tz=SHANGHAI)
    assert [(p.day, p.key, p.currency) for p in points] == [
        ("2026-11-20", "moonshot-v1-8k", "CNY"),  # 23:30 in Shanghai
        ("2026-11-21", "kimi-k2-0905-preview", "CNY"),  # 00:30 in Shanghai
        ("2026-11-22", "kimi-k2-0905-preview", "CNY"),
        ("2026-11-22", "kimi-k2-0905-preview", "USD"),
    ]
    days = await db.usage.report(by="day", tz=SHANGHAI)
    for day in days:
        mine = [p for p in points if p.day == day.key and p.currency == day.currency]
        assert sum(p.cost for p in mine) == pytest.approx(day.cost)
        assert sum(p.calls for p in mine) == day.calls
        assert sum(p.cached_tokens for p in mine) == day.cached_tokens
    platforms = await db.usage.daily(by="platform", tz=SHANGHAI)
    assert {p.key for p in platforms} == {"telegram", "slack"}
    by_platform = await db.usage.report(by="platform", tz=SHANGHAI)
    assert {(r.key, r.currency): r.calls for r in by_platform} == {
        ("telegram", "CNY"): 2,
        ("slack", "CNY"): 1,
        ("telegram", "USD"): 1,
    }
    since = await db.usage.daily(by="user", since=base + timedelta(hours=1), tz=SHANGHAI)
    assert sum(p.calls for p in since) == 2


def test_windows_and_buckets():
    now = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)  # Sunday 6 Dec in Shanghai
    day = window("day", now, SHANGHAI)
    assert day.since == datetime(2026, 11, 7, tzinfo=SHANGHAI) and day.since_text == "30d"
    assert day.buckets[0] == "2026-11-07" and day.buckets[-1] == "2026-12-06"
    week = window("week", now, SHANGHAI)
    assert week.buckets[-1] == "2026-11-30" and len(week.buckets) == 12  # Mondays
    assert week.since_text == "2026-09-14"
    month = window("month", now, SHANGHAI)
    assert month.buckets[0] == "2026-01" and month.buckets[-1] == "2026-12"
    assert month.since_text == "2026-01-01"
    assert bucket_of("2026-12-06", "week") == "2026-11-30"
    assert bucket_of("2026-12-06", "month") == "2026-12"
    with pytest.raises(ValueError):
        window("year", now, SHANGHAI)


def test_series_never_adds_two_currencies():
    win = window("month", datetime(2026, 12, 5, tzinfo=UTC), UTC)
    points = [
        UsagePoint("2026-12-01", "a", "CNY", 1, 100, 10, 40, 1.5, 0.1, 1),
        UsagePoint("2026-12-03", "b", "CNY", 1, 100, 10, 0, 0.5),
        UsagePoint("2026-12-03", "a", "USD", 1, 100, 10, 0, 0.2),
        UsagePoint("2025-01-03", "a", "CNY", 1, 100, 10, 0, 99.0),  # outside the window
    ]
    data = series(points, win, by="model", currency="CNY")
    december = data.buckets[-1]
    assert december.cost == pytest.approx(2.0) and december.calls == 3
    assert december.fresh_tokens == 60 + 100 + 100 and december.cached_tokens == 40
    assert december.by_group == {"a": 1.5, "b": 0.5}
    assert data.groups == ["a", "b"] and data.other_currencies == {"USD": 0.2}
    assert sum(b.cost for b in data.buckets) == pytest.approx(2.0)


async def test_first_token_percentiles_are_latencies_that_happened(db):
    """Nearest rank, on both databases (``percentile_disc`` on PostgreSQL)."""
    now = datetime.now(UTC)
    rows = [(now, ledger_row(first_token_ms=ms)) for ms in range(10, 1010, 10)]
    rows += [(now, ledger_row(model="moonshot-v1-8k", first_token_ms=250))]
    rows += [(now, ledger_row(model="moonshot-v1-8k", first_token_ms=None))]
    rows += [(now - timedelta(days=3), ledger_row(model="kimi-k2", first_token_ms=5))]
    await seed(db, rows)
    found = await db.usage.first_token_percentiles(since=now - timedelta(days=1))
    assert found == {
        "kimi-k2-0905-preview": (100, {50: 500.0, 90: 900.0, 99: 990.0}),
        "moonshot-v1-8k": (1, {50: 250.0, 90: 250.0, 99: 250.0}),
    }
    assert await db.usage.first_token_percentiles(since=now + timedelta(days=1)) == {}


def test_error_kinds():
    assert error_kind("rate_limited: 429 too many") == "rate_limited"
    assert error_kind("empty answer") == "empty answer"
    assert error_kind(None) == "unknown"


async def test_workers_and_answers_in_progress(db):
    queries = ConsoleQueries(db.engine)
    await db.workers.heartbeat("w1", "host-a", 11)
    key_id = (await db.conversations.get_or_create(_key(), is_group=False)).id
    await db.messages.add(key_id, "user", "hi")
    await db.messages.add(key_id, "assistant", "", status="in_progress")
    await db.messages.add(key_id, "assistant", "x", status="failed")
    workers = await queries.workers()
    assert [(w.id, w.hostname, w.pid) for w in workers] == [("w1", "host-a", 11)]
    assert workers[0].heartbeat_at.tzinfo is not None
    assert await queries.answers_in_progress() == 1
    outcomes = await queries.outcomes()
    assert outcomes.answers == 1 and outcomes.by_kind == {"unknown": 1}
    listed = await queries.conversations()
    assert [(c.id, c.messages) for c in listed] == [(key_id, 3)]
    assert [m.role for m in await queries.messages(key_id)] == ["user", "assistant", "assistant"]


def _key():  # type: ignore[no-untyped-def]
    from storage.records import ConversationKey

    return ConversationKey(platform="telegram", chat="42")


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_the_limiter_snapshot_reads_without_changing(kind, request):
    redis_url = request.getfixturevalue("redis_url") if kind == "redis" else ""
    clock = FakeClock(1_000_000.0)
    limiter = Limiter(
        catalog(rpm=10, tpm=10_000, concurrency=2),
        make_backend(kind, redis_url, "test:console"),
        clock=clock,
    )
    try:
        empty = await limiter.snapshot(MODEL)
        assert (empty.requests, empty.tokens, empty.in_flight, empty.queued) == (0, 0, 0, 0)
        held = await limiter.acquire(model=MODEL, user_id="u", prompt_tokens=300, max_tokens=200)
        second = await limiter.acquire(model=MODEL, user_id="v", prompt_tokens=50, max_tokens=50)
        await second.release()
        clock.advance_to(clock.now() + 5)
        snap = await limiter.snapshot(MODEL)
        assert (snap.requests, snap.tokens, snap.in_flight) == (2, 600, 1)
        assert snap.limits.rpm == 10 and snap.factor == 1.0 and snap.received_429 == 0
        again = await limiter.snapshot(MODEL)
        assert again == snap  # reading changed nothing
        await limiter.penalize(MODEL, 30.0)
        penalized = await limiter.snapshot(MODEL)
        assert penalized.received_429 == 1 and penalized.factor == 0.5
        assert penalized.effective.rpm == 5 and penalized.paused_for == pytest.approx(30.0)
        clock.advance_to(clock.now() + 61)
        await held.release()
        later = await limiter.snapshot(MODEL)
        assert (later.requests, later.tokens) == (0, 0)
    finally:
        await limiter.close()


async def test_the_snapshot_shows_a_models_tokens_per_day():
    from dataclasses import replace

    base = catalog(rpm=10, tpm=10_000, concurrency=2)
    daily = replace(base, models={MODEL: replace(base.get(MODEL), tpd=5_000)})
    limiter = Limiter(daily, clock=FakeClock(1_000_000.0))
    try:
        permit = await limiter.acquire(model=MODEL, user_id="u", prompt_tokens=700, max_tokens=300)
        permit.reconcile(650, 120)
        await permit.release()
        snap = await limiter.snapshot(MODEL)
        assert (snap.tpd, snap.day_tokens, snap.day_spent) == (5_000, 950, False)
        await limiter.spend_day(MODEL)
        assert (await limiter.snapshot(MODEL)).day_spent
    finally:
        await limiter.close()
