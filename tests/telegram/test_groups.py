"""Groups, supergroups and forum topics: who the bot answers, shared memory, admin commands."""

from __future__ import annotations

import asyncio

import pytest

from core.types import ConversationKey
from tests.telegram.conftest import BOB, GROUP, USER, handled, user_texts, visible

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

CAROL = 44


def group(tg, *, bot_sees_everything: bool = False, forum: bool = False) -> None:
    tg.add_chat(GROUP, type="supergroup", title="Team", is_forum=forum)
    if bot_sees_everything:  # an admin bot gets every message despite privacy mode
        tg.set_admins(GROUP, [tg.bot_id])


async def test_mention_is_answered_in_the_group_without_the_mention(tg, moonshot, start_bot):
    group(tg)
    bot = await start_bot()
    asked = tg.user_message(GROUP, USER, "what is 2+2?", mention_bot=True)
    await handled(tg, bot, 1)
    (answer,) = tg.messages(GROUP)
    assert answer.text == "Echo (kimi-k2): Alice: what is 2+2?"
    assert answer.reply_to_message_id == asked["message"]["message_id"]
    assert user_texts(moonshot.requests[-1]) == ["Alice: what is 2+2?"]
    assert tg.calls_of("sendMessageDraft") == [], "drafts are for private chats only"


async def test_reply_to_the_bot_is_answered(tg, moonshot, start_bot):
    group(tg)
    bot = await start_bot()
    tg.user_message(GROUP, USER, "first", mention_bot=True)
    await handled(tg, bot, 1)
    bot_message = tg.messages(GROUP)[-1].message_id
    tg.user_message(GROUP, BOB, "tell me more", first_name="Bob", reply_to_message_id=bot_message)
    await handled(tg, bot, 2)
    assert visible(tg, GROUP)[-1] == "Echo (kimi-k2): Bob: tell me more"
    assert user_texts(moonshot.requests[-1]) == ["Alice: first", "Bob: tell me more"]


async def test_unaddressed_messages_are_ignored(tg, moonshot, start_bot):
    group(tg, bot_sees_everything=True)
    bot = await start_bot()
    tg.user_message(GROUP, USER, "just chatting with Bob")
    tg.user_message(GROUP, USER, "@kimi_test_bot_fan is a different account")  # not a mention of us
    tg.user_command(GROUP, USER, "help", to_bot=False, first_name="Alice")
    tg.user_message(GROUP, USER, "/help@other_bot")  # a command for another bot
    await handled(tg, bot, 4)
    assert visible(tg, GROUP) == [visible(tg, GROUP)[0]] and "/reset" in visible(tg, GROUP)[0]
    tg.user_message(GROUP, BOB, "hello", first_name="Bob", mention_bot=True)
    await handled(tg, bot, 5)
    await asyncio.sleep(0.2)
    assert len(moonshot.requests) == 1
    assert user_texts(moonshot.requests[0]) == ["Bob: hello"], "ignored chatter is not context"
    assert len(tg.messages(GROUP)) == 2


async def test_unaddressed_messages_are_remembered_with_group_context_on(tg, moonshot, start_bot):
    group(tg, bot_sees_everything=True)
    bot = await start_bot(telegram_group_context=True)
    tg.user_message(GROUP, USER, "I will bring the cake on Friday")
    await handled(tg, bot, 1)
    assert tg.messages(GROUP) == [], "context is stored, not answered"
    tg.user_message(GROUP, BOB, "who brings the cake?", first_name="Bob", mention_bot=True)
    await handled(tg, bot, 2)
    assert user_texts(moonshot.requests[-1]) == [
        "Alice: I will bring the cake on Friday",
        "Bob: who brings the cake?",
    ]


async def test_group_memory_is_shared_and_names_the_speakers(tg, moonshot, start_bot):
    group(tg)
    bot = await start_bot()
    tg.user_message(GROUP, USER, "I like green tea", mention_bot=True)
    await handled(tg, bot, 1)
    tg.user_message(
        GROUP,
        BOB,
        "what did Alice say earlier?",
        first_name="Bob",
        last_name="Stone",
        mention_bot=True,
    )
    await handled(tg, bot, 2)
    tg.user_command(GROUP, CAROL, "ask", "and what do you think?", first_name="Carol")
    await handled(tg, bot, 3)
    assert user_texts(moonshot.requests[-1]) == [
        "Alice: I like green tea",
        "Bob Stone: what did Alice say earlier?",
        "Carol: and what do you think?",
    ]
    assert len(tg.messages(GROUP)) == 3


async def test_forum_topics_keep_their_own_memory(tg, moonshot, start_bot):
    group(tg, forum=True)
    tg.set_admins(GROUP, [USER], owner_id=USER)
    bot = await start_bot()
    books = tg.add_topic(GROUP, "Books")
    films = tg.add_topic(GROUP, "Films")
    tg.user_message(GROUP, USER, "I am reading Dune", message_thread_id=books, mention_bot=True)
    await handled(tg, bot, 1)
    tg.user_message(GROUP, USER, "I watched Alien", message_thread_id=films, mention_bot=True)
    await handled(tg, bot, 2)
    assert user_texts(moonshot.requests[-1]) == ["Alice: I watched Alien"]
    tg.user_message(
        GROUP,
        BOB,
        "what is Alice reading?",
        first_name="Bob",
        message_thread_id=books,
        mention_bot=True,
    )
    await handled(tg, bot, 3)
    assert user_texts(moonshot.requests[-1]) == [
        "Alice: I am reading Dune",
        "Bob: what is Alice reading?",
    ]
    assert [m.text for m in tg.messages(GROUP, books)][-1].endswith("what is Alice reading?")
    assert len(tg.messages(GROUP, books)) == 2
    assert len(tg.messages(GROUP, films)) == 1


async def test_reset_in_a_group_is_for_admins_only(tg, moonshot, start_bot):
    group(tg)
    tg.set_admins(GROUP, [CAROL])
    bot = await start_bot()
    key = ConversationKey(platform="telegram", chat=str(GROUP))
    tg.user_message(GROUP, USER, "remember the number 7", mention_bot=True)
    await handled(tg, bot, 1)
    before = await bot.services.db.conversations.active(key)

    tg.user_command(GROUP, BOB, "reset", first_name="Bob")
    await handled(tg, bot, 2)
    assert visible(tg, GROUP)[-1] == "Only group admins can do that here."
    assert (await bot.services.db.conversations.active(key)).id == before.id

    tg.user_command(GROUP, CAROL, "reset", to_bot=True, first_name="Carol")
    await handled(tg, bot, 3)
    assert visible(tg, GROUP)[-1].startswith("Started a new conversation")
    tg.user_message(GROUP, USER, "fresh?", mention_bot=True)
    await handled(tg, bot, 4)
    assert user_texts(moonshot.requests[-1]) == ["Alice: fresh?"]
    assert len(tg.calls_of("getChatMember")) == 2, "admin status comes from Telegram"
