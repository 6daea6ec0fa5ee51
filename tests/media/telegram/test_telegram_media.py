"""Telegram photos, albums, image documents, voice and video notes, stickers: the real
python-telegram-bot against the Telegram emulator, the real core against the Moonshot emulator.

What reaches the core is recorded (the image and audio branches are built beside this)."""

from __future__ import annotations

import pytest

from bots.http import HttpServer, build_app
from core.types import ConversationKey
from tests.conftest import EMULATOR_KEY
from tests.media.images import (
    MP4,
    OGG,
    chat_requests,
    image,
    image_parts,
    recorder,
    stored_user_texts,
)
from tests.telegram.conftest import GROUP, USER, handled, visible
from tests.telegram.test_updates import free_port

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_photo_with_caption_is_one_image_attachment(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    seen = recorder(bot.services)
    data = image("JPEG", (320, 240), "blue")
    tg.user_photo(USER, USER, data, caption="What colour is this?", width=320, height=240)
    await handled(tg, bot, 1, within=30)
    ((incoming, fetched),) = seen
    assert incoming.text == "What colour is this?"
    (attachment,) = incoming.attachments
    assert attachment.kind == "image" and attachment.mime_type == "image/jpeg"
    assert attachment.name.startswith("photo_") and attachment.name.endswith(".jpg")
    assert fetched == [data], "the largest size, not the thumbnail"
    assert [url.split(";")[0] for url in image_parts(moonshot)] == ["data:image/jpeg"]
    assert "mostly blue" in visible(tg, USER)[-1], "the vision model saw the photo"


async def test_album_of_three_photos_is_one_turn(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot(telegram_album_wait=0.5)
    seen = recorder(bot.services)
    photos = [image("JPEG", (40, 30), colour) for colour in ("red", "green", "blue")]
    tg.user_album(USER, USER, photos, caption="Compare these")
    await handled(tg, bot, 3, within=30)
    ((incoming, fetched),) = seen
    assert incoming.text == "Compare these"
    assert [a.kind for a in incoming.attachments] == ["image"] * 3
    assert fetched == photos, "all three, in the order sent"
    assert len(tg.calls_of("getFile")) == 3
    (request,) = chat_requests(moonshot)
    assert len(image_parts(moonshot)) == 3, "one chat request with the three pictures"
    assert len([m for m in request["messages"] if m["role"] == "user"]) == 1
    (answer,) = [t for t in visible(tg, USER) if t.startswith("Echo")]
    assert "I saw 3 images" in answer, "one answer about all three"
    assert all(f"mostly {colour}" in answer for colour in ("red", "green", "blue"))


async def test_album_redelivered_is_not_answered_twice(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot(telegram_album_wait=0.5)
    seen = recorder(bot.services)
    photos = [image("PNG", (20, 20), colour) for colour in ("red", "green")]
    updates = tg.user_album(USER, USER, photos, caption="Two pictures")
    await handled(tg, bot, 2, within=30)
    for update in updates:
        tg.deliver_again(update)
    await handled(tg, bot, 4, within=30)
    assert len(seen) == 1
    assert len(seen[0][0].attachments) == 2


async def test_album_caption_on_a_later_item_in_a_group(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    tg.set_admins(GROUP, [tg.bot_id, USER])  # the bot sees every item of the album
    bot = await start_bot(telegram_album_wait=0.5)
    seen = recorder(bot.services)
    photos = [image("PNG", (20, 20), colour) for colour in ("red", "green")]
    group = "album-7"
    tg.user_photo(GROUP, USER, photos[0], media_group_id=group, width=20, height=20)
    tg.user_photo(
        GROUP, USER, photos[1], "which is greener?", media_group_id=group, mention_bot=True
    )
    await handled(tg, bot, 2, within=30)
    ((incoming, fetched),) = seen
    assert incoming.text == "which is greener?"
    assert fetched == photos


async def test_image_sent_as_a_file_keeps_its_own_type(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    seen = recorder(bot.services)
    data = image("WEBP", (50, 50), "yellow")
    tg.user_document(USER, USER, data, "diagram.webp", "image/webp", caption="Describe it")
    await handled(tg, bot, 1, within=30)
    ((incoming, fetched),) = seen
    (attachment,) = incoming.attachments
    assert (attachment.name, attachment.mime_type, attachment.kind) == (
        "diagram.webp",
        "image/webp",
        "",
    ), "the core decides by type (core.attachment_kinds)"
    assert fetched == [data]


async def test_sticker_gets_a_clear_reply_without_a_model_call(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    seen = recorder(bot.services)
    tg.user_sticker(USER, USER)
    await handled(tg, bot, 1, within=30)
    (reply,) = visible(tg, USER)
    assert "stickers" in reply and "photos" in reply and "voice notes" in reply
    assert seen == [] and moonshot.requests == []


async def test_gif_with_caption_is_refused_but_its_words_are_kept(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    seen = recorder(bot.services)
    tg.user_animation(USER, USER, caption="look at this cat")
    await handled(tg, bot, 1, within=30)
    (reply,) = visible(tg, USER)
    assert "GIFs" in reply
    assert seen == [] and moonshot.requests == []
    assert tg.calls_of("getFile") == [], "an animation is not read as a document"
    key = ConversationKey(platform="telegram", chat=str(USER))
    assert "look at this cat" in await stored_user_texts(bot.services, key)


async def test_voice_note_is_one_audio_attachment_with_its_duration(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    seen = recorder(bot.services)
    tg.user_voice(USER, USER, OGG, duration=7)
    await handled(tg, bot, 1, within=30)
    ((incoming, fetched),) = seen
    (attachment,) = incoming.attachments
    assert (attachment.kind, attachment.duration, attachment.mime_type) == (
        "audio",
        7.0,
        "audio/ogg",
    )
    assert attachment.name.startswith("voice_") and attachment.name.endswith(".ogg")
    assert fetched == [OGG]


async def test_video_note_is_audio_too(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot(stt_base_url=moonshot.base_url, stt_api_key=EMULATOR_KEY)
    seen = recorder(bot.services)
    moonshot.enqueue_transcript("Where is the meeting?", duration=12)
    tg.user_video_note(USER, USER, MP4, duration=12)
    await handled(tg, bot, 1, within=30)
    ((incoming, fetched),) = seen
    (attachment,) = incoming.attachments
    assert (attachment.kind, attachment.duration, attachment.mime_type) == (
        "audio",
        12.0,
        "video/mp4",
    )
    assert attachment.name.endswith(".mp4")
    assert fetched == [MP4]
    [request] = moonshot.transcriptions
    assert request["size"] == len(MP4) and request["filename"].endswith(".mp4")
    assert "Where is the meeting?" in visible(tg, USER)[-1]


async def test_audio_file_keeps_its_name_and_type(tg, moonshot, start_bot):
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    seen = recorder(bot.services)
    tg.user_audio(USER, USER, b"ID3" + bytes(100), "meeting.mp3", "audio/mpeg", duration=95)
    await handled(tg, bot, 1, within=30)
    ((incoming, _),) = seen
    (attachment,) = incoming.attachments
    assert (attachment.name, attachment.kind, attachment.duration) == ("meeting.mp3", "audio", 95.0)


async def test_album_through_the_webhook_is_one_turn(tg, moonshot, start_bot):
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    bot = await start_bot(telegram_webhook_url=url, telegram_album_wait=0.5)
    server = HttpServer(build_app(bot.services.db, bot.adapter.routes()), "127.0.0.1", port)
    await server.start()
    try:
        tg.add_chat(USER, type="private")
        seen = recorder(bot.services)
        photos = [image("PNG", (30, 30), colour) for colour in ("red", "blue")]
        tg.user_album(USER, USER, photos, caption="Which is which?")
        await handled(tg, bot, 2, within=30)
        ((incoming, fetched),) = seen
        assert incoming.text == "Which is which?" and fetched == photos
        assert tg.calls_of("getUpdates") == [], "webhook mode"
        assert len(image_parts(moonshot)) == 2
    finally:
        await server.stop()
