"""Read a chat message from the browser: JSON ``{"text": ...}`` or a multipart form with files.

Files are read in chunks and never past the document size limit, so a huge upload costs us at
most that much memory; an oversized file is refused with the limit before anything is stored
(the page checks sizes before uploading, so only a hand-made request gets that far).

Images and audio come the same way as documents; the core tells them apart by type and name
(``core.attachment_kinds``). Images may have their own, smaller limit (``max_image_bytes``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import BodyPartReader, web

from core.assistant import MAX_MESSAGE_CHARS
from core.attachment_kinds import IMAGE, kind_of
from core.documents.formats import MAX_FILE_BYTES
from core.types import Attachment

MAX_FILES = 10
MAX_TEXT_BYTES = MAX_MESSAGE_CHARS * 4 + 1024  # UTF-8 worst case, so the core's own check speaks
CHUNK = 256 * 1024


class BadMessage(Exception):
    """The request is not a chat message we can read; the text is shown to the user."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class WebMessage:
    text: str
    attachments: tuple[Attachment, ...]


async def read_message(
    request: web.Request,
    *,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_image_bytes: int | None = None,
) -> WebMessage:
    if request.content_type == "multipart/form-data":
        limits = _Limits(max_file_bytes, max_image_bytes or max_file_bytes)
        return await _read_form(request, limits)
    if request.content_type == "application/json":
        if request.content_length is not None and request.content_length > MAX_TEXT_BYTES:
            raise BadMessage("That message is too long to send.", 413)
        try:
            body = json.loads(await request.text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadMessage("The message could not be read (malformed JSON).") from None
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise BadMessage("The message has no text.")
        return WebMessage(text=text, attachments=())
    raise BadMessage("Send the message as JSON or as a form.")


@dataclass(frozen=True, slots=True)
class _Limits:
    file: int
    image: int

    def of(self, name: str, mime: str) -> int:
        probe = Attachment(name=name, mime_type=mime, size=0, fetch=_bytes_of(b""))
        return self.image if kind_of(probe) == IMAGE else self.file


async def _read_form(request: web.Request, limits: _Limits) -> WebMessage:
    text = ""
    attachments: list[Attachment] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise BadMessage("Nested forms are not supported.")
        if part.name == "text":
            data = await _read_capped(part, MAX_TEXT_BYTES)
            if data is None:
                raise BadMessage("That message is too long to send.")
            text = data.decode("utf-8", errors="replace")
        elif part.name == "file" and part.filename is not None:
            if len(attachments) >= MAX_FILES:
                raise BadMessage(f"Send at most {MAX_FILES} files at a time.")
            attachments.append(await _attachment(part, limits))
        else:
            await part.release()
    return WebMessage(text=text, attachments=tuple(attachments))


async def _attachment(part: BodyPartReader, limits: _Limits) -> Attachment:
    name = part.filename or "file"
    mime = part.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
    max_bytes = limits.of(name, mime)
    data = await _read_capped(part, max_bytes)
    if data is None:
        limit = max_bytes / 1024 / 1024
        raise BadMessage(f"“{name}” is larger than {limit:g} MB, the limit per file.", 413)
    return Attachment(name=name, mime_type=mime, size=len(data), fetch=_bytes_of(data))


async def _read_capped(part: BodyPartReader, limit: int) -> bytes | None:
    """The part's bytes, or None (and the rest skipped) if it is longer than ``limit``."""
    chunks: list[bytes] = []
    total = 0
    while chunk := await part.read_chunk(CHUNK):
        total += len(chunk)
        if total > limit:
            await part.release()
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _bytes_of(data: bytes) -> Callable[[], Awaitable[bytes]]:
    async def fetch() -> bytes:
        return data

    return fetch
