"""With Redis, only one worker long-polls Telegram; another takes over when it stops."""

from __future__ import annotations

import asyncio

import pytest

import bots.telegram.adapter as telegram_adapter
from tests.telegram.conftest import USER, handled, visible
from tests.telegram.conftest import start_bot as start_bot
from tests.telegram.conftest import tg as tg

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_one_poller_at_a_time_and_a_follower_takes_over(
    tg, start_bot, redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(telegram_adapter, "POLL_LEASE_SECONDS", 0.6)
    leader = await start_bot(redis_url=redis_url)
    follower = await start_bot(redis_url=redis_url)
    assert leader.adapter.app.updater.running
    assert not follower.adapter.app.updater.running, "the second worker only waits"

    tg.user_message(USER, USER, "hello")
    await handled(tg, leader, 1)
    assert visible(tg, USER) == ["Echo (kimi-k2): hello"]

    await asyncio.sleep(1.0)  # several lease periods: the follower keeps waiting
    assert not follower.adapter.app.updater.running
    assert conflicts(tg) == [], "two workers never polled at once"

    await leader.stop()  # releases the lease
    await tg.wait_for(lambda: follower.adapter.app.updater.running, timeout=5)
    tg.user_message(USER, USER, "still there?")
    await handled(tg, follower, 1)
    assert visible(tg, USER)[-1] == "Echo (kimi-k2): still there?"
    # The leader's last long poll, abandoned on the server when it stopped, ends with 409 there
    # once the follower polls; no live poller was ever told of a conflict.
    assert not [r for r in caplog.records if "polling error" in r.getMessage()]


def conflicts(tg) -> list:
    return [f for f in tg.failures if f.method == "getUpdates" and f.error_code == 409]
