"""Telegram: the replied-to message is context of the turn, and edits are answered only when
ANSWER_EDITS is on. The real python-telegram-bot against the Telegram emulator, the real engine
against the Moonshot emulator; privacy mode stays on, so the bot never received the messages it
is asked about: it learns them from ``reply_to_message`` alone."""

from __future__ import annotations

import logging

import pytest

from core.types import ConversationKey
from tests.media.images import chat_requests, image, image_parts, stored_user_texts
from tests.support.requests import document_contents
from tests.telegram.conftest import BOB, GROUP, USER, handled, visible

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

OTHER_GROUP = -1005678
CAROL = 44


def last_user_text(moonshot) -> str:
    """The last user message of the last chat request, as text (image parts left out)."""
    content = [m for m in chat_requests(moonshot)[-1]["messages"] if m["role"] == "user"][-1][
        "content"
    ]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def all_user_texts(moonshot) -> str:
    return "\n".join(
        m["content"] if isinstance(m["content"], str) else str(m["content"])
        for request in chat_requests(moonshot)
        for m in request["messages"]
        if m["role"] == "user"
    )


def bob_says(tg, text: str, chat: int = GROUP) -> int:
    """Bob writes in a group; privacy mode hides it from the bot."""
    update = tg.user_message(chat, BOB, text, first_name="Bob")
    assert update in tg.hidden_updates, "the bot must not have seen it"
    return update["message"]["message_id"]


async def test_group_reply_to_another_users_text_carries_it_with_its_author(
    tg, moonshot, start_bot
):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    bobs = bob_says(tg, "The release moved to Friday.")
    tg.user_message(GROUP, USER, "is this right?", mention_bot=True, reply_to_message_id=bobs)
    await handled(tg, bot, 1)
    expected = "[Replying to Bob]\n> The release moved to Friday.\n\nis this right?"
    assert last_user_text(moonshot) == f"Alice: {expected}"
    key = ConversationKey(platform="telegram", chat=str(GROUP))
    assert await stored_user_texts(bot.services, key) == [expected], "stored as Kimi saw it"
    tg.user_message(GROUP, USER, "and why?", mention_bot=True)
    await handled(tg, bot, 2)
    history = [m for m in chat_requests(moonshot)[-1]["messages"] if m["role"] == "user"]
    assert history[0]["content"] == f"Alice: {expected}", "later turns see the quote too"


async def test_reply_to_a_document_ingests_it_into_the_groups_library(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    sent = tg.user_document(
        GROUP, BOB, b"The budget for Q3 is 42 owls.", "budget.txt", "text/plain", first_name="Bob"
    )
    assert sent in tg.hidden_updates
    tg.user_message(
        GROUP,
        USER,
        "summarize this",
        mention_bot=True,
        reply_to_message_id=sent["message"]["message_id"],
    )
    await handled(tg, bot, 1, within=30)
    request = chat_requests(moonshot)[-1]
    assert "42 owls" in document_contents(request)["budget.txt"]
    assert last_user_text(moonshot) == (
        "Alice: [Replying to Bob, with the document “budget.txt”]\n\nsummarize this"
    )
    assert any("budget.txt" in text and "#1" in text for text in visible(tg, GROUP))
    tg.user_command(GROUP, USER, "docs", to_bot=True)
    await handled(tg, bot, 2, within=30)
    assert "#1 budget.txt" in visible(tg, GROUP)[-1], "in the group's library"


async def test_reply_to_a_photo_goes_through_the_image_path(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    data = image("JPEG", (64, 48), "blue")
    sent = tg.user_photo(GROUP, BOB, data, "our logo", width=64, height=48, first_name="Bob")
    tg.user_message(
        GROUP,
        USER,
        "what colour?",
        mention_bot=True,
        reply_to_message_id=sent["message"]["message_id"],
    )
    await handled(tg, bot, 1, within=30)
    assert [url.split(";")[0] for url in image_parts(moonshot)] == ["data:image/jpeg"]
    assert last_user_text(moonshot).startswith("Alice: [Replying to Bob, with a photo]\n> our logo")


async def test_partial_quote_narrows_the_context_to_the_selected_part(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    bobs = bob_says(tg, "Tea is green. Coffee grows on trees. Water is dry.")
    tg.user_message(
        GROUP,
        USER,
        "really?",
        mention_bot=True,
        reply_to_message_id=bobs,
        quote="Water is dry.",
    )
    await handled(tg, bot, 1)
    text = last_user_text(moonshot)
    assert text == "Alice: [Replying to Bob, quoting part of it]\n> Water is dry.\n\nreally?"
    assert "Tea is green" not in all_user_texts(moonshot)


async def test_forwarded_message_keeps_its_original_author(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    shown = tg.user_forward(
        GROUP,
        BOB,
        "Deploys are frozen.",
        original_author="Carol",
        first_name="Bob",
        original_author_id=CAROL,
    )
    hidden = tg.user_forward(GROUP, BOB, "I quit.", original_author="Dan D.", first_name="Bob")
    tg.user_message(
        GROUP,
        USER,
        "since when?",
        mention_bot=True,
        reply_to_message_id=shown["message"]["message_id"],
    )
    await handled(tg, bot, 1)
    assert last_user_text(moonshot) == (
        "Alice: [Replying to Carol, forwarded by Bob]\n> Deploys are frozen.\n\nsince when?"
    )
    tg.user_message(
        GROUP, USER, "who?", mention_bot=True, reply_to_message_id=hidden["message"]["message_id"]
    )
    await handled(tg, bot, 2)
    assert last_user_text(moonshot).startswith("Alice: [Replying to Dan D., forwarded by Bob]")


async def test_private_chat_reply_to_an_earlier_message(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    first = tg.user_message(USER, USER, "Paris is the capital of Italy.")
    await handled(tg, bot, 1)
    tg.user_message(USER, USER, "hello")
    await handled(tg, bot, 2)
    tg.user_message(USER, USER, "is that true?", reply_to_message_id=first["message"]["message_id"])
    await handled(tg, bot, 3)
    assert last_user_text(moonshot) == (
        "[Replying to Alice]\n> Paris is the capital of Italy.\n\nis that true?"
    )
    assert visible(tg, USER)[-1].startswith("Echo (kimi-k2): [Replying to Alice]")


async def test_reply_to_the_bots_own_message_adds_no_quote(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    tg.user_message(GROUP, USER, "name a colour", mention_bot=True)
    await handled(tg, bot, 1)
    answer = tg.messages(GROUP)[-1].message_id
    tg.user_message(GROUP, BOB, "another one", first_name="Bob", reply_to_message_id=answer)
    await handled(tg, bot, 2)
    assert last_user_text(moonshot) == "Bob: another one"
    assert "[Replying" not in all_user_texts(moonshot)


async def test_commands_other_than_ask_get_no_quote_and_ask_does(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    bobs = bob_says(tg, "Lunch at noon.")
    tg.user_command(GROUP, USER, "help", to_bot=True, reply_to_message_id=bobs)
    await handled(tg, bot, 1)
    assert chat_requests(moonshot) == [], "/help is answered by the bot, not Kimi"
    assert "/reset" in visible(tg, GROUP)[-1]
    tg.user_command(GROUP, USER, "ask", "when?", to_bot=True, reply_to_message_id=bobs)
    await handled(tg, bot, 2)
    assert last_user_text(moonshot) == "Alice: [Replying to Bob]\n> Lunch at noon.\n\nwhen?"


async def test_another_groups_messages_never_appear(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    tg.add_chat(OTHER_GROUP, type="supergroup", title="Elsewhere")
    bot = await start_bot()
    secret = bob_says(tg, "The secret code is 9931.", chat=OTHER_GROUP)
    tg.user_message(OTHER_GROUP, USER, "remember it", mention_bot=True, reply_to_message_id=secret)
    await handled(tg, bot, 1)
    assert "9931" in last_user_text(moonshot)
    bobs = bob_says(tg, "Standup is at ten.")
    tg.user_message(GROUP, USER, "what is the code?", mention_bot=True, reply_to_message_id=bobs)
    await handled(tg, bot, 2)
    request = chat_requests(moonshot)[-1]
    assert "9931" not in str(request["messages"])
    assert last_user_text(moonshot) == (
        "Alice: [Replying to Bob]\n> Standup is at ten.\n\nwhat is the code?"
    )


async def test_edit_of_an_answered_message_is_answered_once_with_the_setting_on(
    tg, moonshot, start_bot, db_url
):
    tg.add_chat(USER, type="private")
    bot = await start_bot(db_url, answer_edits=True)  # "was it answered?" on both databases
    asked = tg.user_message(USER, USER, "what is 2+2?")
    await handled(tg, bot, 1)
    assert "edited_message" in tg.hub.allowed_updates
    edit = tg.user_edit(USER, asked["message"]["message_id"], "what is 3+3?")
    await handled(tg, bot, 2)
    assert len(chat_requests(moonshot)) == 2
    assert last_user_text(moonshot) == "what is 3+3?"
    assert visible(tg, USER)[-1] == "Echo (kimi-k2): what is 3+3?"
    tg.deliver_again(edit)  # the same update again: claimed once
    await handled(tg, bot, 3)
    assert len(chat_requests(moonshot)) == 2, "no duplicate answer"
    assert len(visible(tg, USER)) == 2


async def test_edit_of_an_unanswered_message_is_not_answered(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    tg.set_admins(GROUP, [tg.bot_id])  # the bot sees everything, answers only when addressed
    bot = await start_bot(answer_edits=True)
    chatter = tg.user_message(GROUP, USER, "just chatting")
    await handled(tg, bot, 1)
    tg.user_edit(GROUP, chatter["message"]["message_id"], "@kimi_test_bot just chatting")
    await handled(tg, bot, 2)
    assert chat_requests(moonshot) == [], "the bot never answered that message"
    assert tg.messages(GROUP) == []


async def test_edits_are_ignored_without_error_with_the_setting_off(
    tg, moonshot, start_bot, caplog
):
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    asked = tg.user_message(USER, USER, "what is 2+2?")
    await handled(tg, bot, 1)
    assert "edited_message" not in tg.hub.allowed_updates, "edits are not even asked for"
    edit = tg.user_edit(USER, asked["message"]["message_id"], "what is 3+3?")
    assert edit not in tg.pending_updates()
    with caplog.at_level(logging.WARNING):
        tg.deliver_again(edit)  # delivered anyway (as a webhook set by an older release might)
        await handled(tg, bot, 2)
    assert len(chat_requests(moonshot)) == 1
    assert len(visible(tg, USER)) == 1
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
