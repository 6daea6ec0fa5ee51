"""Voice messages: speech to text (:mod:`core.speech.transcriber`) and the turn's voice step
(:mod:`core.speech.voice`)."""

from __future__ import annotations

from core.speech.transcriber import (
    AudioEmpty,
    AudioTooLarge,
    AudioTooLong,
    AudioUnavailable,
    NothingHeard,
    SpeechError,
    SpeechNotConfigured,
    Transcriber,
    Transcript,
    TranscriptionFailed,
    TranscriptionTimedOut,
)
from core.speech.voice import VOICE_NOTE, VoiceMessages, audio_of, with_voice_note

__all__ = [
    "VOICE_NOTE",
    "AudioEmpty",
    "AudioTooLarge",
    "AudioTooLong",
    "AudioUnavailable",
    "NothingHeard",
    "SpeechError",
    "SpeechNotConfigured",
    "Transcriber",
    "Transcript",
    "TranscriptionFailed",
    "TranscriptionTimedOut",
    "VoiceMessages",
    "audio_of",
    "with_voice_note",
]
