"""Private chats: drafts while streaming, a real message at the end, memory, commands."""

from __future__ import annotations

import asyncio

import pytest

from emulators.moonshot import Fault, ScriptedReply
from tests.telegram.conftest import USER, handled, user_texts, visible

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

ANSWER = "Here is **bold**, `code` and a list:\n\n- one\n- two\n\n" + " ".join(
    f"word{i}" for i in range(60)
)


async def test_private_answer_streams_as_drafts_and_lands_as_one_message(tg, moonshot, start_bot):
    bot = await start_bot()
    moonshot.enqueue(ScriptedReply(text=ANSWER))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.02))
    tg.user_message(USER, USER, "show me formatting")
    await handled(tg, bot, 1)

    drafts = tg.drafts(USER)
    assert len(drafts) >= 2, "the answer should be previewed with several drafts"
    assert len({draft_id for draft_id, _ in drafts}) == 1, "one draft id per answer"
    assert all(text for _, text in drafts)
    messages = tg.messages(USER)
    assert len(messages) == 1
    final = messages[0]
    assert final.text.startswith("Here is bold, code and a list:\n\n• one\n• two")
    assert final.text.endswith("word59")
    kinds = {e["type"] for e in final.entities}
    assert {"bold", "code"} <= kinds
    assert final.edits == [], "the final message is sent once, complete"
    assert tg.calls_of("editMessageText") == []
    assert tg.flood_violations == []
    assert "typing" in tg.chat_actions(USER)
    private_menu = [c["command"] for c in tg.commands({"type": "all_private_chats"})]
    group_menu = [c["command"] for c in tg.commands({"type": "all_group_chats"})]
    assert {"start", "help", "reset", "model", "system", "usage", "cancel"} <= set(private_menu)
    assert {"ask", "reset", "cancel"} <= set(group_menu)


async def test_final_text_equals_the_model_answer(tg, moonshot, start_bot):
    bot = await start_bot()
    tg.user_message(USER, USER, "hello there")
    await handled(tg, bot, 1)
    assert visible(tg, USER) == ["Echo (kimi-k2): hello there"]


async def test_memory_across_messages_and_an_adapter_restart(tg, moonshot, start_bot, db_url):
    bot = await start_bot(db_url)
    tg.user_message(USER, USER, "my name is Ada")
    await handled(tg, bot, 1)
    tg.user_message(USER, USER, "what is my name?")
    await handled(tg, bot, 2)
    assert user_texts(moonshot.requests[-1]) == ["my name is Ada", "what is my name?"]
    await bot.stop()

    restarted = await start_bot(db_url)
    tg.user_message(USER, USER, "and after the restart?")
    await handled(tg, restarted, 1)
    assert user_texts(moonshot.requests[-1]) == [
        "my name is Ada",
        "what is my name?",
        "and after the restart?",
    ]
    assert visible(tg, USER)[-1] == "Echo (kimi-k2): and after the restart?"
    assert len(tg.messages(USER)) == 3


async def test_drafts_refused_falls_back_to_editing_a_message(tg, moonshot, start_bot):
    bot = await start_bot()
    tg.inject("sendMessageDraft", 400, "Bad Request: TEXTDRAFT_PEER_INVALID", times=50)
    moonshot.enqueue(ScriptedReply(text=" ".join(f"w{i}" for i in range(80))))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.01))
    tg.user_message(USER, USER, "stream please")
    await handled(tg, bot, 1)
    assert len(tg.calls_of("sendMessageDraft")) == 1, "a refused draft is not tried again"
    messages = tg.messages(USER)
    assert len(messages) == 1
    assert messages[0].text == " ".join(f"w{i}" for i in range(80))
    assert messages[0].edits, "the preview message was edited into the final text"
    assert not any("not modified" in f.description for f in tg.failures)
    assert tg.flood_violations == []

    tg.user_message(USER, USER, "again")
    await handled(tg, bot, 2)
    assert len(tg.calls_of("sendMessageDraft")) == 1, "this chat now streams by editing"


async def test_cancel_keeps_the_partial_text_and_marks_it_incomplete(tg, moonshot, start_bot):
    bot = await start_bot()
    words = " ".join(f"w{i}" for i in range(400))
    moonshot.enqueue(ScriptedReply(text=words))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.03))
    tg.user_message(USER, USER, "long please")
    await tg.wait_for(lambda: len(tg.drafts(USER)) >= 2)
    tg.user_command(USER, USER, "cancel")
    await handled(tg, bot, 2)
    messages = visible(tg, USER)
    assert len(messages) == 1
    text = messages[0]
    assert text.startswith("w0 w1 w2")
    assert text.endswith("(answer incomplete: Stopped.)")
    partial = text.split("\n\n")[0]
    assert words.startswith(partial) and len(partial) < len(words)
    await asyncio.sleep(0.3)
    assert len(moonshot.requests) == 1


async def test_commands_help_and_usage(tg, moonshot, start_bot):
    bot = await start_bot()
    tg.user_command(USER, USER, "start")
    await handled(tg, bot, 1)
    assert "/reset" in visible(tg, USER)[-1]
    tg.user_command(USER, USER, "usage")
    await handled(tg, bot, 2)
    assert "Today:" in visible(tg, USER)[-1]
    assert moonshot.requests == [], "commands make no model call"
    assert tg.calls_of("sendChatAction") == [], "no typing indicator for instant answers"
