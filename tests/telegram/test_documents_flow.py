"""A document sent to the Telegram bot is read by Moonshot's file-extract and answered about."""

from __future__ import annotations

from pathlib import Path

from tests.documents.samples import DOCX_MIME, sample
from tests.support.requests import document_contents
from tests.telegram.conftest import USER, handled, visible


async def check_document_with_caption(tg, moonshot, start_bot, data: bytes, marker: str) -> None:
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    tg.user_document(
        USER, USER, data, "test.docx", DOCX_MIME, caption="What is this document about?"
    )
    await handled(tg, bot, 1, within=30)
    shown = visible(tg, USER)
    assert any("Added “test.docx” as document #1" in text for text in shown)
    request = moonshot.requests[-1]
    assert marker in document_contents(request)["test.docx"]
    assert request["messages"][-1]["content"] == "What is this document about?"
    assert shown[-1].startswith("Echo (kimi-k2): What is this document about?")


async def test_document_with_caption_is_answered_from_its_content(tg, moonshot, start_bot):
    made = sample("sample.docx")
    await check_document_with_caption(tg, moonshot, start_bot, made.data, made.marker)


async def test_real_corpus_docx_with_caption_is_answered_from_its_content(
    corpus: Path, tg, moonshot, start_bot
):
    data = (corpus / "markitdown-test.docx").read_bytes()
    await check_document_with_caption(
        tg, moonshot, start_bot, data, "314b0a30-5b04-470b-b9f7-eed2c2bec74a"
    )


async def test_file_alone_gets_a_summary_and_docs_lists_it(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    tg.user_document(USER, USER, b"Owls meet at dawn by the old mill.", "owls.txt", "text/plain")
    await handled(tg, bot, 1, within=30)
    assert "two sentences" in moonshot.requests[-1]["messages"][-1]["content"]
    tg.user_command(USER, USER, "/docs")
    await handled(tg, bot, 2, within=30)
    assert "#1 owls.txt" in visible(tg, USER)[-1]


async def test_empty_document_is_refused_without_a_model_call(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    tg.user_document(USER, USER, b"", "empty.txt", "text/plain")
    await handled(tg, bot, 1, within=30)
    assert "empty" in visible(tg, USER)[-1]
    assert moonshot.requests == []
