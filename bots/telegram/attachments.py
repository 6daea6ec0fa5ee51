"""Documents and photos as core Attachments, downloaded only when the core asks.

The Bot API lets bots download files up to 20 MB (``getFile`` fails above that), so bigger
files are refused from the size Telegram reports, before any download attempt.
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

    @property
    def too_large(self) -> bool:
        return self.size > MAX_DOWNLOAD_BYTES


def file_of(message: Message) -> FileRef | None:
    """The document, or the largest size of the photo, in a message."""
    if message.document is not None:
        document = message.document
        name = document.file_name or f"document_{document.file_unique_id}"
        mime = document.mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return FileRef(document.file_id, name, mime, document.file_size or 0)
    if message.photo:
        photo = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return FileRef(
            photo.file_id, f"photo_{photo.file_unique_id}.jpg", "image/jpeg", photo.file_size or 0
        )
    return None


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

    return Attachment(name=ref.name, mime_type=ref.mime_type, size=ref.size, fetch=fetch)


def size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def too_large_text(ref: FileRef, lang: str) -> str:
    return texts.text("telegram_too_large", lang, name=ref.name, size=size_text(ref.size))
