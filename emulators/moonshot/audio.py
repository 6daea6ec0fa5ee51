"""What the emulator's speech-to-text 'hears': a deterministic transcript derived from the file.

Tests either script the transcript or check the default one, which names the file's duration (WAV
through the ``wave`` module, Ogg Opus voice notes from their last granule position) or, for other
formats, its size and sha256 prefix, so a test can tell that the exact bytes arrived.
"""

from __future__ import annotations

import hashlib
import io
import struct
import wave

SHA_SHOWN = 12
OPUS_RATE = 48_000  # Opus granule positions always count 48 kHz samples
OGG_CAPTURE = b"OggS"
OPUS_HEAD = b"OpusHead"


def duration_of(data: bytes) -> float | None:
    """Seconds of audio for a PCM WAV or an Ogg Opus file; None when the format is unknown."""
    wav = _wav_duration(data)
    return wav if wav is not None else _opus_duration(data)


def default_transcript(data: bytes, duration: float | None) -> str:
    """``(transcript of a 2.0-second recording, sha256 …)`` or ``(transcript of N bytes, …)``."""
    sha = hashlib.sha256(data).hexdigest()[:SHA_SHOWN]
    if duration is not None:
        return f"(transcript of a {duration:.1f}-second recording, sha256 {sha})"
    return f"(transcript of {len(data)} bytes, sha256 {sha})"


def _wav_duration(data: bytes) -> float | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            rate = reader.getframerate()
            return reader.getnframes() / rate if rate else None
    except (wave.Error, EOFError, struct.error):
        return None


def _opus_duration(data: bytes) -> float | None:
    """(last page's granule position - pre-skip) / 48 kHz, as players compute it."""
    if not data.startswith(OGG_CAPTURE):
        return None
    head = data.find(OPUS_HEAD)
    last = data.rfind(OGG_CAPTURE)
    if head < 0 or len(data) < head + 12 or len(data) < last + 14:
        return None
    (pre_skip,) = struct.unpack_from("<H", data, head + 10)
    (granule,) = struct.unpack_from("<q", data, last + 6)
    return max(0.0, (granule - pre_skip) / OPUS_RATE) if granule >= 0 else None
