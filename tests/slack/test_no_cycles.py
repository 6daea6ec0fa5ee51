"""A finished Slack answer is freed at once, not left for the cycle collector."""

from __future__ import annotations

import asyncio

import pytest

from emulators.moonshot import Fault, ScriptedReply
from emulators.slack import SlackEmulator
from tests.slack.conftest import SlackBot
from tests.slack.test_streaming import SLOW_TEXT
from tests.support.garbage import cyclic_garbage


@pytest.mark.parametrize("native", [True, False], ids=["native stream", "post and update"])
async def test_a_streamed_answer_leaves_no_reference_cycles(
    emu: SlackEmulator, bot: SlackBot, moonshot, native: bool
) -> None:
    emu.api.config.streaming_enabled = native
    await emu.user_message("D1", "U1", "warm up")  # first-use caches are not garbage
    await bot.idle()
    with cyclic_garbage() as leftovers:
        moonshot.enqueue(ScriptedReply(text=SLOW_TEXT))
        moonshot.inject(Fault(kind="slow_tokens", delay=0.01, times=1))
        await emu.user_message("D1", "U1", "stream a long answer")
        await bot.idle()
        await asyncio.sleep(0.2)  # cancelled helpers finish
    assert [m.text for m in emu.messages("D1")][-1].endswith("word60")
    assert leftovers == {}
