"""Real audio bytes made by the tests (WAV through the standard ``wave`` module) and the
attachments that carry them."""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave

from core.types import Attachment

RATE = 8_000


def wav(seconds: float = 1.0, *, pitch: float = 440.0) -> bytes:
    """A mono 16-bit PCM tone: a file any decoder opens, whose length the emulator measures."""
    frames = int(seconds * RATE)
    samples = (int(8_000 * math.sin(2 * math.pi * pitch * i / RATE)) for i in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


def heard(data: bytes, seconds: float) -> str:
    """The emulator's default transcript of ``data``: names its length and its sha256."""
    return f"(transcript of a {seconds:.1f}-second recording, sha256 {hashlib.sha256(data).hexdigest()[:12]})"


class Voice:
    """An audio attachment that counts its downloads (limits must refuse before any)."""

    def __init__(
        self,
        data: bytes,
        *,
        name: str = "voice.wav",
        mime: str = "audio/wav",
        size: int | None = None,
        duration: float | None = None,
        kind: str = "audio",
    ) -> None:
        self.data = data
        self.fetches = 0
        self.attachment = Attachment(
            name=name,
            mime_type=mime,
            size=len(data) if size is None else size,
            fetch=self._fetch,
            kind=kind,
            duration=duration,
        )

    async def _fetch(self) -> bytes:
        self.fetches += 1
        return self.data
