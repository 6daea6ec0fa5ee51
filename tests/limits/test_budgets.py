"""Budgets with exact numbers on SQLite and PostgreSQL: local-day and local-month resets in
Asia/Shanghai, the binding budget when several are spent, the global budget, admins exempt; in
the catalog's currency (USD on api.moonshot.ai), and the settings' old *_CNY names."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.budgets import (
    GLOBAL_MONTHLY,
    USER_DAILY,
    USER_MONTHLY,
    BudgetPolicy,
    Budgets,
    day_bounds,
    month_bounds,
)
from core.config import ConfigError, Settings, load_settings
from storage import Database, UsageEntry

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 3, 15, 10, tzinfo=UTC)  # 18:00 on 15 March in Shanghai
ALICE, BOB = "telegram:1", "telegram:2"


def spent(user: str, cost: float, currency: str = "CNY") -> UsageEntry:
    return UsageEntry(
        model="kimi-k2",
        prompt_tokens=1,
        completion_tokens=1,
        cached_tokens=0,
        cost=cost,
        currency=currency,
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
    return Budgets(db.usage, BudgetPolicy(**limits), SHANGHAI, currency="CNY")


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
    checker = await budgets(db, user_daily=0.75)
    refusal = await checker.check(ALICE, False, NOW)
    assert refusal is not None
    assert (refusal.scope, refusal.spent, refusal.limit) == (USER_DAILY, 0.75, 0.75)
    assert refusal.currency == "CNY"
    assert refusal.resets_at == datetime(2025, 3, 16, tzinfo=SHANGHAI)
    assert refusal.message("en") == (
        "You have used your daily budget (¥0.75 of ¥0.75). "
        "It resets at 2025-03-16 00:00 Asia/Shanghai (in 6 h 0 min)."
    )
    assert refusal.message("zh") == (
        "你今天的额度已用完（已用 ¥0.75，上限 ¥0.75），"
        "将于 2025-03-16 00:00 Asia/Shanghai 重置（6 小时 0 分钟后）。"
    )
    loose = Budgets(db.usage, BudgetPolicy(user_daily=0.76), SHANGHAI, currency="CNY")
    assert await loose.check(ALICE, False, NOW) is None
    assert await checker.check(BOB, False, NOW) is None  # Bob spent nothing today


async def test_monthly_budget_binds_over_the_daily_one(db: Database) -> None:
    checker = await budgets(db, user_daily=0.5, user_monthly=4.75)
    refusal = await checker.check(ALICE, False, NOW)
    assert refusal is not None
    assert (refusal.scope, refusal.spent) == (USER_MONTHLY, 4.75)
    assert refusal.resets_at == datetime(2025, 4, 1, tzinfo=SHANGHAI)
    assert refusal.message("en") == (
        "You have used your monthly budget (¥4.75 of ¥4.75). "
        "It resets at 2025-04-01 00:00 Asia/Shanghai (in 390 h 0 min)."
    )
    under = Budgets(db.usage, BudgetPolicy(user_monthly=4.76), SHANGHAI, currency="CNY")
    assert await under.check(ALICE, False, NOW) is None


async def test_global_budget_refuses_everyone_but_admins(db: Database) -> None:
    checker = await budgets(db, global_monthly=7.75)
    refusal = await checker.check(BOB, False, NOW)
    assert refusal is not None
    assert (refusal.scope, refusal.spent, refusal.limit) == (GLOBAL_MONTHLY, 7.75, 7.75)
    assert refusal.message("zh").startswith("机器人本月的总额度已用完（已用 ¥7.75，上限 ¥7.75）")
    assert refusal.message("en").startswith("The bot has used its monthly budget (¥7.75 of ¥7.75).")
    assert await checker.check(BOB, True, NOW) is None
    roomy = Budgets(db.usage, BudgetPolicy(global_monthly=7.76), SHANGHAI, currency="CNY")
    assert await roomy.check(BOB, False, NOW) is None


async def test_no_budget_configured_means_no_query_and_no_refusal(db: Database) -> None:
    class NoLedger:
        async def totals(self, **_kwargs: object) -> None:
            raise AssertionError("queried the ledger without a budget")

    unlimited = Budgets(NoLedger(), BudgetPolicy(), SHANGHAI, currency="CNY")  # type: ignore[arg-type]
    assert await unlimited.check(ALICE, False, NOW) is None
    settings = Settings(kimi_timezone="Asia/Shanghai", budget_user_daily=1.0, _env_file=None)  # type: ignore[call-arg]
    built = Budgets.from_settings(settings, db)
    assert built.policy == BudgetPolicy(user_daily=1.0)
    assert built.tz == SHANGHAI
    assert built.currency == "CNY"


async def test_budgets_on_moonshot_ai_are_in_usd_and_count_only_usd(db: Database) -> None:
    # Alice's CNY spending (4.75 this month) was before the move to api.moonshot.ai: not counted.
    for created, user, cost in LEDGER:
        await db.usage.record_at(spent(user, cost), created)
    await db.usage.record_at(spent(ALICE, 0.2, "USD"), datetime(2025, 3, 15, 1, tzinfo=UTC))
    await db.usage.record_at(spent(ALICE, 0.05, "USD"), datetime(2025, 3, 15, 3, tzinfo=UTC))
    settings = Settings(  # type: ignore[call-arg]
        moonshot_base_url="https://api.moonshot.ai/v1",
        kimi_timezone="Asia/Shanghai",
        budget_user_daily=0.25,
        _env_file=None,
    )
    checker = Budgets.from_settings(settings, db)
    assert checker.currency == "USD"
    refusal = await checker.check(ALICE, False, NOW)
    assert refusal is not None
    assert (refusal.scope, refusal.spent, refusal.currency) == (USER_DAILY, 0.25, "USD")
    assert refusal.message("en").startswith("You have used your daily budget ($0.25 of $0.25).")
    assert refusal.message("zh").startswith("你今天的额度已用完（已用 $0.25，上限 $0.25）")
    roomy = Budgets(db.usage, BudgetPolicy(user_daily=0.26), SHANGHAI, currency="USD")
    assert await roomy.check(ALICE, False, NOW) is None, "CNY rows are not added to USD"


def test_budget_settings_keep_their_old_cny_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_USER_DAILY_CNY", "5")
    monkeypatch.setenv("BUDGET_USER_MONTHLY_CNY", "50")
    monkeypatch.setenv("BUDGET_GLOBAL_MONTHLY_CNY", "1000")
    old = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (old.budget_user_daily, old.budget_user_monthly, old.budget_global_monthly) == (
        5.0,
        50.0,
        1000.0,
    )
    monkeypatch.setenv("BUDGET_USER_DAILY", "7")
    assert Settings(_env_file=None).budget_user_daily == 7.0, "the new name wins"  # type: ignore[call-arg]
    assert Settings(budget_user_daily_cny=2, _env_file=None).budget_user_daily == 2.0  # type: ignore[call-arg]
    monkeypatch.setenv("BUDGET_USER_DAILY", "-1")
    with pytest.raises(ConfigError, match="BUDGET_USER_DAILY"):
        load_settings(_env_file=None)
