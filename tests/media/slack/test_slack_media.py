"""Slack image files (in a DM, in a thread) and audio clips reach the core as image and audio
attachments: the real slack-bolt/slack-sdk against the Slack emulator, the real core after."""

from __future__ import annotations

from emulators.slack import SlackEmulator
from tests.conftest import EMULATOR_KEY
from tests.media.images import MP4, OGG, image, image_parts, recorder
from tests.slack.conftest import SlackBot, StartBot


async def test_image_file_in_a_dm(emu: SlackEmulator, bot: SlackBot, moonshot) -> None:
    seen = recorder(bot.services)
    data = image("PNG", (64, 64), "green")
    file = emu.add_file("F10", "chart.png", "image/png", data, user="U1")
    await emu.user_message("D1", "U1", "what does this chart show?", files=[file])
    await bot.idle()
    ((incoming, fetched),) = seen
    assert incoming.text == "what does this chart show?"
    (attachment,) = incoming.attachments
    assert (attachment.name, attachment.mime_type, attachment.kind) == (
        "chart.png",
        "image/png",
        "image",
    )
    assert fetched == [data]
    assert emu.file_downloads[-1] == ("F10", True), "downloaded with the bot token"
    assert [url.split(";")[0] for url in image_parts(moonshot)] == ["data:image/png"]
    assert "mostly green" in emu.messages("D1")[-1].text


async def test_image_file_in_a_thread_the_bot_joined(emu: SlackEmulator, bot: SlackBot) -> None:
    seen = recorder(bot.services)
    sent = await emu.user_message("C1", "U1", "hello", mention_bot=True)
    await bot.idle()
    data = image("JPEG", (80, 60), "white")
    file = emu.add_file("F11", "photo.jpg", "image/jpeg", data, user="U2")
    await emu.user_message("C1", "U2", "and this one?", thread_ts=sent.ts, files=[file])
    await bot.idle()
    assert len(seen) == 2
    incoming, fetched = seen[-1]
    assert incoming.key.thread == sent.ts and incoming.text == "and this one?"
    assert [a.kind for a in incoming.attachments] == ["image"]
    assert fetched == [data]


async def test_audio_clip_is_audio_with_its_duration(
    emu: SlackEmulator, start_bot: StartBot, moonshot
) -> None:
    bot = await start_bot(stt_base_url=moonshot.base_url, stt_api_key=EMULATOR_KEY)
    seen = recorder(bot.services)
    moonshot.enqueue_transcript("Summarize the last thread please", duration=4.2)
    # Slack labels some recorded clips video/mp4; the clip subtype decides.
    file = emu.add_file(
        "F12", "audio_message.mp4", "video/mp4", MP4, user="U1", clip="audio", duration_ms=4200
    )
    await emu.user_message("D1", "U1", "", files=[file])
    await bot.idle()
    ((incoming, fetched),) = seen
    (attachment,) = incoming.attachments
    assert (attachment.kind, attachment.duration) == ("audio", 4.2)
    assert fetched == [MP4]
    [request] = moonshot.transcriptions
    assert request["size"] == len(MP4)
    assert "Summarize the last thread please" in emu.messages("D1")[-1].text


async def test_audio_file_and_plain_video(emu: SlackEmulator, bot: SlackBot) -> None:
    seen = recorder(bot.services)
    voice = emu.add_file("F13", "memo.ogg", "audio/ogg", OGG, user="U1")
    video = emu.add_file("F14", "holiday.mp4", "video/mp4", MP4, user="U1")
    await emu.user_message("D1", "U1", "listen", files=[voice, video])
    await bot.idle()
    ((incoming, _),) = seen
    kinds = {a.name: (a.kind, a.duration) for a in incoming.attachments}
    assert kinds == {"memo.ogg": ("audio", None), "holiday.mp4": ("", None)}, (
        "an uploaded video is not a clip: the core decides (a document)"
    )
