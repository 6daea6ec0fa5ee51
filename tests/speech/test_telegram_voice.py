"""A Telegram voice note end to end: python-telegram-bot against the Telegram emulator, the
transcript from the Moonshot emulator's /v1/audio/transcriptions, the answer from its chat."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.telegram import TelegramEmulator
from tests.conftest import EMULATOR_KEY
from tests.speech.audio import wav
from tests.telegram.conftest import (  # noqa: F401 (fixtures used by name)
    USER,
    StartBot,
    handled,
    start_bot,
    tg,
    visible,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_voice_note_is_transcribed_quoted_and_answered(
    tg: TelegramEmulator,  # noqa: F811
    moonshot: Any,
    start_bot: StartBot,  # noqa: F811
) -> None:
    tg.add_chat(USER, type="private")
    bot = await start_bot(stt_base_url=moonshot.base_url, stt_api_key=EMULATOR_KEY)
    moonshot.enqueue_transcript("How tall is the Eiffel Tower?", duration=3.2)
    audio = wav(1.0)
    tg.user_voice(USER, USER, audio, duration=3)
    await handled(tg, bot, 1, within=30)

    shown = visible(tg, USER)
    assert "🎤 “How tall is the Eiffel Tower?”" in shown
    assert shown[-1].startswith("Echo (kimi-k2): [voice message] How tall is the Eiffel Tower?")
    [request] = moonshot.transcriptions
    assert request["size"] == len(audio)  # the bytes Telegram served reached the STT endpoint
    assert request["filename"].endswith(".ogg")

    tg.user_command(USER, USER, "/usage")
    await handled(tg, bot, 2, within=30)
    assert "voice: 1 message, 3 s transcribed" in visible(tg, USER)[-1]


async def test_voice_note_without_stt_gets_a_clear_reply(
    tg: TelegramEmulator,  # noqa: F811
    moonshot: Any,
    start_bot: StartBot,  # noqa: F811
) -> None:
    tg.add_chat(USER, type="private")
    bot = await start_bot()
    tg.user_voice(USER, USER, wav(1.0))
    await handled(tg, bot, 1, within=30)

    assert "Voice messages are not enabled on this bot" in visible(tg, USER)[-1]
    assert moonshot.requests == [] and moonshot.transcriptions == []
