"""A voice message's part of a turn: turn its audio into the user's words before the answer.

The message is stored first as :data:`VOICE_NOTE` (plus the caption), so a failure keeps it;
then each audio attachment is transcribed, the transcript is shown to the user ("🎤 “…”"),
the stored text becomes ``[voice message] <transcript>`` (the note stays so the model, and
anyone reading the history, knows the words were spoken, and may be misheard) and the turn
answers it as if typed.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from core import texts
from core.attachment_kinds import AUDIO, kind_of
from core.phrases import LANGUAGES
from core.speech.transcriber import SpeechError, SpeechNotConfigured, Transcriber
from core.tokens import raw_estimate
from core.types import Attachment, Incoming, ReplySink
from storage import Database

log = logging.getLogger(__name__)

VOICE_NOTE = "[voice message]"


def audio_of(incoming: Incoming) -> tuple[Attachment, ...]:
    return tuple(a for a in incoming.attachments if kind_of(a) == AUDIO)


def with_voice_note(incoming: Incoming) -> Incoming:
    """What a message with audio is stored as until it is transcribed: the note, then the
    caption (unchanged when there is no audio)."""
    if not audio_of(incoming):
        return incoming
    caption = incoming.text.strip()
    return replace(incoming, text=f"{VOICE_NOTE}\n\n{caption}" if caption else VOICE_NOTE)


def caption_of(stored_text: str) -> str:
    """The caption :func:`with_voice_note` kept after the note."""
    return stored_text.removeprefix(VOICE_NOTE).strip()


def spoken(transcript: str) -> str:
    """A transcript as it is stored and sent to the model: marked as heard, not typed."""
    return f"{VOICE_NOTE} {transcript}"


def reply_language(incoming: Incoming, caption: str) -> str:
    """The caption's language, else the platform's word for the user's, else English."""
    if caption:
        return texts.language_of(caption)
    return incoming.language if incoming.language in LANGUAGES else "en"


class VoiceMessages:
    """Transcribes a stored voice message and records the seconds for ``/usage``."""

    def __init__(self, db: Database, transcriber: Transcriber | None) -> None:
        self._db = db
        self._transcriber = transcriber

    async def transcribe(
        self, conversation_id: int, incoming: Incoming, user_message_id: int, sink: ReplySink
    ) -> Incoming | None:
        """The message with its transcript (as stored) and without its audio; None when it
        could not be heard (the user was told why, the message set aside with the reason)."""
        caption = caption_of(incoming.text)
        lang = reply_language(incoming, caption)
        transcriber = self._transcriber
        if transcriber is None:
            error = SpeechNotConfigured("STT_BASE_URL is not set")
            return await self._refuse(error, incoming, user_message_id, sink, lang)
        parts: list[str] = []
        for attachment in audio_of(incoming):
            try:
                transcript = await transcriber.transcribe(attachment)
            except SpeechError as exc:
                return await self._refuse(exc, incoming, user_message_id, sink, lang)
            seconds = (
                transcript.duration if transcript.duration is not None else attachment.duration
            )
            log.info(
                "transcribed %.1fs of audio in %.1fs (%d chars) in %s",
                seconds or 0.0,
                transcript.elapsed,
                len(transcript.text),
                incoming.key.label(),
            )
            await self._db.transcriptions.record(
                conversation_id=conversation_id,
                message_id=user_message_id,
                user_id=incoming.author.id,
                platform=incoming.platform,
                chat_key=incoming.key.label(),
                model=transcriber.model,
                seconds=seconds,
                elapsed_ms=round(transcript.elapsed * 1000),
            )
            await sink.reply(texts.text("voice_transcript", lang, text=transcript.text))
            parts.append(spoken(transcript.text))
        text = "\n\n".join([*parts, caption] if caption else parts)
        await self._db.messages.replace_text(user_message_id, text, raw_estimate(text))
        remaining = tuple(a for a in incoming.attachments if kind_of(a) != AUDIO)
        return replace(incoming, text=text, attachments=remaining)

    async def _refuse(
        self,
        error: SpeechError,
        incoming: Incoming,
        user_message_id: int,
        sink: ReplySink,
        lang: str,
    ) -> None:
        """Say why in the chat, log it, and set the message aside with the reason."""
        log.warning(
            "voice message in %s not transcribed (%s): %s",
            incoming.key.label(),
            type(error).__name__,
            error.reason,
        )
        await sink.reply(texts.text(error.key, lang, **error.values))
        await self._db.messages.fail(user_message_id, error=f"voice: {error.reason}"[:500])
