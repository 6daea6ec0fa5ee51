"""Command replies and document refusals in the user's language (SQLite and PostgreSQL)."""

from __future__ import annotations

from core import command_registry, texts
from core.types import Attachment, Author, CollectingSink, ConversationKey, Incoming

KEY = ConversationKey(platform="web", chat="languages")
AUTHOR = Author(id="web:languages")


async def replies(services, text: str, *, language: str = "", files=()) -> list[str]:  # type: ignore[no-untyped-def]
    sink = CollectingSink()
    message = Incoming(KEY, AUTHOR, text, attachments=tuple(files), language=language)
    await services.assistant.handle(message, sink)
    return sink.replies


async def test_a_chinese_user_gets_chinese_replies_to_commands(services, moonshot):
    zh_docs = texts.text("docs_none", "zh")
    assert await replies(services, "/docs", language="zh") == [zh_docs]
    assert await replies(services, "/docs 有哪些文档？") == [zh_docs], "Chinese words decide"
    assert await replies(services, "/forget all", language="zh") == [
        texts.text("forget_none", "zh")
    ]
    assert await replies(services, "/help", language="zh") == [command_registry.help_text("zh")]
    [unknown] = await replies(services, "/frobnicate", language="zh")
    assert texts.is_chinese(unknown) and "/frobnicate" in unknown
    # Without a language from the platform, a bare command is answered in English, as before.
    assert await replies(services, "/forget all") == [
        "There are no documents in this conversation to remove."
    ]
    assert moonshot.requests == []


async def test_a_refused_document_is_explained_in_chinese(services, moonshot):
    async def fetch() -> bytes:
        return b"MZ\x90\x00"

    program = Attachment("setup.exe", "application/x-msdownload", 4, fetch)
    shown = await replies(services, "这个文件里有什么？", files=[program])
    assert shown[0] == texts.text("doc_format", "zh", name="setup.exe")
    assert "setup.exe" in shown[0] and texts.is_chinese(shown[0])
    assert moonshot.requests == []
