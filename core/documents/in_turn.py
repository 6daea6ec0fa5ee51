"""What a conversation's documents add to one turn: model choice, system messages, sources."""

from __future__ import annotations

from dataclasses import dataclass, field

from core import texts
from core.catalog import Catalog, ModelSpec
from core.documents.library import DocumentLibrary, sections_message, sources_footer
from core.documents.planning import Mode, plan_documents
from core.tokens import TokenEstimator
from core.types import ReplySink
from storage import ConversationRecord, Database


@dataclass(slots=True)
class DocumentTurn:
    model: ModelSpec
    system_messages: list[str] = field(default_factory=list)
    footer: str = ""
    # Sections retrieved for this question (not the whole documents): they change from turn to
    # turn, so the context puts them after the history, where they do not break the cache.
    per_question: bool = False


class DocumentContext:
    def __init__(
        self,
        db: Database,
        library: DocumentLibrary | None,
        catalog: Catalog,
        estimator: TokenEstimator,
        max_output: int | None,
    ) -> None:
        self._db = db
        self._library = library
        self._catalog = catalog
        self._estimator = estimator
        self._max_output = max_output

    async def prepare(
        self,
        conversation: ConversationRecord,
        model: ModelSpec,
        question: str,
        system_prompt: str,
        sink: ReplySink,
    ) -> DocumentTurn:
        if self._library is None:
            return DocumentTurn(model)
        if conversation.known_without_documents:
            return DocumentTurn(model)  # read with the conversation: nothing to look up
        documents = await self._library.documents(conversation.id)
        if not documents:
            return DocumentTurn(model)
        lang = texts.language_of(question)
        document_tokens = sum(d.item.token_count for d in documents)
        base = self._estimator.text(system_prompt) + self._estimator.text(question) + 64
        plan = plan_documents(self._catalog, model, document_tokens, base, self._max_output)
        if (
            plan.switched_from(model)
            and conversation.options.get("announced_model") != plan.model.id
        ):
            await sink.reply(
                texts.text(
                    "doc_model_switch",
                    lang,
                    tokens=document_tokens,
                    model=model.id,
                    bigger=plan.model.id,
                    window=plan.model.context_window // 1024,
                )
            )
            await self._db.conversations.update_settings(
                conversation.id, options={**conversation.options, "announced_model": plan.model.id}
            )
        if plan.mode is Mode.FULL:
            return DocumentTurn(plan.model, [d.system_message() for d in documents])
        hits = await self._library.retrieve(
            conversation.id, question, plan.section_budget, documents
        )
        if not hits:
            return DocumentTurn(plan.model)
        return DocumentTurn(
            plan.model, [sections_message(hits)], sources_footer(hits, lang), per_question=True
        )
