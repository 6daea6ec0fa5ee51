"""A finished Telegram answer is freed at once, not left for the cycle collector."""

from __future__ import annotations

import asyncio

import pytest

from emulators.moonshot import Fault, ScriptedReply
from tests.support.garbage import cyclic_garbage
from tests.telegram.conftest import USER, handled

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_a_streamed_answer_leaves_no_reference_cycles(tg, moonshot, start_bot):
    bot = await start_bot()
    tg.user_message(USER, USER, "warm up")  # first-use caches are not garbage
    await handled(tg, bot, 1)
    with cyclic_garbage() as leftovers:
        moonshot.enqueue(ScriptedReply(text=" ".join(f"word{i}" for i in range(60))))
        moonshot.inject(Fault(kind="slow_tokens", delay=0.01))
        tg.user_message(USER, USER, "stream a long answer")
        await handled(tg, bot, 2)
        await asyncio.sleep(0.2)  # cancelled helpers (typing, previews) finish
    assert leftovers == {}
