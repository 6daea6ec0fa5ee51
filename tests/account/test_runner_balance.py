"""``kimi-bot run`` checks the balance at start and every BALANCE_CHECK_EVERY seconds: the
``kimi_account_balance`` gauge follows it, and a Telegram admin gets one DM for a low balance
however many checks see it (the runner hands the adapters to the admin alerts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emulators.telegram import TelegramEmulator
from tests.conftest import EMULATOR_KEY
from tests.scaling.workers import Worker, sample, start_worker, wait_for, worker_env

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123456:BALANCE-TOKEN"
ADMIN = 7
USER = 42


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(token=TOKEN) as emulator:
        emulator.add_chat(ADMIN, "private", first_name="Admin")
        yield emulator


async def run(tmp_path: Path, moonshot: Any, tg: TelegramEmulator, **settings: Any) -> Worker:
    env = worker_env(
        moonshot_base_url=moonshot.base_url,
        moonshot_api_key=EMULATOR_KEY,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'kimi.db'}",
        telegram_bot_token=TOKEN,
        telegram_api_url=tg.url,
        admins=f"telegram:{ADMIN}",
        **settings,
    )
    return await start_worker("w1", env, tmp_path)


async def gauge(worker: Worker, kind: str) -> float:
    status, text = await worker.get("/metrics")
    assert status == 200
    return sample(text, "kimi_account_balance", kind=kind)


async def test_the_gauge_follows_the_balance_and_the_admin_is_told_once(
    tmp_path: Path, moonshot: Any, tg: TelegramEmulator
) -> None:
    worker = await run(tmp_path, moonshot, tg, balance_alert_below=100, balance_check_every=0.2)
    try:

        async def shows(kind: str, value: float) -> bool:
            return await gauge(worker, kind) == value

        await wait_for(lambda: shows("available", 49.58), 20, "the balance gauge", worker)
        assert await gauge(worker, "voucher") == 46.58 and await gauge(worker, "cash") == 3.0
        await wait_for(lambda: tg.messages(ADMIN), 20, "the admin's DM", worker)

        moonshot.set_balance(voucher=0, cash=10)  # later checks see it: they ran
        await wait_for(lambda: shows("available", 10.0), 20, "a later check", worker)
        moonshot.set_balance(voucher=0, cash=8)
        await wait_for(lambda: shows("available", 8.0), 20, "yet another check", worker)
        [dm] = tg.messages(ADMIN)
        assert "the Moonshot balance is ¥49.58, below the alert level of ¥100.00" in (dm.text or "")
        assert tg.messages(USER) == []
        # The check that saw 10 has logged by now (the one that saw 8 may still be at it).
        assert worker.log().count("admin alert balance-low:") >= 2
        assert "(told telegram:7)" in worker.log()
        assert "(admins were already told)" in worker.log()
    finally:
        assert await worker.stop() == 0


async def test_no_checks_when_turned_off(
    tmp_path: Path, moonshot: Any, tg: TelegramEmulator
) -> None:
    worker = await run(tmp_path, moonshot, tg, balance_alert_below=100, balance_check_every=0)
    try:
        tg.user_message(USER, USER, "hello")  # a whole turn: time enough for a check to show
        await wait_for(lambda: tg.messages(USER), 20, "the answer", worker)
        _, text = await worker.get("/metrics")
        assert "kimi_account_balance{" not in text
        assert tg.messages(ADMIN) == []
        assert "Moonshot balance:" not in worker.log()
    finally:
        assert await worker.stop() == 0
