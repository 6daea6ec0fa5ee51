"""Turning a message's attachments into library entries, with a clear reply for each outcome."""

from __future__ import annotations

import logging

from core import errors, texts
from core.documents.extractor import ExtractionFailed
from core.documents.formats import DocumentRejected
from core.documents.library import DocumentLibrary, Ingested
from core.types import Incoming, ReplySink

log = logging.getLogger(__name__)


class Ingestion:
    def __init__(self, library: DocumentLibrary | None) -> None:
        self._library = library

    async def ingest_all(
        self, conversation_id: int, incoming: Incoming, sink: ReplySink, lang: str
    ) -> list[Ingested]:
        if self._library is None:
            await sink.reply(texts.text("docs_disabled", lang))
            return []
        added: list[Ingested] = []
        for attachment in incoming.attachments:
            name = attachment.name or "file"
            try:
                result = await self._library.ingest(conversation_id, attachment, incoming.author)
            except DocumentRejected as exc:
                log.info("document refused in %s: %s", incoming.key.label(), exc.reason)
                await sink.reply(exc.message(lang))
                continue
            except ExtractionFailed as exc:
                log.warning("extraction failed for %s in %s: %s", name, incoming.key.label(), exc)
                await sink.reply(texts.text("doc_unreadable", lang, name=name, detail=exc))
                continue
            except errors.KimiError as exc:
                log.error("upload of %s failed: %s %s", name, exc.kind, exc.detail)
                reason = texts.error_text(exc, lang)
                await sink.reply(texts.text("doc_failed", lang, name=name, reason=reason))
                continue
            added.append(result)
            await sink.reply(_acknowledgement(result, lang))
        return added


def _acknowledgement(result: Ingested, lang: str) -> str:
    key = "doc_added" if result.newly_added else "doc_known"
    return texts.text(key, lang, name=result.name, number=result.number, tokens=result.token_count)
