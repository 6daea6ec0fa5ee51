"""The Telegram emulator, driven by the real python-telegram-bot over real HTTP.

Each test checks one Bot API behaviour our bot depends on, so a wrong emulator shows up here
rather than as a bot bug that real Telegram would never cause (or would cause but we hid).
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters
from telegram.warnings import PTBDeprecationWarning

from emulators.telegram import TelegramEmulator, parse_html

# PTB warns on every RetryAfter.retry_after read (int today, timedelta later); retry_seconds()
# handles both, so the library's notice is noise here.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123:ABC"
USER = 42
GROUP = -1001234


def retry_seconds(error: RetryAfter) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB settings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def make_bot(emu: TelegramEmulator, token: str = TOKEN) -> Bot:
    return Bot(token, base_url=f"{emu.url}/bot", base_file_url=f"{emu.url}/file/bot")


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(token=TOKEN, bot_username="kimi_test_bot")
    await emulator.start()
    emulator.add_chat(USER, type="private")
    emulator.add_chat(GROUP, type="supergroup", title="Team")
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    async with make_bot(emu) as real_bot:
        yield real_bot


# -- identity and auth -------------------------------------------------------------------------
async def test_get_me_reports_the_bot_from_the_token(bot: Bot, emu: TelegramEmulator) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123, "kimi_test_bot", True)
    assert me.can_read_all_group_messages is False  # privacy mode on, like a fresh bot
    assert emu.calls_of("getMe")


async def test_wrong_token_is_refused(emu: TelegramEmulator) -> None:
    with pytest.raises(InvalidToken):
        async with make_bot(emu, token="999:WRONG"):
            pass
    assert emu.failures[-1].error_code == 401


async def test_unknown_method_is_404(bot: Bot) -> None:
    with pytest.raises(Exception, match="not found"):
        await bot.do_api_request("noSuchMethod", api_kwargs={"x": 1})


# -- updates -----------------------------------------------------------------------------------
async def test_offset_confirms_earlier_updates(bot: Bot, emu: TelegramEmulator) -> None:
    first = emu.user_message(USER, USER, "one")
    second = emu.user_message(USER, USER, "two")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first["update_id"], second["update_id"]]
    assert [u.message.text for u in updates] == ["one", "two"]
    # Not confirmed yet: asking again returns the same updates.
    assert len(await bot.get_updates()) == 2
    assert await bot.get_updates(offset=second["update_id"] + 1) == ()
    assert emu.pending_updates() == []


async def test_long_poll_returns_as_soon_as_a_message_arrives(
    bot: Bot, emu: TelegramEmulator
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()  # it is waiting, not returning empty at once
    emu.user_message(USER, USER, "ping")
    updates = await asyncio.wait_for(poll, 3)
    assert [u.message.text for u in updates] == ["ping"]
    assert time.monotonic() - started < 2


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9


async def test_get_updates_conflicts_with_a_webhook(bot: Bot) -> None:
    await bot.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()


async def test_overlapping_long_polls_conflict(bot: Bot, emu: TelegramEmulator) -> None:
    # Two bot instances (one PTB Bot has a single getUpdates connection).
    async with make_bot(emu) as second_instance:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.2)
        second = asyncio.create_task(second_instance.get_updates(timeout=5))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(first, 3)
        emu.user_message(USER, USER, "for the newer poll")
        updates = await asyncio.wait_for(second, 3)
    assert [u.message.text for u in updates] == ["for the newer poll"]


async def test_duplicate_delivery_repeats_the_update_id(bot: Bot, emu: TelegramEmulator) -> None:
    update = emu.user_message(USER, USER, "once")
    (first,) = await bot.get_updates()
    await bot.get_updates(offset=first.update_id + 1)
    emu.deliver_again(update)
    (again,) = await bot.get_updates(offset=first.update_id + 1)
    assert again.update_id == first.update_id
    assert again.message.text == "once"


async def test_group_privacy_mode_delivers_only_mentions(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_message(GROUP, 7, "just chatting")
    emu.user_message(GROUP, 7, "what is 2+2?", mention_bot=True)
    (update,) = await bot.get_updates()
    message = update.message
    assert message.text == "@kimi_test_bot what is 2+2?"
    mention = message.entities[0]
    assert (mention.type, mention.offset, mention.length) == ("mention", 0, 14)
    assert [u["message"]["text"] for u in emu.hidden_updates] == ["just chatting"]


async def test_user_command_carries_a_bot_command_entity(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_command(USER, USER, "/reset", args="all")
    (update,) = await bot.get_updates()
    assert update.message.text == "/reset all"
    assert update.message.parse_entities(["bot_command"]) == {update.message.entities[0]: "/reset"}


async def test_application_polling_end_to_end(emu: TelegramEmulator) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"echo: {update.message.text}")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{emu.url}/bot")
        .base_file_url(f"{emu.url}/file/bot")
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=2)
        await app.start()
        emu.user_message(USER, USER, "hi")
        await emu.wait_for(lambda: emu.messages(USER), timeout=5)
        await app.updater.stop()
        await app.stop()
    (reply,) = emu.messages(USER)
    assert reply.text == "echo: hi"
    # PTB confirmed the update when it stopped, so nothing would be delivered twice.
    assert emu.pending_updates() == []


# -- sending and formatting --------------------------------------------------------------------
async def test_html_message_is_stored_as_visible_text(bot: Bot, emu: TelegramEmulator) -> None:
    sent = await bot.send_message(
        USER, "<b>Bold</b> &lt;tag&gt; <a href='https://x.org'>link</a>", parse_mode="HTML"
    )
    assert sent.text == "Bold <tag> link"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 4),
        ("text_link", 11, 4),
    ]
    (stored,) = emu.messages(USER)
    assert (stored.message_id, stored.text, stored.parse_mode) == (
        sent.message_id,
        "Bold <tag> link",
        "HTML",
    )
    assert sent.from_user.id == 123 and sent.from_user.is_bot


@pytest.mark.parametrize(
    "html",
    ["line<br>break", "<b>never closed", "<b>bad</i>", "1 < 2 <x", "<span>no class</span>"],
)
async def test_invalid_html_is_refused(bot: Bot, emu: TelegramEmulator, html: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(USER, html, parse_mode="HTML")
    assert emu.messages(USER) == []


def test_html_parser_matches_telegram_details() -> None:
    text, entities = parse_html(
        '<pre><code class="language-python">x = 1</code></pre> &amp &#128512; &nbsp;'
    )
    assert text == "x = 1 & \U0001f600 &nbsp;"
    assert entities == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]


async def test_length_limit_counts_visible_text(bot: Bot, emu: TelegramEmulator) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "a" * 4097)
    # 4096 visible characters pass although the HTML source is longer.
    await bot.send_message(USER, "<b>" + "&lt;" * 4096 + "</b>", parse_mode="HTML")
    # Emoji outside the BMP count twice, as UTF-16 does.
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "\U0001f600" * 2049)
    assert [len(m.text) for m in emu.messages(USER)] == [4096]


async def test_empty_text_is_refused(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(USER, "  \n ")
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(USER, "<b></b>", parse_mode="HTML")


async def test_reply_and_thread_are_recorded(bot: Bot, emu: TelegramEmulator) -> None:
    emu.add_chat(GROUP, type="supergroup", title="Forum", is_forum=True)
    topic = emu.add_topic(GROUP, "Questions")
    question = emu.user_message(GROUP, 7, "q?", message_thread_id=topic, mention_bot=True)
    question_id = question["message"]["message_id"]
    sent = await bot.send_message(
        GROUP,
        "answer",
        message_thread_id=topic,
        reply_parameters=ReplyParameters(message_id=question_id),
    )
    assert sent.message_thread_id == topic and sent.is_topic_message
    assert sent.reply_to_message.message_id == question_id
    assert [m.text for m in emu.messages(GROUP, thread_id=topic)] == ["answer"]
    assert emu.messages(GROUP, thread_id=topic + 100) == []
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(GROUP, "x", reply_parameters=ReplyParameters(message_id=999))


# -- edits and deletes -------------------------------------------------------------------------
async def test_edit_rules(bot: Bot, emu: TelegramEmulator) -> None:
    sent = await bot.send_message(USER, "<b>draft</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("<b>draft</b>", USER, sent.message_id, parse_mode="HTML")
    # Same visible text but different formatting is a real change.
    await bot.edit_message_text("draft", USER, sent.message_id)
    edited = await bot.edit_message_text("final", USER, sent.message_id)
    assert edited.text == "final" and edited.edit_date is not None
    (stored,) = emu.messages(USER)
    assert stored.text == "final"
    assert stored.edits == ["draft", "final"]
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", USER, 9999)


async def test_delete_marks_the_message(bot: Bot, emu: TelegramEmulator) -> None:
    sent = await bot.send_message(USER, "bye")
    assert await bot.delete_message(USER, sent.message_id) is True
    assert emu.messages(USER)[0].deleted is True
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(USER, sent.message_id)


# -- faults and flood control ------------------------------------------------------------------
async def test_injected_429_becomes_retry_after(bot: Bot, emu: TelegramEmulator) -> None:
    emu.inject("sendMessage", error_code=429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "x")
    assert retry_seconds(caught.value) == 7
    # Only the next call fails, and an injected fault is not a flood violation of the bot.
    await bot.send_message(USER, "x")
    assert emu.flood_violations == []


async def test_injected_network_drop_and_server_error(bot: Bot, emu: TelegramEmulator) -> None:
    emu.inject("sendChatAction", kind="network")
    with pytest.raises(NetworkError):
        await bot.send_chat_action(USER, "typing")
    emu.inject("sendChatAction", error_code=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_chat_action(USER, "typing")
    assert await bot.send_chat_action(USER, "typing") is True
    assert emu.chat_actions(USER) == ["typing"]


async def test_sending_too_fast_in_a_private_chat_is_flood(bot: Bot, emu: TelegramEmulator) -> None:
    for i in range(3):  # the burst allowance
        await bot.send_message(USER, f"m{i}")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "one too many")
    assert retry_seconds(caught.value) >= 1
    assert len(emu.flood_violations) == 1
    # Ignoring retry_after is refused again and recorded.
    with pytest.raises(RetryAfter):
        await bot.edit_message_text("edited", USER, emu.messages(USER)[0].message_id)
    assert len(emu.flood_violations) == 2
    assert "retry_after" in emu.flood_violations[1]


async def test_group_minute_limit() -> None:
    emulator = TelegramEmulator(
        token=TOKEN, chat_burst=100, chat_per_second=100, group_per_minute=3
    )
    await emulator.start()
    try:
        emulator.add_chat(GROUP, type="supergroup", title="Team")
        async with make_bot(emulator) as real_bot:
            for i in range(3):
                await real_bot.send_message(GROUP, f"m{i}")
            with pytest.raises(RetryAfter) as caught:
                await real_bot.send_message(GROUP, "fourth")
        assert 55 <= retry_seconds(caught.value) <= 60
        assert "per minute" in emulator.flood_violations[0]
    finally:
        await emulator.stop()


# -- drafts ------------------------------------------------------------------------------------
async def test_drafts_only_in_private_chats(bot: Bot, emu: TelegramEmulator) -> None:
    assert await bot.send_message_draft(USER, draft_id=5, text="<i>thinking</i>", parse_mode="HTML")
    assert emu.drafts(USER) == [(5, "thinking")]
    with pytest.raises(BadRequest, match=r"(?i)TEXTDRAFT_PEER_INVALID"):
        await bot.send_message_draft(GROUP, draft_id=5, text="nope")
    assert emu.drafts(GROUP) == []


async def test_drafts_far_too_fast_are_limited(bot: Bot, emu: TelegramEmulator) -> None:
    with pytest.raises(RetryAfter):
        for i in range(10):
            await bot.send_message_draft(USER, draft_id=1, text=f"part {i}")
    assert emu.flood_violations and "sendMessageDraft" in emu.flood_violations[0]


# -- files -------------------------------------------------------------------------------------
async def test_get_file_and_download(bot: Bot, emu: TelegramEmulator) -> None:
    payload = b"%PDF-1.4 fake pdf bytes"
    emu.user_document(USER, USER, payload, "report.pdf", "application/pdf", caption="read this")
    (update,) = await bot.get_updates()
    document = update.message.document
    assert (document.file_name, document.file_size, update.message.caption) == (
        "report.pdf",
        len(payload),
        "read this",
    )
    file = await document.get_file()
    assert file.file_path.endswith(".pdf")
    assert bytes(await file.download_as_bytearray()) == payload


async def test_photo_largest_size_is_the_original(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_photo(USER, USER, b"\xff\xd8 jpeg body")
    (update,) = await bot.get_updates()
    thumbnail, original = update.message.photo
    assert original.width > thumbnail.width
    assert bytes(await (await original.get_file()).download_as_bytearray()) == b"\xff\xd8 jpeg body"
    thumb_bytes = bytes(await (await thumbnail.get_file()).download_as_bytearray())
    assert thumb_bytes != b"\xff\xd8 jpeg body"


async def test_files_over_20_mb_cannot_be_fetched(bot: Bot, emu: TelegramEmulator) -> None:
    emu.user_document(USER, USER, b"small", "big.zip", "application/zip", file_size=21 * 2**20)
    (update,) = await bot.get_updates()
    assert update.message.document.file_size == 21 * 2**20
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await update.message.document.get_file()


async def test_send_document_upload(bot: Bot, emu: TelegramEmulator) -> None:
    sent = await bot.send_document(
        USER, b"col1,col2\n", filename="t.csv", caption="<b>t</b>", parse_mode="HTML"
    )
    assert sent.document.file_name == "t.csv" and sent.caption == "t"
    (stored,) = emu.messages(USER)
    assert (stored.kind, stored.data) == ("document", b"col1,col2\n")


# -- webhook -----------------------------------------------------------------------------------
async def test_webhook_posts_updates_with_the_secret(bot: Bot, emu: TelegramEmulator) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []
    statuses = [500, 200]

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return web.Response(status=statuses.pop(0) if statuses else 200)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        assert await bot.set_webhook(f"http://{host}:{port}/hook", secret_token="s3cret-token")
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook")
        update = emu.user_message(USER, USER, "via webhook")
        await emu.wait_for(lambda: len(received) >= 2, timeout=5)
        await emu.wait_for(lambda: not emu.pending_updates(), timeout=5)
        # The first attempt got 500, so Telegram retried the same update.
        assert [body["update_id"] for body, _ in received] == [update["update_id"]] * 2
        assert {secret for _, secret in received} == {"s3cret-token"}
        assert received[0][0]["message"]["text"] == "via webhook"
        assert [a.status for a in emu.webhook_attempts] == [500, 200]
        assert (await bot.get_webhook_info()).last_error_message
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
    finally:
        await runner.cleanup()


async def test_button_press_and_blocked_user(bot: Bot, emu: TelegramEmulator) -> None:
    sent = await bot.send_message(USER, "pick")
    emu.user_callback(USER, USER, sent.message_id, "choice:1")
    (update,) = await bot.get_updates()
    assert update.callback_query.data == "choice:1"
    assert update.callback_query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(update.callback_query.id)
    emu.block_bot(USER)
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(USER, "still there?")


# -- commands and members ----------------------------------------------------------------------
async def test_commands_are_kept_per_scope(bot: Bot, emu: TelegramEmulator) -> None:
    scope = BotCommandScopeChat(GROUP)
    await bot.set_my_commands([BotCommand("reset", "Forget the conversation")], scope=scope)
    assert [c.command for c in await bot.get_my_commands(scope=scope)] == ["reset"]
    assert await bot.get_my_commands() == ()
    assert emu.commands({"type": "chat", "chat_id": GROUP})[0]["command"] == "reset"
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    await bot.delete_my_commands(scope=scope)
    assert await bot.get_my_commands(scope=scope) == ()


async def test_admins_are_visible_to_the_bot(bot: Bot, emu: TelegramEmulator) -> None:
    emu.set_admins(GROUP, [7])
    emu.user_message(GROUP, 8, "hello", first_name="Bob", mention_bot=True)
    assert (await bot.get_chat_member(GROUP, 7)).status == "administrator"
    assert (await bot.get_chat_member(GROUP, 8)).status == "member"
    admins = await bot.get_chat_administrators(GROUP)
    assert [a.user.id for a in admins] == [7]
    with pytest.raises(BadRequest):
        await bot.get_chat_administrators(USER)
