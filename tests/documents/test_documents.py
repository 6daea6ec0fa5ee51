"""Documents end to end: the engine, the real openai SDK's files API and the emulator's real
text extraction, on SQLite and PostgreSQL, over documents of every format made by the tests
(``samples.py``; third-party documents are in ``test_real_corpus.py``)."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from core.service import start_services
from core.types import Attachment, Author, CollectingSink, ConversationKey, Incoming
from tests.conftest import EMULATOR_KEY, make_settings
from tests.documents.samples import SAMPLE_NAMES, random_binary, sample
from tests.support.requests import document_contents

ALICE = Author(id="telegram:1", name="Alice")
BOB = Author(id="telegram:2", name="Bob")
PRIVATE = ConversationKey(platform="telegram", chat="1")
GROUP = ConversationKey(platform="telegram", chat="-100")
OTHER = ConversationKey(platform="telegram", chat="-200")

MIME = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".csv": "text/csv",
    ".md": "text/markdown",
    ".txt": "text/plain",
    ".epub": "application/epub+zip",
    ".html": "text/html",
    ".json": "application/json",
}


def attachment(name: str, data: bytes, mime: str | None = None) -> Attachment:
    async def fetch() -> bytes:
        return data

    return Attachment(
        name=name, mime_type=mime or MIME.get(Path(name).suffix, ""), size=len(data), fetch=fetch
    )


def message(
    text: str,
    *files: Attachment,
    key: ConversationKey = PRIVATE,
    author: Author = ALICE,
    group: bool = False,
) -> Incoming:
    return Incoming(key=key, author=author, text=text, is_group=group, attachments=files)


def system_texts(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "system"]


async def check_file_reaches_the_context(
    services, moonshot, file_name: str, data: bytes, marker: str
) -> None:
    sink = CollectingSink()
    outcome = await services.assistant.handle(
        message("What is in this file?", attachment(file_name, data)), sink
    )
    assert outcome is not None and outcome.status == "complete"
    assert any("as document #1" in r for r in sink.replies), sink.replies
    contents = document_contents(moonshot.requests[-1])
    assert file_name in contents
    assert marker in contents[file_name]
    # the question comes after the documents, and a later question still sees them
    assert moonshot.requests[-1]["messages"][-1]["content"] == "What is in this file?"
    await services.assistant.handle(message("And again?"), CollectingSink())
    assert marker in document_contents(moonshot.requests[-1])[file_name]


@pytest.mark.parametrize("file_name", SAMPLE_NAMES)
async def test_every_format_reaches_the_context(services, moonshot, file_name):
    made = sample(file_name)
    await check_file_reaches_the_context(services, moonshot, file_name, made.data, made.marker)


async def test_markdown_and_text_made_here(services, moonshot):
    md = b"# Plan\n\n- step one: buy **apples**\n- step two: eat them\n"
    await services.assistant.handle(
        message("steps?", attachment("plan.md", md), attachment("n.txt", b"note: 42 owls")),
        CollectingSink(),
    )
    contents = document_contents(moonshot.requests[-1])
    assert "buy **apples**" in contents["plan.md"] and "42 owls" in contents["n.txt"]


async def test_file_alone_gets_acknowledgement_and_two_sentence_summary(services, moonshot):
    sink = CollectingSink()
    await services.assistant.handle(
        message("", attachment("n.txt", b"The owls meet at dawn.")), sink
    )
    assert sink.replies[0].startswith("Added “n.txt” as document #1 (")
    assert "tokens" in sink.replies[0]
    question = moonshot.requests[-1]["messages"][-1]["content"]
    assert "two sentences" in question and "n.txt" in question
    assert sink.final is not None


async def test_same_file_twice_is_uploaded_once_and_isolated_per_conversation(services, moonshot):
    data = b"Quarterly numbers: revenue 17 million."
    group = dict(key=GROUP, group=True)
    await services.assistant.handle(
        message("hi", attachment("q.txt", data), **group), CollectingSink()
    )
    sink = CollectingSink()
    await services.assistant.handle(
        message("again", attachment("q.txt", data), author=BOB, **group), sink
    )
    assert "already document #1" in sink.replies[0]
    await services.assistant.handle(
        message("other", attachment("q-copy.txt", data), key=OTHER, group=True), CollectingSink()
    )
    assert moonshot.files.uploads == 1, "the same bytes are extracted once"
    assert len(moonshot.files) == 0, "remote files are deleted once read"
    # a third conversation without the file never sees it
    await services.assistant.handle(
        message("what numbers?", key=ConversationKey("telegram", "-300"), group=True),
        CollectingSink(),
    )
    assert document_contents(moonshot.requests[-1]) == {}
    listing = CollectingSink()
    await services.assistant.handle(message("/docs", **group), listing)
    assert "#1 q.txt" in listing.replies[0] and "Alice" in listing.replies[0]
    other = CollectingSink()
    await services.assistant.handle(message("/docs", key=OTHER, group=True), other)
    assert "q-copy.txt" in other.replies[0] and "q.txt —" not in other.replies[0]


async def test_forget_removes_from_context(services, moonshot):
    await services.assistant.handle(
        message("x", attachment("a.txt", b"alpha text"), attachment("b.txt", b"beta text")),
        CollectingSink(),
    )
    sink = CollectingSink()
    await services.assistant.handle(message("/forget 1"), sink)
    assert sink.replies == ["Removed document #1 from this conversation."]
    await services.assistant.handle(message("now?"), CollectingSink())
    assert set(document_contents(moonshot.requests[-1])) == {"b.txt"}
    await services.assistant.handle(message("/forget 7"), sink)
    assert "no document #7" in sink.replies[-1]
    await services.assistant.handle(message("/forget all"), sink)
    await services.assistant.handle(message("and now?"), CollectingSink())
    assert document_contents(moonshot.requests[-1]) == {}


async def test_empty_unsupported_and_unreadable_files_are_answered_clearly(services, moonshot):
    sink = CollectingSink()
    await services.assistant.handle(message("", attachment("empty.txt", b"")), sink)
    assert "empty" in sink.replies[0] and "0 bytes" in sink.replies[0]
    await services.assistant.handle(
        message("", attachment("random.bin", random_binary(), "application/octet-stream")), sink
    )
    assert "not a format Kimi can read" in sink.replies[-1]
    assert moonshot.requests == [], "no model call for files that were refused"
    await services.assistant.handle(
        message("read it", attachment("broken.pdf", b"%PDF-1.7 junk")), sink
    )
    assert "could not read “broken.pdf”" in sink.replies[-1]
    ok = CollectingSink()
    await services.assistant.handle(message("still there?"), ok)
    assert ok.final is not None, "the conversation keeps working"


async def test_switches_up_to_a_larger_window_and_says_so_once(services, moonshot):
    await services.assistant.handle(message("/model moonshot-v1-8k"), CollectingSink())
    big = ("Owls are birds. " * 4000).encode()  # ~16K tokens: over 8K, under 32K
    sink = CollectingSink()
    await services.assistant.handle(message("about owls?", attachment("owls.txt", big)), sink)
    assert moonshot.requests[-1]["model"] == "moonshot-v1-32k"
    assert any("using moonshot-v1-32k" in r for r in sink.replies)
    again = CollectingSink()
    await services.assistant.handle(message("more?"), again)
    assert moonshot.requests[-1]["model"] == "moonshot-v1-32k"
    assert not any("using moonshot-v1-32k" in r for r in again.replies), "said once"


async def test_larger_than_every_window_answers_from_relevant_sections(services, moonshot):
    words = ["river", "stone", "maple", "cloud", "amber", "delta", "orbit", "willow", "harbor"]
    filler = []
    for i in range(20000):  # ~400K tokens: over the largest built-in window (256K)
        filler.append(" ".join(words[(i + j) % len(words)] for j in range(12)) + f" line {i}.")
        if i % 6 == 5:
            filler.append("")
    needle = "The secret launch code for project Nightingale is PLUM-4729."
    filler.insert(len(filler) // 2, needle)
    data = "\n".join(filler).encode()
    sink = CollectingSink()
    await services.assistant.handle(
        message("What is the secret launch code of Nightingale?", attachment("huge.txt", data)),
        sink,
    )
    request = moonshot.requests[-1]
    catalog = services.assistant.catalog
    used = catalog.get(request["model"])
    assert used.context_window == max(m.context_window for m in catalog), "the largest window"
    assert not used.thinking and not used.vision, "of the same kind as kimi-k2"
    assert document_contents(request) == {}, "the whole document cannot be sent"
    joined = "\n".join(system_texts(request))
    assert "PLUM-4729" in joined
    assert "Sources" in (sink.final or "") and "huge.txt: section" in sink.final


async def test_quota_full_cleans_our_leftovers_and_retries(db_url, tmp_path):
    from emulators.moonshot import MoonshotEmulator

    emulator = MoonshotEmulator(api_key=EMULATOR_KEY, enforce_limits=False, max_files=2)
    await emulator.start(host="127.0.0.1", port=0)
    services = await start_services(make_settings(emulator.base_url, db_url))
    try:
        sdk = openai.AsyncOpenAI(api_key=EMULATOR_KEY, base_url=emulator.base_url, max_retries=0)
        await sdk.files.create(file=("kimi-bot-left.txt", b"left over"), purpose="file-extract")
        await sdk.files.create(file=("other-app.txt", b"not ours"), purpose="file-extract")
        await sdk.close()
        sink = CollectingSink()
        await services.assistant.handle(
            message("q", attachment("fresh.txt", b"fresh content"), key=ConversationKey("t", "q")),
            sink,
        )
        assert "Added “fresh.txt”" in sink.replies[0]
        names = [f.filename for f in emulator.files.all()]
        assert names == ["other-app.txt"], "only our own leftover was deleted"
    finally:
        await services.close()
        await emulator.stop()
