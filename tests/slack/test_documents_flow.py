"""A file shared with the Slack bot is read by Moonshot's file-extract and answered about."""

from __future__ import annotations

from pathlib import Path

from emulators.slack import SlackEmulator
from tests.documents.samples import XLSX_MIME, sample
from tests.slack.conftest import SlackBot
from tests.support.requests import document_contents


def texts(emu: SlackEmulator, channel: str, thread: str | None = None) -> list[str]:
    return [m.text for m in emu.messages(channel, thread)]


async def check_file_in_a_thread(
    emu: SlackEmulator, bot: SlackBot, moonshot, data: bytes, marker: str
) -> None:
    file = emu.add_file("F9", "sheet.xlsx", XLSX_MIME, data, user="U1")
    sent = await emu.user_message("C1", "U1", "what is in it?", mention_bot=True, files=[file])
    await bot.idle()
    thread = texts(emu, "C1", sent.ts)
    assert any("Added “sheet.xlsx” as document #1" in t for t in thread)
    assert marker in document_contents(moonshot.requests[-1])["sheet.xlsx"]
    # Bob follows up in the same thread without a mention: the thread's library is shared.
    await emu.user_message("C1", "U2", "and the second sheet?", thread_ts=sent.ts)
    await bot.idle()
    assert "sheet.xlsx" in document_contents(moonshot.requests[-1])
    # A DM with Bob is another conversation: it does not see the thread's document.
    await emu.user_message("D2", "U2", "what documents do you have?")
    await bot.idle()
    assert document_contents(moonshot.requests[-1]) == {}


async def test_file_in_a_thread_is_shared_by_the_thread(
    emu: SlackEmulator, bot: SlackBot, moonshot
):
    made = sample("sample.xlsx")
    await check_file_in_a_thread(emu, bot, moonshot, made.data, made.marker)


async def test_real_corpus_xlsx_in_a_thread_is_shared_by_the_thread(
    corpus: Path, emu: SlackEmulator, bot: SlackBot, moonshot
):
    data = (corpus / "markitdown-test.xlsx").read_bytes()
    await check_file_in_a_thread(emu, bot, moonshot, data, "6ff4173b-42a5-4784-9b19-f49caff4d93d")


async def test_unsupported_file_gets_a_clear_reply(emu: SlackEmulator, bot: SlackBot, moonshot):
    file = emu.add_file("F10", "blob.bin", "application/octet-stream", b"\x00\x01\x02", user="U1")
    await emu.user_message("D1", "U1", "", files=[file])
    await bot.idle()
    assert any("not a format Kimi can read" in t for t in texts(emu, "D1"))
    assert moonshot.requests == []
