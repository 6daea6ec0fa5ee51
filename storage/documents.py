"""Documents, their sections with full-text search, and per-conversation libraries.

Access always goes through a conversation's library entries, so one conversation can never
reach another's documents, even though identical files share one stored extraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Document, DocumentSection, LibraryEntry, utcnow
from storage.numbering import next_number
from storage.write_gate import WriteGate


@dataclass(frozen=True, slots=True)
class NewSection:
    title: str
    content: str
    token_count: int
    search_terms: str


@dataclass(frozen=True, slots=True)
class StoredDocument:
    id: int
    sha256: str
    file_name: str
    token_count: int
    file_type: str


@dataclass(frozen=True, slots=True)
class LibraryItem:
    number: int
    name: str
    document_id: int
    token_count: int
    added_by: str
    added_by_name: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class SectionHit:
    number: int
    document_name: str
    ordinal: int
    title: str
    content: str
    token_count: int
    score: float


_LIBRARY_COLUMNS = (
    LibraryEntry.number,
    LibraryEntry.name,
    LibraryEntry.document_id,
    Document.token_count,
    LibraryEntry.added_by,
    LibraryEntry.added_by_name,
    LibraryEntry.added_at,
)


def _library_query(conversation_id: int, *extra: Any) -> Select[Any]:
    return (
        select(*_LIBRARY_COLUMNS, *extra)
        .join(Document, Document.id == LibraryEntry.document_id)
        .where(LibraryEntry.conversation_id == conversation_id)
        .order_by(LibraryEntry.number)
    )


class DocumentRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = WriteGate.of(engine)  # every write takes its turn in the one line

    async def find_by_hash(self, sha256: str) -> StoredDocument | None:
        query = select(
            Document.id,
            Document.sha256,
            Document.file_name,
            Document.token_count,
            Document.file_type,
        ).where(Document.sha256 == sha256)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return StoredDocument(*row) if row else None

    async def create(
        self,
        *,
        sha256: str,
        file_name: str,
        mime_type: str,
        size_bytes: int,
        file_type: str,
        content: str,
        token_count: int,
        sections: list[NewSection],
    ) -> StoredDocument:
        """Store an extraction and its sections; a concurrent twin wins and is returned instead."""
        try:
            async with self._writes.transaction() as connection:
                document_id = (
                    await connection.execute(
                        insert(Document)
                        .values(
                            sha256=sha256,
                            file_name=file_name,
                            mime_type=mime_type,
                            size_bytes=size_bytes,
                            file_type=file_type,
                            content=content,
                            token_count=token_count,
                            created_at=utcnow(),
                        )
                        .returning(Document.id)
                    )
                ).scalar_one()
                if sections:
                    await connection.execute(
                        insert(DocumentSection),
                        [
                            {
                                "document_id": document_id,
                                "ordinal": i + 1,
                                "title": s.title[:300],
                                "content": s.content,
                                "token_count": s.token_count,
                                "search_terms": s.search_terms,
                            }
                            for i, s in enumerate(sections)
                        ],
                    )
        except IntegrityError:
            existing = await self.find_by_hash(sha256)
            if existing is None:
                raise
            return existing
        return StoredDocument(document_id, sha256, file_name, token_count, file_type)

    async def attach(
        self,
        conversation_id: int,
        document_id: int,
        *,
        name: str,
        added_by: str,
        added_by_name: str,
    ) -> tuple[int, bool] | None:
        """Add to the library; returns (number, newly_added). Numbers grow, never reused.

        None when the document is gone: retention deleted it (unused) after it was looked up.
        Locking it ``FOR SHARE`` first keeps :meth:`prune_unused` off it until this commits.
        """
        try:
            return await self._attach(conversation_id, document_id, name, added_by, added_by_name)
        except IntegrityError:  # SQLite: the document went between our read and our insert
            if await self._exists(document_id):
                raise
            return None

    async def _exists(self, document_id: int) -> bool:
        query = select(Document.id).where(Document.id == document_id)
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).first() is not None

    async def _attach(
        self, conversation_id: int, document_id: int, name: str, added_by: str, added_by_name: str
    ) -> tuple[int, bool] | None:
        async with self._writes.transaction() as connection:
            present = (
                await connection.execute(
                    select(Document.id).where(Document.id == document_id).with_for_update(read=True)
                )
            ).first()
            if present is None:
                return None
            existing = (
                await connection.execute(
                    select(LibraryEntry.number).where(
                        LibraryEntry.conversation_id == conversation_id,
                        LibraryEntry.document_id == document_id,
                    )
                )
            ).scalar()
            if existing is not None:
                return int(existing), False
            number = await next_number(
                connection, LibraryEntry.number, LibraryEntry.conversation_id, conversation_id
            )
            await connection.execute(
                insert(LibraryEntry).values(
                    conversation_id=conversation_id,
                    document_id=document_id,
                    number=number,
                    name=name,
                    added_by=added_by,
                    added_by_name=added_by_name,
                    added_at=utcnow(),
                )
            )
        return number, True

    async def library(self, conversation_id: int) -> list[LibraryItem]:
        async with self._engine.connect() as connection:
            rows = await connection.execute(_library_query(conversation_id))
            return [LibraryItem(*row) for row in rows]

    async def contents(self, conversation_id: int) -> list[tuple[LibraryItem, str, str]]:
        """Every library document with its full text and file type, in library order."""
        query = _library_query(conversation_id, Document.content, Document.file_type)
        async with self._engine.connect() as connection:
            rows = await connection.execute(query)
            width = len(_LIBRARY_COLUMNS)
            return [(LibraryItem(*row[:width]), row[width], row[width + 1]) for row in rows]

    async def forget(self, conversation_id: int, number: int | None) -> int:
        """Remove one entry (or all with None) from the library; the extraction stays cached."""
        statement = delete(LibraryEntry).where(LibraryEntry.conversation_id == conversation_id)
        if number is not None:
            statement = statement.where(LibraryEntry.number == number)
        async with self._writes.transaction() as connection:
            return int((await connection.execute(statement)).rowcount or 0)

    async def prune_unused(self, created_before: datetime, *, limit: int = 500) -> int:
        """Delete up to ``limit`` extractions made before ``created_before`` that no library
        entry uses (forgotten everywhere); their sections and search index go with them.

        Safe against a concurrent :meth:`attach` of the same document: the candidates are
        locked (attach waits, then finds the document gone and the file is extracted again),
        and the DELETE checks for entries once more in a statement of its own, which sees
        every attach that committed before the lock was taken.
        """
        unused = ~exists().where(LibraryEntry.document_id == Document.id)
        candidates = (
            select(Document.id)
            .where(Document.created_at < created_before, unused)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self._writes.transaction() as connection:
            ids = list((await connection.execute(candidates)).scalars())
            if not ids:
                return 0
            result = await connection.execute(delete(Document).where(Document.id.in_(ids), unused))
            return int(result.rowcount or 0)

    async def search(
        self, conversation_id: int, terms: list[str], limit: int = 20
    ) -> list[SectionHit]:
        """Best-matching sections of this conversation's documents, best first."""
        if not terms:
            return []
        if self._engine.dialect.name == "sqlite":
            query = text(
                "SELECT le.number, le.name, s.ordinal, s.title, s.content, s.token_count, "
                "bm25(document_sections_fts) AS rank "
                "FROM document_sections_fts "
                "JOIN document_sections s ON s.id = document_sections_fts.rowid "
                "JOIN library_entries le ON le.document_id = s.document_id "
                "WHERE document_sections_fts MATCH :match AND le.conversation_id = :conversation "
                "ORDER BY rank LIMIT :limit"
            )
            match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
            params = {"match": match, "conversation": conversation_id, "limit": limit}
            sign = -1.0  # bm25() is lower-is-better
        else:
            query = text(
                "SELECT le.number, le.name, s.ordinal, s.title, s.content, s.token_count, "
                "ts_rank(to_tsvector('simple', s.search_terms), q) AS rank "
                "FROM document_sections s "
                "JOIN library_entries le ON le.document_id = s.document_id, "
                "to_tsquery('simple', :query) q "
                "WHERE le.conversation_id = :conversation "
                "AND to_tsvector('simple', s.search_terms) @@ q "
                "ORDER BY rank DESC LIMIT :limit"
            )
            query_text = " | ".join(
                "'" + t.replace("'", "").replace("\\", "") + "'" for t in terms if t
            )
            params = {"query": query_text, "conversation": conversation_id, "limit": limit}
            sign = 1.0
        async with self._engine.connect() as connection:
            rows = await connection.execute(query, params)
            return [
                SectionHit(r[0], r[1], r[2], r[3], r[4], r[5], sign * float(r[6])) for r in rows
            ]

    async def section_count(self, conversation_id: int) -> int:
        query = (
            select(func.count(DocumentSection.id))
            .join(LibraryEntry, LibraryEntry.document_id == DocumentSection.document_id)
            .where(LibraryEntry.conversation_id == conversation_id)
        )
        async with self._engine.connect() as connection:
            return int((await connection.execute(query)).scalar() or 0)
