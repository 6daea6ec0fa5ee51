"""Images users sent: each distinct image stored once (sha256), linked to the messages that
carried it in a conversation.

Access goes through a conversation's links, so one conversation never reaches another's images
even though identical bytes share one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import ConversationImage, Image, utcnow
from storage.numbering import next_number
from storage.write_gate import WriteGate


@dataclass(frozen=True, slots=True)
class StoredImage:
    id: int
    sha256: str
    format: str
    width: int
    height: int
    size_bytes: int
    token_count: int


@dataclass(frozen=True, slots=True)
class LinkedImage:
    """One image as a conversation knows it (no bytes: listing and budgeting need none)."""

    number: int
    message_id: int
    position: int
    image_id: int
    name: str
    format: str
    width: int
    height: int
    size_bytes: int
    token_count: int
    added_by: str
    added_by_name: str
    added_at: datetime


_IMAGE_COLUMNS = (
    Image.id,
    Image.sha256,
    Image.format,
    Image.width,
    Image.height,
    Image.size_bytes,
    Image.token_count,
)
_LINK_COLUMNS = (
    ConversationImage.number,
    ConversationImage.message_id,
    ConversationImage.position,
    ConversationImage.image_id,
    ConversationImage.name,
    Image.format,
    Image.width,
    Image.height,
    Image.size_bytes,
    ConversationImage.token_count,
    ConversationImage.added_by,
    ConversationImage.added_by_name,
    ConversationImage.added_at,
)


class ImageRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = WriteGate.of(engine)  # every write takes its turn in the one line

    async def find_by_hash(self, sha256: str) -> StoredImage | None:
        query = select(*_IMAGE_COLUMNS).where(Image.sha256 == sha256)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return StoredImage(*row) if row else None

    async def create(
        self,
        *,
        sha256: str,
        format: str,
        width: int,
        height: int,
        data: bytes,
        token_count: int,
    ) -> StoredImage:
        """Store the bytes once; a concurrent twin wins and is returned instead."""
        try:
            async with self._writes.transaction() as connection:
                image_id = (
                    await connection.execute(
                        insert(Image)
                        .values(
                            sha256=sha256,
                            format=format,
                            width=width,
                            height=height,
                            size_bytes=len(data),
                            token_count=token_count,
                            data=data,
                            created_at=utcnow(),
                        )
                        .returning(Image.id)
                    )
                ).scalar_one()
        except IntegrityError:
            existing = await self.find_by_hash(sha256)
            if existing is None:
                raise
            return existing
        return StoredImage(image_id, sha256, format, width, height, len(data), token_count)

    async def link(
        self,
        conversation_id: int,
        message_id: int,
        image_id: int,
        *,
        position: int,
        name: str,
        token_count: int,
        added_by: str,
        added_by_name: str,
    ) -> int | None:
        """Link an image to the message that carried it; returns its number in the
        conversation (numbers grow, never reused), or None when retention deleted the image
        after it was looked up (the caller stores it again). Locking the image row ``FOR
        SHARE`` keeps :meth:`prune_unused` off it until this commits."""
        try:
            async with self._writes.transaction() as connection:
                present = (
                    await connection.execute(
                        select(Image.id).where(Image.id == image_id).with_for_update(read=True)
                    )
                ).first()
                if present is None:
                    return None
                number = await next_number(
                    connection,
                    ConversationImage.number,
                    ConversationImage.conversation_id,
                    conversation_id,
                )
                await connection.execute(
                    insert(ConversationImage).values(
                        conversation_id=conversation_id,
                        message_id=message_id,
                        image_id=image_id,
                        number=number,
                        position=position,
                        name=name[:512],
                        token_count=token_count,
                        added_by=added_by,
                        added_by_name=added_by_name[:256],
                        added_at=utcnow(),
                    )
                )
        except IntegrityError:  # SQLite: the image went between our read and our insert
            if await self._exists(image_id):
                raise
            return None
        return number

    async def _exists(self, image_id: int) -> bool:
        query = select(Image.id).where(Image.id == image_id)
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).first() is not None

    async def linked(
        self, conversation_id: int, up_to_message_id: int | None = None
    ) -> list[LinkedImage]:
        """The conversation's images, newest message first (then in the order sent)."""
        query = (
            select(*_LINK_COLUMNS)
            .join(Image, Image.id == ConversationImage.image_id)
            .where(ConversationImage.conversation_id == conversation_id)
            .order_by(ConversationImage.message_id.desc(), ConversationImage.position)
        )
        if up_to_message_id is not None:
            query = query.where(ConversationImage.message_id <= up_to_message_id)
        async with self._engine.connect() as connection:
            return [LinkedImage(*row) for row in await connection.execute(query)]

    async def listing(self, conversation_id: int) -> list[LinkedImage]:
        """The conversation's images by number (for ``/docs``)."""
        return sorted(await self.linked(conversation_id), key=lambda i: i.number)

    async def has_images(self, conversation_id: int, up_to_message_id: int) -> bool:
        query = select(
            exists().where(
                ConversationImage.conversation_id == conversation_id,
                ConversationImage.message_id <= up_to_message_id,
            )
        )
        async with self._engine.connect() as connection:
            return bool((await connection.execute(query)).scalar())

    async def data(self, image_ids: list[int]) -> dict[int, bytes]:
        """The bytes of the images about to be sent (only those: they can be large)."""
        if not image_ids:
            return {}
        query = select(Image.id, Image.data).where(Image.id.in_(set(image_ids)))
        async with self._engine.connect() as connection:
            return {row[0]: bytes(row[1]) for row in await connection.execute(query)}

    async def forget(self, conversation_id: int, number: int | None) -> int:
        """Remove one link (or all with None); the bytes stay until retention trims them."""
        statement = delete(ConversationImage).where(
            ConversationImage.conversation_id == conversation_id
        )
        if number is not None:
            statement = statement.where(ConversationImage.number == number)
        async with self._writes.transaction() as connection:
            return int((await connection.execute(statement)).rowcount or 0)

    async def prune_unused(self, created_before: datetime, *, limit: int = 200) -> int:
        """Delete up to ``limit`` images stored before ``created_before`` that no conversation
        links any more (the same concurrency argument as documents' ``prune_unused``)."""
        unused = ~exists().where(ConversationImage.image_id == Image.id)
        candidates = (
            select(Image.id)
            .where(Image.created_at < created_before, unused)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self._writes.transaction() as connection:
            ids = list((await connection.execute(candidates)).scalars())
            if not ids:
                return 0
            result = await connection.execute(delete(Image).where(Image.id.in_(ids), unused))
            return int(result.rowcount or 0)
