"""``POST /v1/audio/transcriptions``: an OpenAI-compatible speech-to-text endpoint on the same app.

Moonshot has no speech API; the bot's STT goes to any OpenAI-compatible provider (STT_BASE_URL), and
pointing that at the emulator lets tests run voice notes end to end with the real ``openai`` SDK.
The order mirrors the chat endpoint: the body is read whole (so the client never gets a broken pipe),
the request recorded, an injected ``stt_*`` fault applied, then validation, then the answer: the
next scripted transcript, else a deterministic one derived from the file (audio.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from emulators.moonshot import errors
from emulators.moonshot.audio import default_transcript, duration_of
from emulators.moonshot.scripts import Fault, ScriptedTranscript
from emulators.moonshot.state import EmulatorState
from emulators.moonshot.streaming import pause

READ_CHUNK = 256 * 1024
FORMATS = ("json", "text", "verbose_json")
DEFAULT_LANGUAGE = "english"  # what OpenAI's verbose_json names when nobody said


@dataclass(slots=True)
class Upload:
    """The multipart fields of one transcription request."""

    model: str = ""
    filename: str = ""
    data: bytes | None = None
    size: int = 0  # bytes received in the file field, even past the limit
    response_format: str = "json"
    language: str = ""


class SpeechApi:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/audio/transcriptions", self.transcriptions)]

    async def transcriptions(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            return errors.invalid_request(
                "the request must be multipart/form-data with a 'file' field"
            )
        upload = await self._read(request)
        self.state.transcriptions.append(
            {
                "model": upload.model,
                "filename": upload.filename,
                "size": upload.size,
                "response_format": upload.response_format,
                "language": upload.language,
            }
        )
        fault = self.state.take_fault(speech=True)
        if fault is not None and fault.kind != "stt_slow":
            if fault.kind == "stt_rate_limit":
                self.state.rate_limited_count += 1
            return _fault_response(fault)
        problem = self._problem(upload)
        if problem is not None:
            return problem
        if fault is not None and await pause(self.state.closing, fault.delay, request):
            return errors.server_error()
        assert upload.data is not None
        return _answer(upload, upload.data, self.state.take_transcript())

    async def _read(self, request: web.Request) -> Upload:
        upload = Upload()
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                upload.filename = part.filename or "file"
                upload.data, upload.size = await self._read_limited(part)
            elif part.name in ("model", "response_format", "language"):
                setattr(upload, part.name, (await part.text()).strip())
            else:
                await part.release()
        return upload

    async def _read_limited(self, part: BodyPartReader) -> tuple[bytes | None, int]:
        """The file's bytes (None past the limit: the rest is read and dropped) and its size."""
        chunks: list[bytes] = []
        size = 0
        limit = self.state.max_audio_bytes
        while chunk := await part.read_chunk(READ_CHUNK):
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            elif chunks:
                chunks.clear()
        return (b"".join(chunks) if size <= limit else None), size

    def _problem(self, upload: Upload) -> web.Response | None:
        if upload.size > self.state.max_audio_bytes:
            message = (
                f"Maximum content size limit ({self.state.max_audio_bytes}) exceeded "
                f"({upload.size} bytes read)"
            )
            return errors.error_response(413, "server_error", message)
        if upload.data is None:
            return errors.invalid_request("the 'file' field is required")
        if not upload.data:
            return errors.invalid_request("the audio file is empty")
        if not upload.model:
            return errors.invalid_request("the 'model' field is required")
        if upload.response_format not in FORMATS:
            return errors.invalid_request(
                f"response_format {upload.response_format!r} is not supported, "
                f"use one of {', '.join(FORMATS)}"
            )
        return None


def _answer(upload: Upload, data: bytes, script: ScriptedTranscript | None) -> web.Response:
    measured = duration_of(data)
    duration = script.duration if script and script.duration is not None else measured
    text = script.text if script else default_transcript(data, measured)
    if upload.response_format == "text":
        return web.Response(text=text + "\n", content_type="text/plain")
    body: dict[str, Any] = {"text": text}
    if upload.response_format == "verbose_json":
        language = (script.language if script else None) or upload.language or DEFAULT_LANGUAGE
        seconds = duration or 0.0
        body = {
            "task": "transcribe",
            "language": language,
            "duration": seconds,
            "text": text,
            "segments": [_segment(text, seconds)],
        }
    if duration is not None:
        body["usage"] = {"type": "duration", "seconds": math.ceil(duration)}
    return web.Response(text=json.dumps(body, ensure_ascii=False), content_type="application/json")


def _segment(text: str, seconds: float) -> dict[str, Any]:
    return {
        "id": 0,
        "seek": 0,
        "start": 0.0,
        "end": seconds,
        "text": text,
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": -0.1,
        "compression_ratio": 1.0,
        "no_speech_prob": 0.0,
    }


def _fault_response(fault: Fault) -> web.Response:
    if fault.kind == "stt_rate_limit":
        return errors.error_response(
            429, "rate_limit_reached_error", "Rate limit reached for requests, please try again"
        )
    return errors.server_error("The server had an error while processing the audio")
