"""How updates arrive and who may use the bot: webhook secret, duplicates, access, errors, files."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import aiohttp
import pytest

from bots.http import HttpServer, build_app
from bots.telegram.webhook import derive_secret
from emulators.moonshot import Fault
from tests.telegram.conftest import TOKEN, USER, handled, visible

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def webhook_bot(tg, start_bot):
    """The adapter in webhook mode behind our own HTTP server, as ``kimi-bot run`` mounts it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    bot = await start_bot(telegram_webhook_url=url, telegram_webhook_secret="s3cret-Token_1")
    server = HttpServer(build_app(bot.services.db, bot.adapter.routes()), "127.0.0.1", port)
    await server.start()
    yield bot, url
    await server.stop()


async def test_webhook_mode_processes_updates_sent_with_the_secret(tg, moonshot, webhook_bot):
    bot, url = webhook_bot
    assert tg.hub.webhook is not None and tg.hub.webhook.url == url
    assert tg.hub.webhook.secret_token == "s3cret-Token_1"
    assert bot.adapter.app.updater is None, "no getUpdates polling in webhook mode"
    tg.user_message(USER, USER, "via webhook")
    await handled(tg, bot, 1)
    assert visible(tg, USER) == ["Echo (kimi-k2): via webhook"]
    assert tg.webhook_attempts[0].status == 200 and tg.webhook_attempts[0].secret_sent
    assert tg.calls_of("getUpdates") == []


@pytest.mark.parametrize("secret", [None, "wrong-secret"], ids=["missing", "wrong"])
async def test_webhook_requests_without_the_secret_are_refused(tg, moonshot, webhook_bot, secret):
    bot, url = webhook_bot
    update: dict[str, Any] = {
        "update_id": 555,
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "chat": {"id": USER, "type": "private", "first_name": "Mallory"},
            "from": {"id": USER, "is_bot": False, "first_name": "Mallory"},
            "text": "answer me anyway",
        },
    }
    tg.add_chat(USER)
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=update, headers=headers) as response:
            assert response.status == 403
    await asyncio.sleep(0.3)
    assert bot.processed == 0
    assert moonshot.requests == []
    assert tg.messages(USER) == []


async def test_webhook_secret_derives_from_the_token_when_unset(tg, start_bot):
    port = free_port()
    await start_bot(telegram_webhook_url=f"http://127.0.0.1:{port}")
    assert tg.hub.webhook.url == f"http://127.0.0.1:{port}/telegram/webhook"
    assert tg.hub.webhook.secret_token == derive_secret(TOKEN)
    assert TOKEN.split(":")[1] not in derive_secret(TOKEN)


async def test_a_duplicate_update_is_answered_once(tg, moonshot, start_bot):
    bot = await start_bot()
    update = tg.user_message(USER, USER, "only once")
    await handled(tg, bot, 1)
    tg.deliver_again(update)
    await handled(tg, bot, 2)
    assert len(moonshot.requests) == 1
    assert visible(tg, USER) == ["Echo (kimi-k2): only once"]


async def test_allow_list_refuses_politely_without_a_model_call(tg, moonshot, start_bot):
    bot = await start_bot(allowed_users="telegram:999")
    tg.user_message(USER, USER, "let me in")
    await handled(tg, bot, 1)
    assert visible(tg, USER) == ["Sorry, this bot is private. Ask its operator for access."]
    assert moonshot.requests == []
    assert tg.calls_of("sendChatAction") == [], "no typing for someone who gets refused"


async def test_allowed_user_is_answered(tg, moonshot, start_bot):
    bot = await start_bot(allowed_users=f"telegram:{USER}")
    tg.user_message(USER, USER, "I am on the list")
    await handled(tg, bot, 1)
    assert visible(tg, USER) == ["Echo (kimi-k2): I am on the list"]


async def test_chinese_user_gets_the_chinese_error_text(tg, moonshot, start_bot):
    bot = await start_bot()
    moonshot.inject(Fault(kind="auth", times=5))
    tg.user_message(USER, USER, "你好，请介绍一下你自己")
    await handled(tg, bot, 1)
    assert visible(tg, USER) == ["机器人的 Moonshot API 密钥无效，请联系机器人管理员。"]


async def test_an_exception_in_the_handler_ends_with_a_message(tg, moonshot, start_bot, caplog):
    caplog.set_level(logging.DEBUG, logger="bots.telegram")
    bot = await start_bot()

    async def broken(incoming, sink):
        raise RuntimeError("boom")

    bot.services.assistant.handle = broken
    tg.user_message(USER, USER, "anything")
    await handled(tg, bot, 1)
    assert visible(tg, USER) == [
        "Something went wrong on our side. The operator has been told; please try again."
    ]
    ours = [r for r in caplog.records if r.name.startswith("bots.telegram")]
    assert any("RuntimeError: boom" in r.getMessage() for r in ours)
    assert not any(TOKEN.split(":")[1] in r.getMessage() for r in ours), "never log the token"


# -- files ------------------------------------------------------------------------------------
def spy_on_engine(bot) -> list[tuple[Any, bytes | None]]:
    """Record what reaches Engine.handle, downloading each attachment like the core would."""
    seen: list[tuple[Any, bytes | None]] = []
    engine = bot.services.assistant
    original = engine.handle

    async def handle(incoming, sink):
        data = await incoming.attachments[0].fetch() if incoming.attachments else None
        seen.append((incoming, data))
        return await original(incoming, sink)

    engine.handle = handle
    return seen


async def test_a_document_reaches_the_engine_with_its_bytes(tg, moonshot, start_bot):
    bot = await start_bot()
    seen = spy_on_engine(bot)
    data = b"%PDF-1.4 pretend\x00\xff" + bytes(range(256)) * 40
    tg.user_document(USER, USER, data, "report.pdf", "application/pdf", caption="summarize this")
    await handled(tg, bot, 1)
    ((incoming, fetched),) = seen
    assert incoming.text == "summarize this"
    (attachment,) = incoming.attachments
    assert (attachment.name, attachment.mime_type, attachment.size) == (
        "report.pdf",
        "application/pdf",
        len(data),
    )
    assert fetched == data
    assert len(tg.calls_of("getFile")) == 1, "downloaded once, however often it is fetched"
    assert tg.messages(USER), "the caption is answered"


async def test_a_photo_reaches_the_engine_as_the_largest_size(tg, moonshot, start_bot):
    bot = await start_bot()
    seen = spy_on_engine(bot)
    data = b"\xff\xd8\xff\xe0 jpeg bytes" * 100
    tg.user_photo(USER, USER, data, caption="what is in the picture?")
    await handled(tg, bot, 1)
    ((incoming, fetched),) = seen
    (attachment,) = incoming.attachments
    assert attachment.name.startswith("photo_") and attachment.name.endswith(".jpg")
    assert attachment.mime_type == "image/jpeg" and attachment.size == len(data)
    assert fetched == data


async def test_a_file_over_20_mb_is_refused_without_downloading(tg, moonshot, start_bot):
    bot = await start_bot()
    seen = spy_on_engine(bot)
    tg.user_document(
        USER,
        USER,
        b"tiny",
        "huge.zip",
        "application/zip",
        caption="read this",
        file_size=25 * 1024 * 1024,
    )
    await handled(tg, bot, 1)
    (reply,) = visible(tg, USER)
    assert "huge.zip" in reply and "20 MB" in reply and "25.0 MB" in reply
    assert tg.calls_of("getFile") == []
    assert seen == [] and moonshot.requests == []


async def test_a_rejected_token_stops_start_up_without_printing_it(tg, moonshot, sqlite_url):
    from bots.telegram import TelegramAdapter
    from core.config import ConfigError
    from core.service import start_services
    from tests.conftest import make_settings

    wrong = "123456:WRONG-SECRET-PART"
    services = await start_services(
        make_settings(
            moonshot.base_url, sqlite_url, telegram_bot_token=wrong, telegram_api_url=tg.url
        )
    )
    try:
        with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN") as raised:
            await TelegramAdapter(services).start()
        assert "WRONG-SECRET-PART" not in str(raised.value)
    finally:
        await services.close()
