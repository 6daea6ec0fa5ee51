"""Images end to end: the assistant with the real openai SDK against the Moonshot emulator, on
SQLite and PostgreSQL, with images made here by Pillow. What reaches the model is checked by
decoding the data URL of each image part and comparing its sha256 with the bytes sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core import texts
from core.service import Services, start_services
from core.types import Author, CollectingSink, ConversationKey, Incoming
from emulators.moonshot import MoonshotEmulator
from tests.conftest import EMULATOR_KEY, make_settings
from tests.images.samples import (
    animated_gif,
    image,
    image_parts,
    sha,
    still,
    system_texts,
)
from tests.support.database import clean_database

ALICE = Author(id="telegram:1", name="Alice")
PRIVATE = ConversationKey(platform="telegram", chat="1")
SWITCH = "cannot see images, so I'm using"


def message(text: str, *files, key: ConversationKey = PRIVATE) -> Incoming:
    return Incoming(key=key, author=ALICE, text=text, attachments=tuple(files))


async def ask(services: Services, text: str, *files) -> CollectingSink:
    sink = CollectingSink()
    await services.assistant.handle(message(text, *files), sink)
    return sink


async def stored_user_messages(services: Services) -> list[tuple[str, str]]:
    conversation = await services.db.conversations.active(PRIVATE)
    assert conversation is not None
    page = await services.db.messages.page(conversation.id, before_id=None, limit=50)
    return [(m.content, m.status) for m in reversed(page) if m.role == "user"]


@pytest.mark.parametrize(
    ("fmt", "subtype", "mime"),
    [("PNG", "png", "image/png"), ("JPEG", "jpeg", "image/jpeg"), ("WEBP", "webp", "image/webp")],
)
async def test_image_reaches_a_vision_model_byte_for_byte(services, moonshot, fmt, subtype, mime):
    data = still(fmt, colour="blue")
    photo, _ = image(f"photo.{subtype}", data, mime, kind="")  # decided by its MIME type
    sink = await ask(services, "What colour is it?", photo)
    assert sink.final is not None and "I saw 1 image" in sink.final, sink.final
    request = moonshot.requests[-1]
    assert services.settings.catalog.get(request["model"]).vision
    last = request["messages"][-1]
    assert last["content"][0] == {"type": "text", "text": "What colour is it?"}
    assert [(s, sha(b)) for s, b in image_parts(request)] == [(subtype, sha(data))]


async def test_switch_is_said_once_and_a_follow_up_still_sees_the_picture(services, moonshot):
    data = still("PNG", (80, 40), "green")
    first = await ask(services, "What is this?", image("car.png", data, "image/png")[0])
    switches = [r for r in first.replies if SWITCH in r]
    assert len(switches) == 1 and "kimi-k2" in switches[0], first.replies
    vision_model = moonshot.requests[-1]["model"]
    assert vision_model in switches[0]
    follow_up = await ask(services, "and what colour is the car?")
    assert not [r for r in follow_up.replies if SWITCH in r], "said once per conversation"
    request = moonshot.requests[-1]
    assert request["model"] == vision_model
    assert [sha(b) for _, b in image_parts(request)] == [sha(data)]
    assert request["messages"][-1]["content"] == "and what colour is the car?"
    conversation = await services.db.conversations.active(PRIVATE)
    assert conversation.model is None, "the conversation keeps its own model"


async def test_image_alone_gets_a_default_question(services, moonshot):
    sink = await ask(services, "", image("x.png", still("PNG"), "image/png")[0])
    assert sink.final is not None
    last = moonshot.requests[-1]["messages"][-1]["content"]
    assert last[0] == {"type": "text", "text": "What is in this image?"}
    zh = CollectingSink()
    photo, _ = image("y.png", still("PNG", colour="white"), "image/png")
    await services.assistant.handle(
        Incoming(key=PRIVATE, author=ALICE, text="", attachments=(photo,), language="zh"), zh
    )
    assert moonshot.requests[-1]["messages"][-1]["content"][0]["text"] == "这张图片里有什么？"


async def test_same_image_twice_is_stored_once(services, moonshot):
    data = still("JPEG", (50, 50), "yellow")
    await ask(services, "one", image("a.jpg", data, "image/jpeg")[0])
    await ask(services, "two", image("b.jpg", data, "image/jpeg")[0])
    conversation = await services.db.conversations.active(PRIVATE)
    linked = await services.db.images.linked(conversation.id)
    assert [i.number for i in linked] == [2, 1]
    assert linked[0].image_id == linked[1].image_id, "one stored copy"
    stored = await services.db.images.find_by_hash(sha(data))
    assert stored is not None and (stored.width, stored.height) == (50, 50)
    assert stored.size_bytes == len(data) and stored.token_count > 0
    # both messages carry it: the newest turn shows the picture twice, in turn order
    assert [sha(b) for _, b in image_parts(moonshot.requests[-1])] == [sha(data)] * 2


@pytest.mark.parametrize(
    ("name", "data", "mime", "expected"),
    [
        ("broken.png", still("PNG")[:40] + b"\x00" * 40, "image/png", "could not be read"),
        ("noise.jpg", b"definitely not a jpeg", "image/jpeg", "could not be read"),
        ("scan.bmp", still("BMP"), "image/bmp", "unsupported image format"),
        ("scan.tiff", still("TIFF"), "image/tiff", "unsupported image format"),
        ("dance.gif", animated_gif(), "image/gif", "animations are not supported"),
    ],
)
async def test_bad_images_get_a_clear_reply_and_the_message_is_kept(
    services, moonshot, name, data, mime, expected
):
    sink = await ask(services, "look", image(name, data, mime)[0])
    assert len(sink.replies) == 1 and expected in sink.replies[0] and name in sink.replies[0]
    assert sink.final is None and moonshot.requests == []
    assert await stored_user_messages(services) == [("look", "failed")]


async def test_oversized_image_is_refused_before_download(services, moonshot):
    photo, fetched = image("huge.png", still("PNG"), "image/png", size=11 * 1024 * 1024)
    sink = await ask(services, "look", photo)
    assert "too large" in sink.replies[0] and "10 MB" in sink.replies[0]
    assert fetched == [], "the declared size is enough to refuse"
    # a platform that declares nothing (0) is checked after download
    big = still("PNG", (2000, 2000)) + b"\x00" * (10 * 1024 * 1024)
    photo, fetched = image("big.png", big, "image/png", size=0)
    sink = await ask(services, "again", photo)
    assert "too large" in sink.replies[0] and fetched == [1]
    assert await stored_user_messages(services) == [("look", "failed"), ("again", "failed")]


async def test_a_good_image_beside_a_bad_one_is_still_answered(services, moonshot):
    good = still("PNG", colour="purple")
    sink = await ask(
        services,
        "both?",
        image("ok.png", good, "image/png")[0],
        image("bad.gif", animated_gif(), "image/gif")[0],
    )
    assert any("animations are not supported" in r for r in sink.replies)
    assert sink.final is not None
    assert [sha(b) for _, b in image_parts(moonshot.requests[-1])] == [sha(good)]


async def test_docs_lists_and_forget_removes_images(services, moonshot):
    red, blue = still("PNG", (64, 32), "red"), still("PNG", (20, 10), "blue")
    await ask(services, "first", image("red.png", red, "image/png")[0])
    await ask(services, "second", image("blue.png", blue, "image/png")[0])
    listing = (await ask(services, "/docs")).replies[0]
    assert "image #1 red.png — 64×32" in listing and "image #2 blue.png — 20×10" in listing
    assert "Alice" in listing
    assert "no image #7" in (await ask(services, "/forget image 7")).replies[0]
    assert "Removed image #1" in (await ask(services, "/forget image 1")).replies[0]
    await ask(services, "what now?")
    assert [sha(b) for _, b in image_parts(moonshot.requests[-1])] == [sha(blue)]
    assert "red.png" not in (await ask(services, "/docs")).replies[0]
    done = (await ask(services, "/forget all")).replies[0]
    assert "Removed all 1" in done
    assert "No documents" in (await ask(services, "/docs")).replies[0]
    await ask(services, "and now?")
    assert image_parts(moonshot.requests[-1]) == []


@pytest.fixture
async def small_budget(moonshot, db_url) -> AsyncIterator[Services]:
    """Room for one earlier image beside the current one (each 900 tokens: 30x30 tiles)."""
    settings = make_settings(moonshot.base_url, db_url, image_context_tokens=2000)
    built = await start_services(settings)
    await clean_database(built.db)
    yield built
    await built.close()


async def test_image_budget_leaves_out_the_oldest_with_a_note(small_budget, moonshot):
    pictures = [still("PNG", (420, 420), c) for c in ("red", "green", "blue")]
    for n, data in enumerate(pictures):
        await ask(small_budget, f"picture {n}", image(f"p{n}.png", data, "image/png")[0])
    request = moonshot.requests[-1]
    assert [sha(b) for _, b in image_parts(request)] == [sha(pictures[1]), sha(pictures[2])]
    note = texts.text("images_dropped", "en", count=1)
    assert note in system_texts(request)
    assert "1 earlier image(s) no longer shown (image budget)" in note
    assert note not in system_texts(moonshot.requests[-2]), "nothing was left out before"


@pytest.fixture
async def blind(db_url) -> AsyncIterator[tuple[Services, MoonshotEmulator]]:
    """An account served no vision model: kimi-bot's start-up check narrows the catalog."""
    emulator = MoonshotEmulator(
        api_key=EMULATOR_KEY, enforce_limits=False, served_models=["kimi-k2", "moonshot-v1-8k"]
    )
    await emulator.start(host="127.0.0.1", port=0)
    built = await start_services(make_settings(emulator.base_url, db_url), check_served=True)
    await clean_database(built.db)
    yield built, emulator
    await built.close()
    await emulator.stop()


async def test_without_a_vision_model_the_image_goes_to_ocr(blind):
    services, moonshot = blind
    assert not any(m.vision for m in services.assistant.catalog)
    data = still("PNG", (100, 40), "white")
    sink = await ask(services, "read this", image("receipt.png", data, "image/png")[0])
    fallback = texts.text("image_ocr_fallback", "en")
    assert sink.replies.count(fallback) == 1, sink.replies
    # file-extract was asked (the emulator does no OCR, so it says it could not extract)
    unreadable = texts.text("doc_unreadable", "en", name="receipt.png", detail="x").split("(")[0]
    assert any(r.startswith(unreadable) for r in sink.replies), sink.replies
    assert all(image_parts(r) == [] for r in moonshot.requests), "no image part to a blind model"
    conversation = await services.db.conversations.active(PRIVATE)
    assert await services.db.images.linked(conversation.id) == []
    # still a clear reply for a bad image on this path
    bad = await ask(services, "and this", image("dance.gif", animated_gif(), "image/gif")[0])
    assert "animations are not supported" in bad.replies[0] and fallback not in bad.replies
