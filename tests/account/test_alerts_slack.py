"""A Slack admin hears about the account once, in the app's DM with them (the real slack-sdk
against the Slack emulator): a used-up balance once, a model's spent day of tokens once per model
and day."""

from __future__ import annotations

from datetime import UTC, datetime

from core.admin_alerts import account_alert
from core.errors import DailyLimitReached, QuotaExceeded, RateLimited
from emulators.moonshot import Fault
from emulators.slack import SlackEmulator
from tests.slack.conftest import StartBot, emu, start_bot

__all__ = ["emu", "start_bot"]  # the Slack package's fixtures, used here


async def test_a_slack_admin_gets_one_dm_for_a_used_up_balance(
    emu: SlackEmulator, start_bot: StartBot, moonshot
) -> None:
    bot = await start_bot(admins="slack:U1")
    assert bot.services.alerts is not None
    assert bot.services.alerts.register_adapter(bot.adapter)
    moonshot.inject(Fault(kind="quota", times=2))
    for text in ("hi", "hi again"):
        await emu.user_message("D2", "U2", text)
        await bot.idle()
    answers = [m.text for m in emu.messages("D2")]
    assert len(answers) == 2
    assert all("run out of balance" in text for text in answers), answers
    [dm] = [m.text for m in emu.messages("D1")]  # U1's DM with the app
    assert dm.startswith("⛔ kimi-bot: Moonshot refused an answer because the account's balance")


async def test_a_spent_day_is_one_dm_per_model(
    emu: SlackEmulator, start_bot: StartBot, moonshot
) -> None:
    bot = await start_bot(admins="slack:U1")
    assert bot.services.alerts is not None
    assert bot.services.alerts.register_adapter(bot.adapter)
    moonshot.inject(Fault(kind="tpd_limit", times=3))
    for text in ("one", "two", "/model moonshot-v1-8k", "three"):
        await emu.user_message("D2", "U2", text)
        await bot.idle()
    answers = [m.text for m in emu.messages("D2")]
    assert [a for a in answers if "used its tokens for today" in a] == [answers[0]] * 3
    dms = [m.text for m in emu.messages("D1")]
    assert len(dms) == 2, dms
    assert "tokens for today (TPD) on kimi-k2" in dms[0]
    assert "tokens for today (TPD) on moonshot-v1-8k" in dms[1]


def test_keys_repeat_a_spent_day_per_model_and_day_and_a_used_up_balance_never() -> None:
    late = datetime(2026, 12, 5, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    next_day = datetime(2026, 12, 5, 16, 1, tzinfo=UTC)  # 00:01 the next day there
    k2 = DailyLimitReached("429 TPD", model="kimi-k2")
    v1 = DailyLimitReached("429 TPD", model="moonshot-v1-8k")
    keys = [
        account_alert(error, when, "Asia/Shanghai")[0]  # type: ignore[index]
        for error, when in ((k2, late), (k2, next_day), (v1, late))
    ]
    assert keys == [
        "daily_limit:kimi-k2:2026-12-05",
        "daily_limit:kimi-k2:2026-12-06",
        "daily_limit:moonshot-v1-8k:2026-12-05",
    ]
    key, text = account_alert(QuotaExceeded("429"), late, "Asia/Shanghai")  # type: ignore[misc]
    assert key == "quota" and account_alert(QuotaExceeded(), next_day, "UTC")[0] == "quota"  # type: ignore[index]
    assert "exceeded_current_quota_error" in text
    _, daily = account_alert(k2, late, "Asia/Shanghai")  # type: ignore[misc]
    assert "tokens for today (TPD) on kimi-k2" in daily and "(Asia/Shanghai)" in daily
    assert account_alert(RateLimited("429"), late, "UTC") is None, "a busy minute is no news"
