"""Admins hear about the account once: a low balance (at most one DM a day, however often and
by however many workers it is checked) and a used-up balance (one DM however many turns fail),
through the real python-telegram-bot against the Telegram emulator."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from core.admin_alerts import AdminAlerts
from core.balance_watch import BalanceWatch
from core.conversations import Conversations
from emulators.moonshot import Fault
from emulators.telegram import TelegramEmulator
from tests.telegram.conftest import USER, Bot, StartBot, handled, start_bot, tg, visible

__all__ = ["start_bot", "tg"]  # the Telegram package's fixtures, used here

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

ADMIN = 7
ADMINS = f"telegram:{ADMIN},web:abc,slack:U9"
DAY = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


async def admin_bot(tg: TelegramEmulator, start_bot: StartBot, **settings: object) -> Bot:
    """A bot whose admin has opened a private chat with it (Telegram requires that for a DM)."""
    tg.add_chat(ADMIN, "private", first_name="Admin")
    bot = await start_bot(admins=ADMINS, **settings)
    alerts = bot.services.alerts
    assert alerts is not None and alerts.register_adapter(bot.adapter)
    return bot


def watch(bot: Bot, alerts: AdminAlerts, when: datetime, below: float = 100.0) -> BalanceWatch:
    assert bot.services.account is not None
    return BalanceWatch(
        bot.services.account, alerts, every=0, alert_below=below, clock=lambda: when
    )


async def test_a_low_balance_is_one_dm_a_day_however_often_it_is_checked(
    tg: TelegramEmulator, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await admin_bot(tg, start_bot)
    alerts = bot.services.alerts
    assert alerts is not None
    with caplog.at_level(logging.WARNING, logger="core.admin_alerts"):
        first = await watch(bot, alerts, DAY).check()
        second = await watch(bot, alerts, DAY + timedelta(hours=3)).check()
    assert first is not None and second is not None and first.available == 49.58
    [dm] = visible(tg, ADMIN)
    assert "the Moonshot balance is ¥49.58, below the alert level of ¥100.00" in dm
    assert "BALANCE_ALERT_BELOW" in dm and "余额为 ¥49.58" in dm, "both languages"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "admin alert balance-low:2026-12-05 (told telegram:7; not reached: web:abc, slack:U9): "
        "⚠️ kimi-bot: the Moonshot balance is ¥49.58, below the alert level of ¥100.00 "
        "(BALANCE_ALERT_BELOW). Top it up in the Moonshot console before it runs out; "
        "answers stop when it does.",
        "admin alert balance-low:2026-12-05 (admins were already told): "
        "⚠️ kimi-bot: the Moonshot balance is ¥49.58, below the alert level of ¥100.00 "
        "(BALANCE_ALERT_BELOW). Top it up in the Moonshot console before it runs out; "
        "answers stop when it does.",
    ]

    # Another worker on the same database: the claim is shared, so still one message today.
    other = AdminAlerts(["telegram:7"], Conversations(bot.services.db).claim_event)
    other.register_adapter(bot.adapter)
    await watch(bot, other, DAY + timedelta(hours=5)).check()
    assert len(visible(tg, ADMIN)) == 1

    await watch(bot, alerts, DAY + timedelta(days=1)).check()  # a new day: one more
    assert len(visible(tg, ADMIN)) == 2
    assert visible(tg, USER) == [], "nobody else is told"


async def test_a_balance_above_the_alert_level_tells_nobody(
    tg: TelegramEmulator, start_bot: StartBot, moonshot
) -> None:
    bot = await admin_bot(tg, start_bot)
    alerts = bot.services.alerts
    assert alerts is not None
    moonshot.set_balance(voucher=0, cash=250)
    balance = await watch(bot, alerts, DAY, below=100.0).check()
    assert balance is not None and (balance.available, balance.voucher, balance.cash) == (
        250.0,
        0.0,
        250.0,
    )
    assert visible(tg, ADMIN) == []


async def test_a_used_up_balance_tells_the_user_each_time_and_the_admin_once(
    tg: TelegramEmulator, start_bot: StartBot, moonshot
) -> None:
    bot = await admin_bot(tg, start_bot)
    moonshot.inject(Fault(kind="quota", times=2))
    tg.user_message(USER, USER, "hello")
    await handled(tg, bot, 1)
    tg.user_message(USER, USER, "hello again")
    await handled(tg, bot, 2)

    user_sees = visible(tg, USER)
    assert len(user_sees) == 2
    for text in user_sees:
        assert "the bot's Moonshot account has run out of balance" in text
        assert "once the bot's operator tops it up" in text
    [dm] = visible(tg, ADMIN)
    assert "the account's balance is used up (exceeded_current_quota_error)" in dm
    assert "Moonshot 因账户余额用完而拒绝回答" in dm

    tg.user_message(USER, USER, "and now?")  # the fault is spent: answered, no new alert
    await handled(tg, bot, 3)
    assert visible(tg, USER)[-1] == "Echo (kimi-k2): and now?"
    assert len(visible(tg, ADMIN)) == 1
