"""Speech to text: an audio attachment becomes words through an OpenAI-compatible
``/audio/transcriptions`` endpoint (``STT_BASE_URL``), called with the openai SDK.

Not Moonshot: the endpoint is whatever the operator runs or buys (OpenAI, a self-hosted
Whisper server), so it has a client, limits and timeout of its own. Every way it can go wrong
is a :class:`SpeechError` whose ``reason`` is safe to log and store (never the key).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import openai

from core.config import Settings
from core.types import Attachment

log = logging.getLogger(__name__)

# Providers pick the decoder by the file name's extension (OpenAI does): a voice note named
# "voice" must still say it is Ogg. Extensions OpenAI documents, plus the usual aliases.
EXTENSIONS = frozenset(
    {".flac", ".m4a", ".mp3", ".mp4", ".mpeg", ".mpga", ".oga", ".ogg", ".opus", ".wav", ".webm"}
)
EXTENSION_BY_MIME = {
    "audio/ogg": ".ogg",
    "audio/opus": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/m4a": ".m4a",
    "audio/aac": ".m4a",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/webm": ".webm",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
}
NO_KEY = "not-needed"  # the SDK insists on a key; self-hosted servers usually ask for none


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    duration: float | None  # seconds of audio, as the provider reported them (None: not said)
    elapsed: float  # seconds the transcription took


class SpeechError(Exception):
    """A voice message that could not become text. ``key`` names the user's sentence in
    :mod:`core.phrases.speech`, ``values`` fill it, ``reason`` is for logs and storage."""

    key = "voice_failed"

    def __init__(self, reason: str, **values: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.values = values


class SpeechNotConfigured(SpeechError):
    key = "voice_disabled"


class AudioTooLong(SpeechError):
    key = "voice_too_long"


class AudioTooLarge(SpeechError):
    key = "voice_too_large"


class AudioEmpty(SpeechError):
    key = "voice_empty"


class AudioUnavailable(SpeechError):
    key = "voice_unavailable"


class TranscriptionFailed(SpeechError):
    key = "voice_failed"

    def __init__(self, reason: str, status: int | None = None, **values: object) -> None:
        super().__init__(reason, **values)
        self.status = status


class TranscriptionTimedOut(SpeechError):
    key = "voice_timeout"


class NothingHeard(SpeechError):
    key = "voice_nothing_heard"


class Transcriber:
    """One STT endpoint with its limits. ``transcribe`` checks the limits the platform already
    told us (duration, size) before downloading anything."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        model: str = "whisper-1",
        max_seconds: float = 600.0,
        max_bytes: int = 25_000_000,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or NO_KEY, max_retries=0, timeout=timeout
        )
        self._verbose = True  # until the server refuses verbose_json (it alone gives duration)

    @classmethod
    def from_settings(cls, settings: Settings) -> Transcriber | None:
        """None when STT_BASE_URL is unset: voice messages are then refused with a reason."""
        if not settings.stt_base_url:
            return None
        key = settings.stt_api_key.get_secret_value() if settings.stt_api_key else None
        return cls(
            base_url=settings.stt_base_url,
            api_key=key,
            model=settings.stt_model,
            max_seconds=settings.stt_max_seconds,
            max_bytes=settings.stt_max_bytes,
            timeout=settings.stt_timeout,
        )

    def check(self, attachment: Attachment) -> None:
        """Refuse what the platform says is too long or too large, before the download."""
        if attachment.duration is not None and attachment.duration > self.max_seconds:
            raise AudioTooLong(
                f"{attachment.duration:.0f}s > STT_MAX_SECONDS {self.max_seconds:.0f}s",
                seconds=f"{attachment.duration:.0f}",
                limit=f"{self.max_seconds:g}",
            )
        if attachment.size > self.max_bytes:
            raise self._too_large(attachment.size)

    async def transcribe(self, attachment: Attachment) -> Transcript:
        self.check(attachment)
        try:
            data = await attachment.fetch()
        except Exception as exc:
            raise AudioUnavailable(f"download failed: {type(exc).__name__}") from exc
        if not data:
            raise AudioEmpty("0 bytes")
        if len(data) > self.max_bytes:
            raise self._too_large(len(data))
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                result = await self._request(upload_name(attachment), data, _mime(attachment))
        except (TimeoutError, openai.APITimeoutError) as exc:
            raise TranscriptionTimedOut(
                f"no answer from {self.base_url} within {self.timeout:.0f}s",
                seconds=f"{self.timeout:g}",
            ) from exc
        except openai.APIStatusError as exc:
            raise TranscriptionFailed(
                f"{self.base_url} answered HTTP {exc.status_code}: {_message(exc)}",
                status=exc.status_code,
                detail=f"HTTP {exc.status_code}",
            ) from exc
        except openai.APIConnectionError as exc:
            raise TranscriptionFailed(
                f"cannot reach {self.base_url} ({type(exc.__cause__ or exc).__name__})",
                detail="unreachable",
            ) from exc
        text, duration = _read(result)
        if not text:
            raise NothingHeard("empty transcript")
        return Transcript(text=text, duration=duration, elapsed=time.monotonic() - started)

    async def _request(self, name: str, data: bytes, mime: str) -> Any:
        """verbose_json (the audio's duration) while the server accepts it, else plain json."""
        create = self._client.audio.transcriptions.create
        if self._verbose:
            try:
                return await create(
                    model=self.model, file=(name, data, mime), response_format="verbose_json"
                )
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                log.info(
                    "%s refused verbose_json (HTTP %s); asking for json",
                    self.base_url,
                    exc.status_code,
                )
            result = await create(model=self.model, file=(name, data, mime), response_format="json")
            self._verbose = False  # json worked where verbose_json did not: keep to json
            return result
        return await create(model=self.model, file=(name, data, mime), response_format="json")

    async def probe(self) -> list[str] | None:
        """A cheap reachability check (``kimi-bot doctor``): the ids ``GET /models`` lists, or
        None when the server has no such list (many Whisper servers); TranscriptionFailed when
        it cannot be reached or refuses the key. No audio is sent, nothing is billed."""
        try:
            async with asyncio.timeout(self.timeout):
                return [model.id async for model in self._client.models.list()]
        except (TimeoutError, openai.APITimeoutError) as exc:
            raise TranscriptionFailed(
                f"no answer from {self.base_url} within {self.timeout:.0f}s"
            ) from exc
        except openai.AuthenticationError as exc:
            raise TranscriptionFailed(
                f"{self.base_url} rejected STT_API_KEY (HTTP {exc.status_code})", status=401
            ) from exc
        except openai.APIStatusError:
            return None  # it answered: reachable, but lists no models
        except openai.APIConnectionError as exc:
            raise TranscriptionFailed(
                f"cannot reach {self.base_url} ({type(exc.__cause__ or exc).__name__})"
            ) from exc

    def _too_large(self, size: int) -> AudioTooLarge:
        return AudioTooLarge(
            f"{size} bytes > STT_MAX_BYTES {self.max_bytes}",
            size=file_size(size),
            limit=file_size(self.max_bytes),
        )

    async def close(self) -> None:
        await self._client.close()


def file_size(size: int) -> str:
    """``25.0 MB``, or ``16 kB`` under a tenth of a megabyte (where MB would read 0.0)."""
    if size >= 100_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(1, round(size / 1000))} kB"


def upload_name(attachment: Attachment) -> str:
    """The file name sent: the attachment's, with an audio extension the provider knows."""
    name = PurePath(attachment.name or "voice").name or "voice"
    if PurePath(name).suffix.lower() in EXTENSIONS:
        return name
    return name + EXTENSION_BY_MIME.get(_mime(attachment), ".ogg")


def _mime(attachment: Attachment) -> str:
    mime = (attachment.mime_type or "").split(";")[0].strip().lower()
    return mime or "application/octet-stream"


def _read(result: Any) -> tuple[str, float | None]:
    """Text and duration from whatever shape the server chose (verbose, json, plain text)."""
    if isinstance(result, str):
        return result.strip(), None
    text = str(getattr(result, "text", "") or "").strip()
    duration = getattr(result, "duration", None)
    if duration is None:  # newer models report billed seconds as usage instead
        usage = getattr(result, "usage", None)
        duration = getattr(usage, "seconds", None)
    try:
        return text, float(duration) if duration is not None else None
    except (TypeError, ValueError):
        return text, None


def _message(exc: openai.APIStatusError) -> str:
    """The server's own error message, short (never the request, which carries the key)."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        if message:
            return str(message)[:200]
    return str(exc.message)[:200]
