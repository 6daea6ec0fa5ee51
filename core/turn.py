"""One answer: documents, context, the (tool-calling) model stream, then the stored result."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from core import errors, metrics, texts
from core.catalog import Catalog, ModelSpec
from core.context import BuiltContext, ContextBuilder, MessageTooLong
from core.documents.in_turn import DocumentContext
from core.documents.library import DocumentLibrary
from core.documents.planning import max_tokens_for
from core.kimi import Completion, KimiClient
from core.ledger import usage_entry
from core.limits import LimitedKimi, Limiter, wait_notice
from core.tokens import TokenEstimator, raw_estimate
from core.tools.loop import ToolLoop
from core.tools.registry import ToolRegistry
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

WEB_SEARCH_OPTION = "web_search"


@dataclass(frozen=True, slots=True)
class TurnSettings:
    system_prompt: str
    max_output: int
    temperature: float
    web_search: bool = True
    tool_max_rounds: int = 5
    # Seconds between saves of a streaming answer's text, so a worker that dies mid-answer
    # leaves what the user saw in the history (recovery marks it incomplete, not failed).
    checkpoint_every: float = 5.0


@dataclass(slots=True)
class TurnOutcome:
    status: str
    text: str
    answer_id: int | None = None
    error: errors.KimiError | None = None
    completions: list[Completion] = field(default_factory=list)


@dataclass(slots=True)
class _Progress:
    """What the user has seen and what has been billed so far in this turn."""

    shown: list[str] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.shown)


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
        tools: ToolRegistry | None = None,
        limiter: Limiter | None = None,
        worker_id: str | None = None,
        shutting_down: Callable[[], bool] = lambda: False,
    ) -> None:
        self._worker_id = worker_id
        self._shutting_down = shutting_down
        self._limiter = limiter
        self._db = db
        self._kimi = kimi
        self._estimator = estimator
        self._builder = builder
        self._settings = settings
        self._tools = tools or ToolRegistry()
        self._documents = DocumentContext(db, library, catalog, estimator, settings.max_output)

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
        documents = await self._documents.prepare(
            conversation, model, incoming.text, system_prompt, sink
        )
        model = documents.model
        max_tokens = max_tokens_for(model, self._settings.max_output)
        current = StoredMessage(
            id=user_message_id,
            role="user",
            content=incoming.text,
            token_estimate=raw_estimate(incoming.text),
            status=COMPLETE,
            author_id=incoming.author.id,
            author_name=incoming.author.name or None,
        )

        async def build(budget: int) -> BuiltContext:
            return await self._builder.build(
                conversation_id=conversation.id,
                current_message_id=user_message_id,
                system_prompt=system_prompt,
                budget=budget,
                is_group=conversation.is_group,
                current=current,
                extra_system=documents.system_messages,
            )

        try:
            context = await build(model.context_window - max_tokens)
        except MessageTooLong as exc:
            return await self._refuse_too_long(incoming, user_message_id, exc, sink, lang)

        # The in-progress row is written while the model thinks, off the critical path.
        placeholder = asyncio.create_task(
            self._db.messages.add(
                conversation.id,
                "assistant",
                "",
                status=IN_PROGRESS,
                model=model.id,
                reply_to_id=user_message_id,
                worker_id=self._worker_id,
            )
        )
        await sink.begin()
        progress = _Progress()

        def entries(answer_id: int) -> list[UsageEntry]:
            """The turn's ledger rows (built once, when the answer is stored)."""
            rows = [
                usage_entry(
                    c, model, conversation, incoming, answer_id, context.estimate, self._estimator
                )
                for c in progress.completions
            ]
            metrics.record_usage(rows)
            return rows

        try:
            async with self._saving(placeholder, progress):
                context = await self._answer(
                    conversation,
                    model,
                    context,
                    build,
                    max_tokens,
                    progress,
                    sink,
                    lang,
                    incoming.author.id,
                )
        except asyncio.CancelledError:
            reason = "interrupted" if self._shutting_down() else "cancelled"
            await asyncio.shield(self._close(placeholder, progress, entries, sink, reason, lang))
            raise
        except errors.KimiError as exc:
            metrics.record_error(exc.kind)
            log.error(
                "turn failed conversation=%s user=%s kind=%s detail=%s",
                incoming.key.label(),
                incoming.author.id,
                exc.kind,
                exc.detail,
            )
            status = await self._close(placeholder, progress, entries, sink, exc, lang)
            return TurnOutcome(status, progress.text, await placeholder, exc, progress.completions)
        except Exception:
            metrics.record_error("internal")
            log.exception("turn crashed in %s", incoming.key.label())
            status = await self._close(placeholder, progress, entries, sink, "internal", lang)
            return TurnOutcome(status, progress.text, await placeholder, None, progress.completions)

        answer_id = await placeholder
        text = progress.text
        final = progress.completions[-1]
        status = COMPLETE if text.strip() else FAILED
        await self._db.messages.finish(
            answer_id,
            content=text,
            status=status,
            token_estimate=raw_estimate(text),
            error=None if text.strip() else f"empty answer ({final.finish_reason})",
            usage=entries(answer_id),
        )
        if status == FAILED:
            error = errors.ServerError("Kimi returned an empty answer")
            await sink.abort("", texts.error_text(error, lang))
            return TurnOutcome(FAILED, "", answer_id, error, progress.completions)
        shown = text
        if final.finish_reason == "length":
            shown += "\n\n" + texts.text("incomplete", lang, reason="max output length reached")
        if documents.footer:
            shown += "\n\n" + documents.footer
        await sink.complete(shown)
        return TurnOutcome(COMPLETE, text, answer_id, None, progress.completions)

    async def _answer(
        self,
        conversation: ConversationRecord,
        model: ModelSpec,
        context: BuiltContext,
        build: Callable[[int], Awaitable[BuiltContext]],
        max_tokens: int,
        progress: _Progress,
        sink: ReplySink,
        lang: str,
        user_id: str,
    ) -> BuiltContext:
        """Stream the answer through the tool loop; if the context is still too long for
        Moonshot on the first call, shrink it once and retry."""

        async def on_delta(text: str) -> None:
            progress.shown.append(text)
            await sink.append(text)

        async def on_retry(error: errors.KimiError, delay: float, attempt: int) -> None:
            await sink.notice(texts.text("retrying", lang, seconds=delay))

        async def on_completion(completion: Completion) -> None:
            progress.completions.append(completion)

        web_search = bool(conversation.options.get(WEB_SEARCH_OPTION, self._settings.web_search))
        kimi = self._kimi
        if self._limiter is not None:

            async def on_wait(seconds: float) -> None:
                await sink.notice(wait_notice(seconds, lang))

            kimi = LimitedKimi(  # type: ignore[assignment]
                self._kimi,
                self._limiter,
                user_id=user_id,
                estimator=self._estimator,
                on_wait=on_wait,
            )
        loop = ToolLoop(kimi, self._tools, self._settings.tool_max_rounds)  # type: ignore[arg-type]
        for attempt in (1, 2):
            try:
                await loop.run(
                    model=model,
                    messages=context.messages,
                    max_tokens=max_tokens,
                    temperature=self._settings.temperature,
                    tools=self._tools.specs(web_search=web_search),
                    on_delta=on_delta,
                    on_retry=on_retry,
                    on_status=sink.notice,
                    on_completion=on_completion,
                )
                break
            except errors.ContextTooLong:
                if attempt == 2 or progress.completions:
                    raise
                log.warning(
                    "context too long for %s at ~%d tokens; shrinking once",
                    model.id,
                    context.estimate,
                )
                self._estimator.factor = min(2.0, self._estimator.factor * 1.25)
                context = await build(int(context.estimate * 0.7))
        first = progress.completions[0]
        if first.usage is not None:
            self._estimator.calibrate(context.raw_estimate, first.usage.prompt_tokens)
        return context

    @asynccontextmanager
    async def _saving(
        self, placeholder: asyncio.Task[int], progress: _Progress
    ) -> AsyncIterator[None]:
        """Save the text streamed so far every ``checkpoint_every`` seconds while the body runs.
        On the way out a save in flight finishes and none starts: never cancelled mid-write."""
        answer_ended = asyncio.Event()
        saver = asyncio.create_task(self._checkpoints(placeholder, progress, answer_ended))
        try:
            yield
        finally:
            answer_ended.set()
            await asyncio.wait([saver])  # without swallowing our own cancellation
            if not saver.cancelled() and saver.exception() is not None:
                log.warning("saving the partial answer stopped with %r", saver.exception())

    async def _checkpoints(
        self, placeholder: asyncio.Task[int], progress: _Progress, answer_ended: asyncio.Event
    ) -> None:
        answer_id = await asyncio.shield(placeholder)  # ending early must not cancel the insert
        saved = 0
        while True:
            try:
                await asyncio.wait_for(answer_ended.wait(), self._settings.checkpoint_every)
                return
            except TimeoutError:
                pass
            text = progress.text
            if len(text) == saved:
                continue
            try:
                await self._db.messages.checkpoint(answer_id, text, raw_estimate(text))
                saved = len(text)
            except Exception as exc:  # the final save is what must succeed; this one may wait
                log.warning("could not save the partial answer %d: %s", answer_id, exc)

    async def _close(
        self,
        placeholder: asyncio.Task[int],
        progress: _Progress,
        entries: Callable[[int], list[UsageEntry]],
        sink: ReplySink,
        reason: errors.KimiError | str,
        lang: str,
    ) -> str:
        """End an answer that did not complete: keep what was shown, bill what was called."""
        answer_id = await placeholder
        partial = progress.text
        status = INCOMPLETE if partial.strip() else FAILED
        if isinstance(reason, errors.KimiError):
            detail, message = (
                f"{reason.kind}: {reason.detail}"[:2000],
                texts.error_text(reason, lang),
            )
        else:
            detail, message = reason, texts.text(reason, lang)
        await self._db.messages.finish(
            answer_id,
            content=partial,
            status=status,
            token_estimate=raw_estimate(partial),
            error=detail,
            usage=entries(answer_id),
        )
        try:
            await sink.abort(partial, message)
        except Exception:  # the platform may be gone; the row above is what must not be lost
            log.exception("could not show the end of an unfinished answer in the chat")
        return status

    async def _refuse_too_long(
        self,
        incoming: Incoming,
        user_message_id: int,
        exc: MessageTooLong,
        sink: ReplySink,
        lang: str,
    ) -> TurnOutcome:
        await self._db.messages.finish(
            user_message_id,
            content=incoming.text,
            status=FAILED,
            token_estimate=raw_estimate(incoming.text),
            error="too long for the model window",
        )
        await sink.reply(texts.text("too_long", lang, tokens=exc.tokens, limit=exc.limit))
        return TurnOutcome(FAILED, "")
