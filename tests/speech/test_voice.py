"""Voice messages end to end: the assistant, the real openai SDK and the Moonshot emulator as
both Kimi and the speech-to-text endpoint (STT_BASE_URL), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from core.service import Services, start_services
from core.types import CollectingSink, Incoming
from emulators.moonshot import Fault
from storage.models import Message
from tests.conftest import EMULATOR_KEY, make_settings
from tests.speech.audio import Voice, heard, wav
from tests.support.database import clean_database
from tests.support.messages import TEST_AUTHOR, TEST_KEY, user_texts
from tests.support.requests import document_contents


def voice_message(*voices: Voice, text: str = "", language: str = "") -> Incoming:
    return Incoming(
        key=TEST_KEY,
        author=TEST_AUTHOR,
        text=text,
        attachments=tuple(v.attachment for v in voices),
        language=language,
    )


async def start(moonshot: Any, db_url: str, **stt: object) -> Services:
    settings = make_settings(moonshot.base_url, db_url, **stt)
    built = await start_services(settings)
    await clean_database(built.db)
    return built


def with_stt(moonshot: Any, **overrides: object) -> dict[str, object]:
    return {"stt_base_url": moonshot.base_url, "stt_api_key": EMULATOR_KEY, **overrides}


@pytest.fixture
async def voiced(moonshot: Any, db_url: str) -> AsyncIterator[Services]:
    built = await start(moonshot, db_url, **with_stt(moonshot))
    yield built
    await built.close()


async def stored_user_messages(services: Services) -> list[tuple[str, str, str | None]]:
    """(content, status, error) of every stored user message, oldest first."""
    query = select(Message.content, Message.status, Message.error).where(Message.role == "user")
    async with services.db.engine.connect() as connection:
        rows = await connection.execute(query.order_by(Message.id))
        return [(r[0], r[1], r[2]) for r in rows]


async def test_voice_note_is_transcribed_shown_and_answered_as_typed(
    voiced: Services, moonshot: Any
) -> None:
    moonshot.enqueue_transcript("What is the capital of France?", duration=2.0)
    voice = Voice(wav(2.0), name="voice", mime="audio/ogg; codecs=opus", duration=2)
    sink = CollectingSink()

    await voiced.assistant.handle(voice_message(voice), sink)

    assert sink.replies == ["🎤 “What is the capital of France?”"]
    assert sink.final, "the transcript was answered"
    assert user_texts(moonshot.requests[-1])[-1] == "[voice message] What is the capital of France?"
    assert await stored_user_messages(voiced) == [
        ("[voice message] What is the capital of France?", "complete", None)
    ]
    [request] = moonshot.transcriptions
    # A nameless Telegram voice note gets the extension providers pick the decoder by.
    assert request["filename"] == "voice.ogg"
    assert request["model"] == "whisper-1"
    assert request["response_format"] == "verbose_json"
    assert request["size"] == len(voice.data)


async def test_follow_up_still_sees_the_spoken_words(voiced: Services, moonshot: Any) -> None:
    moonshot.enqueue_transcript("Remember the number forty-two.")
    await voiced.assistant.handle(voice_message(Voice(wav(1.0))), CollectingSink())
    await voiced.assistant.handle(voice_message(text="Which number?"), CollectingSink())

    assert user_texts(moonshot.requests[-1]) == [
        "[voice message] Remember the number forty-two.",
        "Which number?",
    ]


async def test_two_voice_notes_and_a_caption_become_one_message(
    moonshot: Any, sqlite_url: str
) -> None:
    services = await start(moonshot, sqlite_url, **with_stt(moonshot))
    first, second = Voice(wav(1.0), name="a.wav"), Voice(wav(1.5, pitch=660), name="b.wav")
    sink = CollectingSink()
    try:
        await services.assistant.handle(voice_message(first, second, text="Reply briefly."), sink)
        stored = await stored_user_messages(services)
    finally:
        await services.close()

    one, two = heard(first.data, 1.0), heard(second.data, 1.5)  # the exact bytes arrived
    assert sink.replies == [f"🎤 “{one}”", f"🎤 “{two}”"]
    expected = f"[voice message] {one}\n\n[voice message] {two}\n\nReply briefly."
    assert user_texts(moonshot.requests[-1])[-1] == expected
    assert stored == [(expected, "complete", None)]
    assert sink.final


async def test_without_stt_configured_the_user_is_told_and_the_message_kept(
    moonshot: Any, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    services = await start(moonshot, db_url)
    voice = Voice(wav(1.0))
    sink = CollectingSink()
    try:
        with caplog.at_level(logging.WARNING, logger="core.speech"):
            await services.assistant.handle(voice_message(voice), sink)
        stored = await stored_user_messages(services)
    finally:
        await services.close()

    [reply] = sink.replies
    assert "not enabled" in reply and "STT_BASE_URL" in reply
    assert stored == [("[voice message]", "failed", "voice: STT_BASE_URL is not set")]
    assert moonshot.requests == [] and moonshot.transcriptions == []
    assert voice.fetches == 0
    assert "not transcribed (SpeechNotConfigured)" in caplog.text


async def test_without_stt_a_chinese_user_is_told_in_chinese(
    moonshot: Any, sqlite_url: str
) -> None:
    services = await start(moonshot, sqlite_url)
    sink = CollectingSink()
    try:
        await services.assistant.handle(voice_message(Voice(wav(1.0)), text="请总结一下"), sink)
        stored = await stored_user_messages(services)
    finally:
        await services.close()

    assert "语音" in sink.replies[0]
    assert stored[0][:2] == ("[voice message]\n\n请总结一下", "failed")


async def test_stt_failing_is_said_logged_and_stored(
    moonshot: Any, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    services = await start(moonshot, sqlite_url, **with_stt(moonshot))
    moonshot.inject(Fault("stt_error"))
    sink = CollectingSink()
    try:
        with caplog.at_level(logging.WARNING, logger="core.speech"):
            await services.assistant.handle(voice_message(Voice(wav(1.0))), sink)
        stored = await stored_user_messages(services)
    finally:
        await services.close()

    [reply] = sink.replies
    assert "could not transcribe" in reply and "HTTP 500" in reply
    [(content, status, error)] = stored
    assert (content, status) == ("[voice message]", "failed")
    assert error is not None and "HTTP 500" in error
    assert moonshot.requests == []  # nothing to answer
    assert sink.final is None and sink.aborted is None
    assert "TranscriptionFailed" in caplog.text and EMULATOR_KEY not in caplog.text


async def test_stt_timing_out_is_said_and_stored(moonshot: Any, sqlite_url: str) -> None:
    services = await start(moonshot, sqlite_url, **with_stt(moonshot, stt_timeout=0.5))
    moonshot.inject(Fault("stt_slow", delay=5.0))
    sink = CollectingSink()
    started = time.monotonic()
    try:
        await services.assistant.handle(voice_message(Voice(wav(1.0))), sink)
        elapsed = time.monotonic() - started
        stored = await stored_user_messages(services)
    finally:
        await services.close()

    assert elapsed < 4.0, "the timeout, not the slow server, ended the wait"
    [reply] = sink.replies
    assert "did not answer within 0.5 seconds" in reply
    [(content, status, error)] = stored
    assert content == "[voice message]"
    assert status == "failed" and error is not None and "within" in error
    assert moonshot.requests == []


async def test_too_long_is_refused_before_the_download(moonshot: Any, sqlite_url: str) -> None:
    services = await start(moonshot, sqlite_url, **with_stt(moonshot, stt_max_seconds=60))
    voice = Voice(wav(1.0), duration=95)  # the platform measured it
    sink = CollectingSink()
    try:
        await services.assistant.handle(voice_message(voice), sink)
        stored = await stored_user_messages(services)
    finally:
        await services.close()

    assert sink.replies == [
        "This voice message is 95 seconds long; I can transcribe up to 60 seconds. "
        "Please send a shorter one, or type it."
    ]
    assert voice.fetches == 0 and moonshot.transcriptions == []
    assert stored[0][1:] == ("failed", "voice: 95s > STT_MAX_SECONDS 60s")


async def test_too_large_is_refused_before_and_after_the_download(
    moonshot: Any, sqlite_url: str
) -> None:
    services = await start(moonshot, sqlite_url, **with_stt(moonshot, stt_max_bytes=4_000))
    declared = Voice(wav(1.0))  # 16 kB, and the platform says so
    understated = Voice(wav(1.0), size=1_000)  # the platform said 1 kB
    first, second = CollectingSink(), CollectingSink()
    try:
        await services.assistant.handle(voice_message(declared), first)
        await services.assistant.handle(voice_message(understated), second)
        stored = await stored_user_messages(services)
    finally:
        await services.close()

    assert declared.fetches == 0 and understated.fetches == 1
    assert first.replies == [
        "This voice message is 16 kB; I can transcribe up to 4 kB. "
        "Please send a shorter one, or type it."
    ]
    assert second.replies == first.replies  # measured after the download
    assert [s[1] for s in stored] == ["failed", "failed"]
    assert all("STT_MAX_BYTES 4000" in (s[2] or "") for s in stored)
    assert moonshot.transcriptions == []


async def test_silence_gets_a_clear_reply(moonshot: Any, sqlite_url: str) -> None:
    services = await start(moonshot, sqlite_url, **with_stt(moonshot))
    moonshot.enqueue_transcript("   ")
    sink = CollectingSink()
    try:
        await services.assistant.handle(voice_message(Voice(wav(1.0))), sink)
        stored = await stored_user_messages(services)
    finally:
        await services.close()

    assert sink.replies == [
        "I could not make out any words in this voice message. Please try again closer to "
        "the microphone, or type your message."
    ]
    assert stored[0][1:] == ("failed", "voice: empty transcript")


async def test_usage_shows_the_voice_messages(voiced: Services, moonshot: Any) -> None:
    moonshot.enqueue_transcript("hello", duration=2.4)
    moonshot.enqueue_transcript("again", duration=3.0)
    await voiced.assistant.handle(voice_message(Voice(wav(1.0))), CollectingSink())
    sink = CollectingSink()
    await voiced.assistant.handle(voice_message(text="/usage"), sink)
    assert "voice: 1 message, 2 s transcribed" in sink.replies[0]

    await voiced.assistant.handle(voice_message(Voice(wav(1.0))), CollectingSink())
    sink = CollectingSink()
    await voiced.assistant.handle(voice_message(text="/usage"), sink)
    assert "voice: 2 messages, 5 s transcribed" in sink.replies[0]


async def test_usage_has_no_voice_line_without_voice_messages(voiced: Services) -> None:
    sink = CollectingSink()
    await voiced.assistant.handle(voice_message(text="/usage"), sink)
    assert "voice" not in sink.replies[0]


async def test_a_document_sent_with_a_voice_note_is_read_for_the_spoken_question(
    moonshot: Any, sqlite_url: str
) -> None:
    services = await start(moonshot, sqlite_url, **with_stt(moonshot))
    moonshot.enqueue_transcript("Where do the owls meet?")
    document = Voice(
        b"Owls meet at dawn by the old mill.", name="owls.txt", mime="text/plain", kind=""
    )
    sink = CollectingSink()
    try:
        await services.assistant.handle(voice_message(Voice(wav(1.0)), document), sink)
    finally:
        await services.close()

    request = moonshot.requests[-1]
    assert "Owls meet at dawn" in document_contents(request)["owls.txt"]
    assert user_texts(request)[-1] == "[voice message] Where do the owls meet?"
    assert sink.replies[0] == "🎤 “Where do the owls meet?”"
    assert sink.final
