"""The web chat's command hints come from the registry, in the browser's language, and so do
the replies to bare commands."""

from __future__ import annotations

import re

from core import command_registry, texts
from tests.web.conftest import send, texts_of

CHINESE_BROWSER = "zh-CN,zh;q=0.9,en;q=0.8"


async def session_commands(client) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    async with client.get("/api/session") as response:
        return (await response.json())["commands"]


async def test_the_hints_are_the_registry_in_the_browsers_language(web_chat):
    async with web_chat() as chat:
        english, chinese = chat.browser(), chat.browser()
        chinese.headers["Accept-Language"] = CHINESE_BROWSER
        for client in (english, chinese):
            await client.get("/")
        assert await session_commands(english) == command_registry.hints("en")
        assert await session_commands(chinese) == command_registry.hints("zh")

        _, events = await send(english, "/help")
        [shown] = texts_of(events, "reply")
        listed = re.findall(r"^/(\w+)", shown, flags=re.MULTILINE)
        assert listed == [hint["name"] for hint in await session_commands(english)]


async def test_a_chinese_browser_gets_chinese_replies_to_bare_commands(web_chat, moonshot):
    async with web_chat() as chat:
        client = chat.browser()
        client.headers["Accept-Language"] = CHINESE_BROWSER
        await client.get("/")
        _, events = await send(client, "/docs")
        assert texts_of(events, "reply") == [texts.text("docs_none", "zh")]
        _, events = await send(client, "/forget all")
        assert texts_of(events, "reply") == [texts.text("forget_none", "zh")]
        _, events = await send(client, "这是什么文件？", files=[("run.exe", b"MZ\x90", "")])
        assert texts_of(events, "reply") == [texts.text("doc_format", "zh", name="run.exe")]
        assert moonshot.requests == []
