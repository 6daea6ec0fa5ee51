"""One answer: build the context, stream Kimi to the sink, store the answer and its usage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core import errors, texts
from core.catalog import Catalog, ModelSpec
from core.context import BuiltContext, ContextBuilder, MessageTooLong
from core.documents.library import DocumentLibrary, sections_message, sources_footer
from core.documents.planning import Mode, max_tokens_for, plan_documents
from core.kimi import Completion, DeltaCallback, KimiClient, PartialAnswer, RetryCallback
from core.tokens import TokenEstimator, raw_estimate
from core.types import Incoming, ReplySink
from storage import (
    COMPLETE,
    FAILED,
    IN_PROGRESS,
    INCOMPLETE,
    ConversationRecord,
    Database,
    StoredMessage,
)
from storage.records import UsageEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnSettings:
    system_prompt: str
    max_output: int
    temperature: float


@dataclass(slots=True)
class TurnOutcome:
    status: str
    text: str
    answer_id: int | None = None
    error: errors.KimiError | None = None
    completion: Completion | None = None


class TurnRunner:
    """Runs one turn for a conversation whose lock the caller holds."""

    def __init__(
        self,
        *,
        db: Database,
        kimi: KimiClient,
        estimator: TokenEstimator,
        builder: ContextBuilder,
        settings: TurnSettings,
        catalog: Catalog,
        library: DocumentLibrary | None = None,
    ) -> None:
        self._db = db
        self._kimi = kimi
        self._estimator = estimator
        self._builder = builder
        self._settings = settings
        self._catalog = catalog
        self._library = library

    async def run(
        self,
        conversation: ConversationRecord,
        model: ModelSpec,
        incoming: Incoming,
        user_message_id: int,
        sink: ReplySink,
    ) -> TurnOutcome:
        lang = texts.language_of(incoming.text)
        system_prompt = conversation.system_prompt or self._settings.system_prompt
        model, extra_system, footer = await self._with_documents(
            conversation, model, incoming, system_prompt, sink
        )
        max_tokens = max_tokens_for(model, self._settings.max_output)
        budget = model.context_window - max_tokens

        async def build(budget: int) -> BuiltContext:
            return await self._builder.build(
                conversation_id=conversation.id,
                current_message_id=user_message_id,
                system_prompt=system_prompt,
                budget=budget,
                is_group=conversation.is_group,
                current=current,
                extra_system=extra_system,
            )

        current = StoredMessage(
            id=user_message_id,
            role="user",
            content=incoming.text,
            token_estimate=raw_estimate(incoming.text),
            status=COMPLETE,
            author_id=incoming.author.id,
            author_name=incoming.author.name or None,
        )
        try:
            context = await build(budget)
        except MessageTooLong as exc:
            await self._db.messages.finish(
                user_message_id,
                content=incoming.text,
                status=FAILED,
                token_estimate=raw_estimate(incoming.text),
                error="too long for the model window",
            )
            message = texts.text("too_long", lang, tokens=exc.tokens, limit=exc.limit)
            await sink.reply(message)
            return TurnOutcome(status=FAILED, text="", error=None)

        # The in-progress row is written while the model thinks, off the critical path.
        placeholder = asyncio.create_task(
            self._db.messages.add(
                conversation.id,
                "assistant",
                "",
                status=IN_PROGRESS,
                model=model.id,
                reply_to_id=user_message_id,
            )
        )
        await sink.begin()
        shown: list[str] = []

        async def on_delta(text: str) -> None:
            shown.append(text)
            await sink.append(text)

        async def on_retry(error: errors.KimiError, delay: float, attempt: int) -> None:
            await sink.notice(texts.text("retrying", lang, seconds=delay))

        try:
            completion, context = await self._call(
                model, context, build, max_tokens, on_delta, on_retry
            )
        except asyncio.CancelledError:
            partial = "".join(shown)
            await asyncio.shield(self._close_cancelled(placeholder, partial, sink, lang))
            raise
        except PartialAnswer as exc:
            answer_id = await placeholder
            return await self._fail(answer_id, exc, exc.completion.text, sink, lang, incoming)
        except errors.KimiError as exc:
            answer_id = await placeholder
            return await self._fail(answer_id, exc, "", sink, lang, incoming)

        answer_id = await placeholder
        text = completion.text
        status = COMPLETE if text.strip() else FAILED
        await self._db.messages.finish(
            answer_id,
            content=text,
            status=status,
            token_estimate=raw_estimate(text),
            error=None if text.strip() else f"empty answer ({completion.finish_reason})",
            usage=self._usage_entry(completion, model, conversation, incoming, answer_id, context),
        )
        if status == FAILED:
            error = errors.ServerError("Kimi returned an empty answer")
            await sink.abort("", texts.error_text(error, lang))
            return TurnOutcome(status=FAILED, text="", answer_id=answer_id, error=error)
        shown_text = text
        if completion.finish_reason == "length":
            note = texts.text("incomplete", lang, reason="max output length reached")
            shown_text = f"{shown_text}\n\n{note}"
        if footer:
            shown_text = f"{shown_text}\n\n{footer}"
        await sink.complete(shown_text)
        return TurnOutcome(status=COMPLETE, text=text, answer_id=answer_id, completion=completion)

    async def _with_documents(
        self,
        conversation: ConversationRecord,
        model: ModelSpec,
        incoming: Incoming,
        system_prompt: str,
        sink: ReplySink,
    ) -> tuple[ModelSpec, list[str], str]:
        """The model, extra system messages and a sources footer for the library's documents."""
        if self._library is None:
            return model, [], ""
        documents = await self._library.documents(conversation.id)
        if not documents:
            return model, [], ""
        document_tokens = sum(d.item.token_count for d in documents)
        base = self._estimator.text(system_prompt) + self._estimator.text(incoming.text) + 64
        plan = plan_documents(
            self._catalog, model, document_tokens, base, self._settings.max_output
        )
        if (
            plan.switched_from(model)
            and conversation.options.get("announced_model") != plan.model.id
        ):
            await sink.reply(
                f"The documents need about {document_tokens:,} tokens, more than {model.id} can "
                f"hold, so I'm using {plan.model.id} "
                f"({plan.model.context_window // 1024}K window) for them."
            )
            await self._db.conversations.update_settings(
                conversation.id, options={**conversation.options, "announced_model": plan.model.id}
            )
        if plan.mode is Mode.FULL:
            return plan.model, [d.system_message() for d in documents], ""
        hits = await self._library.retrieve(
            conversation.id, incoming.text, plan.section_budget, documents
        )
        if not hits:
            return plan.model, [], ""
        return plan.model, [sections_message(hits)], sources_footer(hits)

    async def _call(
        self,
        model: ModelSpec,
        context: BuiltContext,
        build: Callable[[int], Awaitable[BuiltContext]],
        max_tokens: int,
        on_delta: DeltaCallback,
        on_retry: RetryCallback,
    ) -> tuple[Completion, BuiltContext]:
        """Call Kimi; if Moonshot still finds the context too long, shrink once and retry."""
        for attempt in (1, 2):
            try:
                completion = await self._kimi.stream(
                    model=model,
                    messages=context.messages,
                    max_tokens=max_tokens,
                    temperature=self._settings.temperature,
                    on_delta=on_delta,
                    on_retry=on_retry,
                )
                break
            except errors.ContextTooLong:
                if attempt == 2:
                    raise
                log.warning(
                    "context too long for %s at ~%d tokens; shrinking once",
                    model.id,
                    context.estimate,
                )
                self._estimator.factor = min(2.0, self._estimator.factor * 1.25)
                context = await build(int(context.estimate * 0.7))
        if completion.usage is not None:
            self._estimator.calibrate(context.raw_estimate, completion.usage.prompt_tokens)
        return completion, context

    async def _fail(
        self,
        answer_id: int,
        error: errors.KimiError,
        partial: str,
        sink: ReplySink,
        lang: str,
        incoming: Incoming,
    ) -> TurnOutcome:
        status = INCOMPLETE if partial.strip() else FAILED
        log.error(
            "turn failed conversation=%s user=%s kind=%s detail=%s",
            incoming.key.label(),
            incoming.author.id,
            error.kind,
            error.detail,
        )
        await self._db.messages.finish(
            answer_id,
            content=partial,
            status=status,
            token_estimate=raw_estimate(partial),
            error=f"{error.kind}: {error.detail}"[:2000],
        )
        await sink.abort(partial, texts.error_text(error, lang))
        return TurnOutcome(status=status, text=partial, answer_id=answer_id, error=error)

    async def _close_cancelled(
        self, placeholder: asyncio.Task[int], partial: str, sink: ReplySink, lang: str
    ) -> None:
        answer_id = await placeholder
        await self._db.messages.finish(
            answer_id,
            content=partial,
            status=INCOMPLETE if partial.strip() else FAILED,
            token_estimate=raw_estimate(partial),
            error="cancelled",
        )
        try:
            await sink.abort(partial, texts.text("cancelled", lang))
        except Exception:  # the platform may be gone; the row above is what must not be lost
            log.exception("could not show the cancellation in the chat")

    def _usage_entry(
        self,
        completion: Completion,
        model: ModelSpec,
        conversation: ConversationRecord,
        incoming: Incoming,
        answer_id: int,
        context: BuiltContext,
    ) -> UsageEntry:
        usage = completion.usage
        if usage is None:
            log.warning("no usage in Moonshot's answer; recording estimates")
            prompt, completion_tokens, cached = (
                context.estimate,
                self._estimator.text(completion.text),
                0,
            )
        else:
            prompt, completion_tokens, cached = (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_tokens,
            )
        return UsageEntry(
            model=model.id,
            prompt_tokens=prompt,
            completion_tokens=completion_tokens,
            cached_tokens=cached,
            cost_cny=model.cost_cny(prompt, completion_tokens, cached),
            latency_ms=int(completion.latency_s * 1000),
            first_token_ms=None
            if completion.first_token_s is None
            else int(completion.first_token_s * 1000),
            user_id=incoming.author.id,
            platform=incoming.platform,
            chat_key=conversation.key.label(),
            conversation_id=conversation.id,
            message_id=answer_id,
        )
