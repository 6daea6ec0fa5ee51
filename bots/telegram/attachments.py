"""Documents, photos and sound as core Attachments, downloaded only when the core asks.

The Bot API lets bots download files up to 20 MB (``getFile`` fails above that), so bigger
files are refused from the size Telegram reports, before any download attempt.

What Telegram calls a photo is an image and a voice note, an audio file or a round video note is
audio (the core transcribes its sound); a document says nothing, so the core decides from its
MIME type and name (``core.attachment_kinds``). Stickers, GIF animations and ordinary videos
are none of these: :func:`unsupported_of` names them for a clear reply.
"""

from __future__ import annotations

import asyncio
import mimetypes
from dataclasses import dataclass

from telegram import Bot, Message

from core import texts
from core.types import Attachment

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileRef:
    """What a message says about its file, before anything is downloaded."""

    file_id: str
    name: str
    mime_type: str
    size: int
    kind: str = ""  # "image" / "audio" when Telegram says so; "" lets the core decide
    duration: float | None = None  # seconds, for voice, audio and video notes

    @property
    def too_large(self) -> bool:
        return self.size > MAX_DOWNLOAD_BYTES


def file_of(message: Message) -> FileRef | None:
    """The document, the largest size of the photo, or the sound in a message."""
    if message.animation is not None or message.sticker is not None:
        return None  # an animation also fills ``document`` (for old clients): not a document
    if message.document is not None:
        document = message.document
        name = document.file_name or f"document_{document.file_unique_id}"
        mime = document.mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return FileRef(document.file_id, name, mime, document.file_size or 0)
    if message.photo:
        photo = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        name = f"photo_{photo.file_unique_id}.jpg"
        return FileRef(photo.file_id, name, "image/jpeg", photo.file_size or 0, kind="image")
    return _sound_of(message)


def _sound_of(message: Message) -> FileRef | None:
    if message.voice is not None:
        voice = message.voice
        mime = voice.mime_type or "audio/ogg"
        name = f"voice_{voice.file_unique_id}{_extension(mime, '.ogg')}"
        return FileRef(
            voice.file_id, name, mime, voice.file_size or 0, "audio", float(voice.duration)
        )
    if message.audio is not None:
        audio = message.audio
        mime = audio.mime_type or "audio/mpeg"
        name = audio.file_name or f"audio_{audio.file_unique_id}{_extension(mime, '.mp3')}"
        return FileRef(
            audio.file_id, name, mime, audio.file_size or 0, "audio", float(audio.duration)
        )
    if message.video_note is not None:
        note = message.video_note
        name = f"video_note_{note.file_unique_id}.mp4"  # always MPEG-4; Telegram gives no MIME
        return FileRef(
            note.file_id, name, "video/mp4", note.file_size or 0, "audio", float(note.duration)
        )
    return None


def _extension(mime: str, default: str) -> str:
    if mime in ("audio/ogg", "audio/opus"):
        return ".ogg"
    return mimetypes.guess_extension(mime) or default


def unsupported_of(message: Message) -> str | None:
    """The phrase key naming what the message carries that we cannot use, if anything."""
    if message.sticker is not None:
        return "telegram_media_sticker"
    if message.animation is not None:
        return "telegram_media_animation"
    if message.video is not None:
        return "telegram_media_video"
    return None


def unsupported_text(what_key: str, lang: str) -> str:
    return texts.text("telegram_unsupported_media", lang, what=texts.text(what_key, lang))


def attachment(bot: Bot, ref: FileRef) -> Attachment:
    """A lazy handle: the first ``fetch`` calls getFile and downloads; later calls reuse it."""
    lock = asyncio.Lock()
    downloaded: list[bytes] = []

    async def fetch() -> bytes:
        async with lock:
            if not downloaded:
                telegram_file = await bot.get_file(ref.file_id)
                downloaded.append(bytes(await telegram_file.download_as_bytearray()))
            return downloaded[0]

    return Attachment(
        name=ref.name,
        mime_type=ref.mime_type,
        size=ref.size,
        fetch=fetch,
        kind=ref.kind,
        duration=ref.duration,
    )


def size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def too_large_text(ref: FileRef, lang: str) -> str:
    return texts.text("telegram_too_large", lang, name=ref.name, size=size_text(ref.size))
