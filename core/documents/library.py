"""A conversation's document library: ingest files, list and forget them, retrieve sections."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from core import texts
from core.documents.analyzer import query_terms
from core.documents.extractor import MoonshotExtractor
from core.documents.formats import check_file
from core.documents.sections import split_sections
from core.tokens import raw_estimate
from core.types import Attachment, Author
from storage import Database
from storage.documents import LibraryItem, NewSection, SectionHit, StoredDocument

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ingested:
    number: int
    name: str
    token_count: int
    newly_added: bool


@dataclass(frozen=True, slots=True)
class LibraryDocument:
    item: LibraryItem
    content: str
    file_type: str

    def system_message(self) -> str:
        """Moonshot's documented shape: the file-content JSON as a system message, named."""
        return json.dumps(
            {
                "content": self.content,
                "file_type": self.file_type,
                "filename": self.item.name,
                "title": self.item.name,
                "type": "file",
            },
            ensure_ascii=False,
        )


class DocumentLibrary:
    def __init__(self, db: Database, extractor: MoonshotExtractor) -> None:
        self._db = db
        self._extractor = extractor

    async def ingest(
        self, conversation_id: int, attachment: Attachment, author: Author
    ) -> Ingested:
        """Validate, then reuse a stored extraction of the same bytes or extract anew."""
        checked = check_file(attachment.name, attachment.mime_type, attachment.size)
        data = await attachment.fetch()
        checked = check_file(checked.name, checked.mime_type, len(data))
        digest = hashlib.sha256(data).hexdigest()
        document = await self._db.documents.find_by_hash(digest)
        if document is not None:
            attached = await self._attach(conversation_id, document, checked.name, author)
            if attached is not None:
                return attached
            # Retention deleted that unused extraction just now: extract the file again.
        document = await self._extract(digest, checked.name, checked.mime_type, data)
        attached = await self._attach(conversation_id, document, checked.name, author)
        if attached is None:  # only an extraction older than the retention window can go
            raise RuntimeError(f"document {document.id} vanished while being added")
        return attached

    async def _extract(self, digest: str, name: str, mime_type: str, data: bytes) -> StoredDocument:
        extraction = await self._extractor.extract(name, data, mime_type)
        sections = split_sections(extraction.content)
        document = await self._db.documents.create(
            sha256=digest,
            file_name=name,
            mime_type=mime_type,
            size_bytes=len(data),
            file_type=extraction.file_type,
            content=extraction.content,
            token_count=extraction.token_count or raw_estimate(extraction.content),
            sections=[
                NewSection(s.title, s.content, s.token_count, s.search_terms) for s in sections
            ],
        )
        log.info("extracted %s: %d tokens, %d sections", name, document.token_count, len(sections))
        return document

    async def _attach(
        self, conversation_id: int, document: StoredDocument, name: str, author: Author
    ) -> Ingested | None:
        attached = await self._db.documents.attach(
            conversation_id,
            document.id,
            name=name,
            added_by=author.id,
            added_by_name=author.name,
        )
        if attached is None:
            return None
        number, added = attached
        return Ingested(number, name, document.token_count, added)

    async def listing(self, conversation_id: int) -> list[LibraryItem]:
        return await self._db.documents.library(conversation_id)

    async def forget(self, conversation_id: int, number: int | None) -> int:
        return await self._db.documents.forget(conversation_id, number)

    async def documents(self, conversation_id: int) -> list[LibraryDocument]:
        rows = await self._db.documents.contents(conversation_id)
        return [LibraryDocument(item, content, file_type) for item, content, file_type in rows]

    async def retrieve(
        self,
        conversation_id: int,
        question: str,
        budget_tokens: int,
        documents: list[LibraryDocument],
    ) -> list[SectionHit]:
        """The best sections for the question within the budget, in document order."""
        hits = await self._db.documents.search(conversation_id, query_terms(question), limit=200)
        if not hits:  # e.g. "summarise this": start from each document's beginning
            hits = await self._db.documents.search(
                conversation_id, _opening_terms(documents), limit=200
            )
        chosen: list[SectionHit] = []
        used = 0
        for hit in hits:
            if used + hit.token_count > budget_tokens:
                continue
            chosen.append(hit)
            used += hit.token_count
        chosen.sort(key=lambda h: (h.number, h.ordinal))
        return chosen


def _opening_terms(documents: list[LibraryDocument]) -> list[str]:
    terms: list[str] = []
    for document in documents:
        terms.extend(query_terms(document.content[:400], limit=10))
    return terms


def sections_message(hits: list[SectionHit]) -> str:
    parts = [f"[{hit.document_name} — {hit.title}]\n{hit.content}" for hit in hits]
    return (
        "The user's documents are larger than the model's context window. These are the "
        "sections most relevant to the question; say so if they do not contain the answer.\n\n"
        + "\n\n".join(parts)
    )


def sources_footer(hits: list[SectionHit], lang: str = "en") -> str:
    by_document: dict[str, list[str]] = {}
    for hit in hits:
        section = texts.text("doc_section", lang, number=hit.ordinal)
        by_document.setdefault(hit.document_name, []).append(section)
    listed = "; ".join(f"{name}: {', '.join(s)}" for name, s in by_document.items())
    return texts.text("doc_sources", lang, listed=listed)
