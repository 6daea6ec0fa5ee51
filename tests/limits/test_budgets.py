"""Budgets with exact numbers on SQLite and PostgreSQL: local-day and local-month resets in
Asia/Shanghai, the binding budget when several are spent, the global budget, admins exempt."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from core.budgets import (
    GLOBAL_MONTHLY,
    USER_DAILY,
    USER_MONTHLY,
    BudgetPolicy,
    Budgets,
    day_bounds,
    month_bounds,
)
from storage import Database, UsageEntry

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 3, 15, 10, tzinfo=UTC)  # 18:00 on 15 March in Shanghai
ALICE, BOB = "telegram:1", "telegram:2"


def spent(user: str, cost: float) -> UsageEntry:
    return UsageEntry(
        model="kimi-k2",
        prompt_tokens=1,
        completion_tokens=1,
        cached_tokens=0,
        cost_cny=cost,
        latency_ms=1,
        first_token_ms=None,
        user_id=user,
        platform="telegram",
        chat_key="telegram:9",
        conversation_id=None,
        message_id=None,
    )


LEDGER = [
    (datetime(2025, 2, 28, 12, tzinfo=UTC), ALICE, 10.0),  # last month, in any zone
    (datetime(2025, 2, 28, 17, tzinfo=UTC), ALICE, 1.0),  # 1 March 01:00 local: this month
    (datetime(2025, 3, 2, 4, tzinfo=UTC), ALICE, 2.0),
    (datetime(2025, 3, 14, 15, tzinfo=UTC), ALICE, 1.0),  # 14 March 23:00 local: yesterday
    (datetime(2025, 3, 14, 17, tzinfo=UTC), ALICE, 0.25),  # 15 March 01:00 local: today
    (datetime(2025, 3, 15, 2, tzinfo=UTC), ALICE, 0.5),
    (datetime(2025, 3, 10, 2, tzinfo=UTC), BOB, 3.0),
]
# Alice: today 0.75, this month 4.75. Everyone this month: 7.75.


async def budgets(db: Database, **limits: float) -> Budgets:
    for created, user, cost in LEDGER:
        await db.usage.record_at(spent(user, cost), created)
    return Budgets(db.usage, BudgetPolicy(**limits), SHANGHAI)


def test_period_bounds_are_local() -> None:
    assert day_bounds(NOW, SHANGHAI) == (
        datetime(2025, 3, 15, tzinfo=SHANGHAI),
        datetime(2025, 3, 16, tzinfo=SHANGHAI),
    )
    early = datetime(2025, 3, 14, 17, 30, tzinfo=UTC)  # 01:30 on 15 March in Shanghai
    assert day_bounds(early, SHANGHAI)[0] == datetime(2025, 3, 15, tzinfo=SHANGHAI)
    assert month_bounds(datetime(2025, 12, 31, 20, tzinfo=UTC), SHANGHAI) == (
        datetime(2026, 1, 1, tzinfo=SHANGHAI),
        datetime(2026, 2, 1, tzinfo=SHANGHAI),
    )


async def test_daily_budget_counts_the_local_day_and_resets_at_local_midnight(
    db: Database,
) -> None:
    checker = await budgets(db, user_daily_cny=0.75)
    refusal = await checker.check(ALICE, False, NOW)
    assert refusal is not None
    assert (refusal.scope, refusal.spent_cny, refusal.limit_cny) == (USER_DAILY, 0.75, 0.75)
    assert refusal.resets_at == datetime(2025, 3, 16, tzinfo=SHANGHAI)
    assert refusal.message("en") == (
        "You have used your daily budget (¥0.75 of ¥0.75). "
        "It resets at 2025-03-16 00:00 Asia/Shanghai (in 6 h 0 min)."
    )
    assert refusal.message("zh") == (
        "你今天的额度已用完（已用 ¥0.75，上限 ¥0.75），"
        "将于 2025-03-16 00:00 Asia/Shanghai 重置（6 小时 0 分钟后）。"
    )
    loose = Budgets(db.usage, BudgetPolicy(user_daily_cny=0.76), SHANGHAI)
    assert await loose.check(ALICE, False, NOW) is None
    assert await checker.check(BOB, False, NOW) is None  # Bob spent nothing today


async def test_monthly_budget_binds_over_the_daily_one(db: Database) -> None:
    checker = await budgets(db, user_daily_cny=0.5, user_monthly_cny=4.75)
    refusal = await checker.check(ALICE, False, NOW)
    assert refusal is not None
    assert (refusal.scope, refusal.spent_cny) == (USER_MONTHLY, 4.75)
    assert refusal.resets_at == datetime(2025, 4, 1, tzinfo=SHANGHAI)
    assert refusal.message("en") == (
        "You have used your monthly budget (¥4.75 of ¥4.75). "
        "It resets at 2025-04-01 00:00 Asia/Shanghai (in 390 h 0 min)."
    )
    under = Budgets(db.usage, BudgetPolicy(user_monthly_cny=4.76), SHANGHAI)
    assert await under.check(ALICE, False, NOW) is None


async def test_global_budget_refuses_everyone_but_admins(db: Database) -> None:
    checker = await budgets(db, global_monthly_cny=7.75)
    refusal = await checker.check(BOB, False, NOW)
    assert refusal is not None
    assert (refusal.scope, refusal.spent_cny, refusal.limit_cny) == (GLOBAL_MONTHLY, 7.75, 7.75)
    assert refusal.message("zh").startswith("机器人本月的总额度已用完（已用 ¥7.75，上限 ¥7.75）")
    assert refusal.message("en").startswith("The bot has used its monthly budget (¥7.75 of ¥7.75).")
    assert await checker.check(BOB, True, NOW) is None
    roomy = Budgets(db.usage, BudgetPolicy(global_monthly_cny=7.76), SHANGHAI)
    assert await roomy.check(BOB, False, NOW) is None


async def test_no_budget_configured_means_no_query_and_no_refusal(db: Database) -> None:
    class NoLedger:
        async def totals(self, **_kwargs: object) -> None:
            raise AssertionError("queried the ledger without a budget")

    assert await Budgets(NoLedger(), BudgetPolicy(), SHANGHAI).check(ALICE, False, NOW) is None  # type: ignore[arg-type]
    settings = SimpleNamespace(
        kimi_timezone="Asia/Shanghai", budget_user_daily_cny=1.0, budget_global_monthly_cny=None
    )
    built = Budgets.from_settings(settings, db)
    assert built.policy == BudgetPolicy(user_daily_cny=1.0)
    assert built.tz == SHANGHAI
