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
            await sink.reply("Documents are not enabled on this bot.")
            return []
        added: list[Ingested] = []
        for attachment in incoming.attachments:
            name = attachment.name or "file"
            try:
                result = await self._library.ingest(conversation_id, attachment, incoming.author)
            except DocumentRejected as exc:
                log.info("document refused in %s: %s", incoming.key.label(), exc.reason)
                await sink.reply(exc.reason)
                continue
            except ExtractionFailed as exc:
                log.warning("extraction failed for %s in %s: %s", name, incoming.key.label(), exc)
                await sink.reply(
                    f"I could not read “{name}”: Moonshot failed to extract its text ({exc}). "
                    "Check that the file opens and is not password-protected, or send another format."
                )
                continue
            except errors.KimiError as exc:
                log.error("upload of %s failed: %s %s", name, exc.kind, exc.detail)
                await sink.reply(f"“{name}”: {texts.error_text(exc, lang)}")
                continue
            added.append(result)
            await sink.reply(_acknowledgement(result))
        return added


def _acknowledgement(result: Ingested) -> str:
    if not result.newly_added:
        return (
            f"“{result.name}” is already document #{result.number} in this conversation "
            f"({result.token_count:,} tokens)."
        )
    return f"Added “{result.name}” as document #{result.number} ({result.token_count:,} tokens)."
