"""A finished Telegram answer is freed at once, not left for the cycle collector: in a private
chat (drafts) and in a group (a message edited in place)."""

from __future__ import annotations

import asyncio

import pytest

from emulators.moonshot import Fault, ScriptedReply
from tests.support.garbage import cyclic_garbage
from tests.telegram.conftest import GROUP, USER, handled
from tests.telegram.test_groups import group

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

LONG = " ".join(f"word{i}" for i in range(60))


@pytest.mark.parametrize("chat", ["private", "group"])
async def test_a_streamed_answer_leaves_no_reference_cycles(tg, moonshot, start_bot, chat):
    in_group = chat == "group"
    if in_group:
        group(tg)
    where = GROUP if in_group else USER
    bot = await start_bot()
    tg.user_message(where, USER, "warm up", mention_bot=in_group)  # first-use caches
    await handled(tg, bot, 1)
    with cyclic_garbage() as leftovers:
        moonshot.enqueue(ScriptedReply(text=LONG))
        moonshot.inject(Fault(kind="slow_tokens", delay=0.01))
        tg.user_message(where, USER, "stream a long answer", mention_bot=in_group)
        await handled(tg, bot, 2)
        await asyncio.sleep(0.2)  # cancelled helpers (typing, previews) finish
    assert tg.messages(where)[-1].text.endswith("word59")
    assert leftovers == {}
