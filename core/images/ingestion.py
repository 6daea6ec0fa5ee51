"""Turning a message's images into stored, linked images, with a clear reply for each refusal.

The declared size is checked before downloading; the bytes are checked again after, then
decoded with Pillow (format, animation, corruption) in a thread. Identical bytes are stored
once; each message that carries them gets a link, numbered per conversation ("image #N").
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from core import texts
from core.images.tokens import ImageTokenCounter
from core.images.validation import ImageFacts, ImageRejected, inspect_image
from core.types import Attachment, Author, ReplySink
from storage import Database
from storage.images import StoredImage

log = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """IMAGE_MAX_BYTES (IMAGE_CONTEXT_TOKENS is the turn's: core.turn.TurnSettings)."""

    max_bytes: int = 10 * MB


@dataclass(frozen=True, slots=True)
class ReadImage:
    """An image that passed the checks; ``number`` is None when it was not linked (OCR path)."""

    name: str
    facts: ImageFacts
    data: bytes
    number: int | None = None


class ImageIngestion:
    def __init__(self, db: Database, counter: ImageTokenCounter, limits: ImageLimits) -> None:
        self._db = db
        self._counter = counter
        self._limits = limits

    async def ingest_all(
        self,
        conversation_id: int,
        message_id: int,
        attachments: list[Attachment],
        author: Author,
        sink: ReplySink,
        lang: str,
        *,
        link: bool = True,
    ) -> list[ReadImage]:
        """Every usable image, stored and linked (``link=False``: only checked, for OCR)."""
        read: list[ReadImage] = []
        for position, attachment in enumerate(attachments):
            name = attachment.name or "image"
            try:
                data, facts = await self._read(attachment)
            except ImageRejected as exc:
                log.info("image %s refused: %s", name, exc)
                await sink.reply(self._refusal(exc, name, lang))
                continue
            if not attachment.name:
                name = f"image.{'jpg' if facts.format == 'jpeg' else facts.format}"
            number = None
            if link:
                number = await self._store(
                    conversation_id, message_id, position, name, facts, data, author
                )
            read.append(ReadImage(name, facts, data, number))
        return read

    async def _read(self, attachment: Attachment) -> tuple[bytes, ImageFacts]:
        limit = self._limits.max_bytes
        if attachment.size > limit:
            raise ImageRejected("image_too_big", f"{attachment.size} bytes declared")
        data = await attachment.fetch()
        if len(data) > limit:
            raise ImageRejected("image_too_big", f"{len(data)} bytes")
        facts = await asyncio.to_thread(inspect_image, data)
        return data, facts

    def _refusal(self, exc: ImageRejected, name: str, lang: str) -> str:
        return texts.text(exc.key, lang, name=name, limit=self._limits.max_bytes / MB)

    async def _store(
        self,
        conversation_id: int,
        message_id: int,
        position: int,
        name: str,
        facts: ImageFacts,
        data: bytes,
        author: Author,
    ) -> int:
        digest = hashlib.sha256(data).hexdigest()
        for _ in range(2):  # retention may delete an unused row between lookup and link
            image = await self._db.images.find_by_hash(digest) or await self._create(
                digest, facts, data
            )
            number = await self._db.images.link(
                conversation_id,
                message_id,
                image.id,
                position=position,
                name=name,
                token_count=image.token_count,
                added_by=author.id,
                added_by_name=author.name,
            )
            if number is not None:
                return number
        raise RuntimeError(f"image {digest[:12]} vanished while being linked")

    async def _create(self, digest: str, facts: ImageFacts, data: bytes) -> StoredImage:
        tokens = await self._counter.count(facts.format, data, facts.width, facts.height)
        image = await self._db.images.create(
            sha256=digest,
            format=facts.format,
            width=facts.width,
            height=facts.height,
            data=data,
            token_count=tokens,
        )
        log.info(
            "stored image %s: %s %dx%d, %d bytes, ~%d tokens",
            digest[:12],
            facts.format,
            facts.width,
            facts.height,
            len(data),
            tokens,
        )
        return image
