"""One answer: documents, context, the (tool-calling) model stream, then the stored result.

:class:`TurnRunner` holds what every turn of an assistant shares; each message gets its own
:class:`Turn`, which owns the conversation, model, context, progress and sink of that answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core import errors, metrics, texts
from core.answer_row import AnswerRow
from core.catalog import Catalog, ModelSpec
from core.chat_model import ChatModel
from core.context import BuiltContext, ContextBuilder, MessageOverBudget
from core.documents.in_turn import DocumentContext, DocumentTurn
from core.documents.library import DocumentLibrary
from core.images.vision import VisionSwitch
from core.kimi import Completion, KimiClient
from core.ledger import usage_entry
from core.limits import LimitedKimi, Limiter, wait_notice
from core.memory.compaction import Compactor
from core.output_budget import OutputBudget
from core.tokens import TokenEstimator, raw_estimate
from core.tools.loop import RoundHandlers, ToolLoop
from core.tools.registry import ToolRegistry
from core.turn_progress import TurnProgress
from core.types import Incoming, ReplySink
from storage import COMPLETE, FAILED, INCOMPLETE, ConversationRecord, Database, StoredMessage
from storage.records import UsageEntry
from storage.summaries import SummaryRecord

log = logging.getLogger(__name__)

WEB_SEARCH_OPTION = "web_search"


@dataclass(frozen=True, slots=True)
class TurnSettings:
    system_prompt: str
    max_output: int | None  # KIMI_MAX_OUTPUT: None = each model's catalog max_output
    temperature: float
    web_search: bool = True
    tool_max_rounds: int = 5
    max_continuations: int = 4
    # Seconds between saves of a streaming answer's text, so a worker that dies mid-answer
    # leaves what the user saw in the history (recovery marks it incomplete, not failed).
    checkpoint_every: float = 5.0
    # IMAGE_CONTEXT_TOKENS: tokens of the images a turn shows (the current message's always go).
    image_context_tokens: int = 16_000


@dataclass(slots=True)
class TurnOutcome:
    status: str
    text: str
    answer_id: int | None = None
    error: errors.KimiError | None = None
    completions: list[Completion] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TurnServices:
    """What every turn of one assistant shares (built once by :class:`TurnRunner`)."""

    db: Database
    kimi: KimiClient
    catalog: Catalog
    estimator: TokenEstimator
    builder: ContextBuilder
    settings: TurnSettings
    tools: ToolRegistry
    documents: DocumentContext
    vision: VisionSwitch
    limiter: Limiter | None
    worker_id: str | None
    shutting_down: Callable[[], bool]
    compactor: Compactor | None = None


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
        compactor: Compactor | None = None,
    ) -> None:
        self._tools = tools or ToolRegistry()
        self._services = TurnServices(
            db=db,
            kimi=kimi,
            catalog=catalog,
            estimator=estimator,
            builder=builder,
            settings=settings,
            tools=self._tools,
            documents=DocumentContext(db, library, catalog, estimator, settings.max_output),
            vision=VisionSwitch(db, catalog, settings.max_output),
            limiter=limiter,
            worker_id=worker_id,
            shutting_down=shutting_down,
            compactor=compactor,
        )

    async def run(
        self,
        conversation: ConversationRecord,
        model: ModelSpec,
        incoming: Incoming,
        user_message_id: int,
        sink: ReplySink,
    ) -> TurnOutcome:
        turn = Turn(self._services, conversation, model, incoming, user_message_id, sink)
        return await turn.run()


class Turn:
    """One answer to one stored user message; used once."""

    _context: BuiltContext  # set by run() before the model is called

    def __init__(
        self,
        services: TurnServices,
        conversation: ConversationRecord,
        model: ModelSpec,
        incoming: Incoming,
        user_message_id: int,
        sink: ReplySink,
    ) -> None:
        self._services = services
        self._conversation = conversation
        self._documents = DocumentTurn(model)  # none until _prepare_documents, which may switch
        self._incoming = incoming
        self._user_message_id = user_message_id
        self._sink = sink
        self._lang = texts.language_of(incoming.text)
        self._system_prompt = conversation.system_prompt or services.settings.system_prompt
        self._progress = TurnProgress()
        self._summary: SummaryRecord | None = None

    @property
    def _model(self) -> ModelSpec:
        return self._documents.model

    @property
    def _output(self) -> OutputBudget:
        return OutputBudget(self._model, self._services.settings.max_output)

    def _max_tokens(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None
    ) -> int:
        """``max_tokens`` for one call: what the window leaves after this prompt, up to the
        model's max output (and the operator's cap)."""
        estimator = self._services.estimator
        prompt = estimator.messages(messages)
        if tools:
            prompt += estimator.text(json.dumps(list(tools), ensure_ascii=False))
        return self._output.for_prompt(prompt)

    async def run(self) -> TurnOutcome:
        """Answer, store and show; a model failure ends the answer visibly, never raises."""
        await self._prepare_documents()
        await self._prepare_vision()
        if self._services.compactor is not None:  # read once: a retry builds the same prefix
            self._summary = await self._latest_summary()
        try:
            self._context = await self._build_context(
                self._model.context_window - self._output.reserve
            )
        except MessageOverBudget as exc:
            return await self._refuse(exc)
        row = AnswerRow.start(
            self._services.db.messages,
            conversation_id=self._conversation.id,
            model_id=self._model.id,
            reply_to_id=self._user_message_id,
            worker_id=self._services.worker_id,
            checkpoint_every=self._services.settings.checkpoint_every,
        )
        await self._sink.begin()
        try:
            async with row.saving(self._progress):
                await self._stream_rounds()
        except asyncio.CancelledError:
            reason = "interrupted" if self._services.shutting_down() else "cancelled"
            await asyncio.shield(self._close(row, reason))
            raise
        except errors.KimiError as exc:
            metrics.record_error(exc.kind)
            log.error(
                "turn failed conversation=%s user=%s kind=%s detail=%s",
                self._incoming.key.label(),
                self._incoming.author.id,
                exc.kind,
                exc.detail,
            )
            return await self._ended_early(row, exc)
        except Exception:
            metrics.record_error("internal")
            log.exception("turn crashed in %s", self._incoming.key.label())
            return await self._ended_early(row, "internal")
        return await self._complete(row)

    async def _prepare_documents(self) -> None:
        """The conversation's documents for this question; they may switch the model."""
        self._documents = await self._services.documents.prepare(
            self._conversation, self._model, self._incoming.text, self._system_prompt, self._sink
        )

    async def _prepare_vision(self) -> None:
        """Images in the context need a model that sees: this turn may switch to one."""
        estimator = self._services.estimator
        base = (
            estimator.text(self._system_prompt)
            + estimator.text(self._incoming.text)
            + sum(estimator.text(m) for m in self._documents.system_messages)
        )
        self._documents.model = await self._services.vision.prepare(
            self._conversation,
            self._model,
            self._user_message_id,
            base_tokens=base,
            image_budget=self._services.settings.image_context_tokens,
            sink=self._sink,
            lang=self._lang,
        )

    async def _latest_summary(self) -> SummaryRecord | None:
        """The summary in use; no lookup when the conversation was read without one, and by
        id (kept in memory) when it was read with one."""
        contents = self._conversation.contents
        summaries = self._services.db.summaries
        if contents is None:
            return await summaries.latest(self._conversation.id)
        return await summaries.get(contents.summary_id) if contents.summary_id else None

    async def _build_context(self, budget: int) -> BuiltContext:
        """History that fits ``budget`` tokens, ending with this turn's user message."""
        incoming = self._incoming
        current = StoredMessage(
            id=self._user_message_id,
            role="user",
            content=incoming.text,
            token_estimate=raw_estimate(incoming.text),
            status=COMPLETE,
            author_id=incoming.author.id,
            author_name=incoming.author.name or None,
        )
        return await self._services.builder.build(
            conversation_id=self._conversation.id,
            current_message_id=self._user_message_id,
            system_prompt=self._system_prompt,
            budget=budget,
            is_group=self._conversation.is_group,
            current=current,
            extra_system=[] if self._documents.per_question else self._documents.system_messages,
            question_system=self._documents.system_messages
            if self._documents.per_question
            else None,
            image_budget=self._image_budget(),
            summary=self._summary,
        )

    def _image_budget(self) -> int | None:
        """Tokens of images to show; None when the model cannot see or there are none."""
        if not self._model.vision or self._conversation.known_without_images:
            return None
        return self._services.settings.image_context_tokens

    async def _stream_rounds(self) -> None:
        """Stream the answer through the tool loop; if the context is still too long for
        Moonshot on the first call, shrink it once and retry."""
        services = self._services
        settings = services.settings
        loop = ToolLoop(
            self._chat_model(),
            services.tools,
            max_rounds=settings.tool_max_rounds,
            max_continuations=settings.max_continuations,
        )
        handlers = RoundHandlers(
            on_delta=self._show,
            on_retry=self._announce_retry,
            on_status=self._sink.notice,
            on_completion=self._bill,
            on_reasoning=self._think,
        )
        web_search = self._conversation.options.get(WEB_SEARCH_OPTION, services.settings.web_search)
        tools = services.tools.specs(web_search=bool(web_search))
        for attempt in (1, 2):
            try:
                await loop.run(
                    model=self._model,
                    messages=self._context.messages,
                    output=self._max_tokens,
                    temperature=settings.temperature,
                    tools=tools,
                    handlers=handlers,
                    lang=self._lang,
                )
                break
            except errors.ContextTooLong:
                if attempt == 2 or self._progress.completions:
                    raise
                log.warning(
                    "context too long for %s at ~%d tokens; shrinking once",
                    self._model.id,
                    self._context.estimate,
                )
                services.estimator.calibrate_after_overflow()
                self._context = await self._build_context(int(self._context.estimate * 0.7))
        first = self._progress.completions[0]
        if first.usage is not None:
            services.estimator.calibrate(self._context.raw_estimate, first.usage.prompt_tokens)

    def _chat_model(self) -> ChatModel:
        """The client itself, or (with limits) a wrapper that admits every call of this turn."""
        services = self._services
        if services.limiter is None:
            return services.kimi
        return LimitedKimi(
            services.kimi,
            services.limiter,
            user_id=self._incoming.author.id,
            estimator=services.estimator,
            on_wait=self._announce_wait,
        )

    async def _show(self, delta: str) -> None:
        self._progress.shown.append(delta)
        await self._sink.append(delta)

    async def _think(self, delta: str) -> None:
        """A thinking model's reasoning: kept with the answer, shown apart from it. A later
        round's reasoning after a tool call starts a new paragraph (a Partial Mode continuation
        goes on with the same one)."""
        progress = self._progress
        call = len(progress.completions) + 1
        after_tools = bool(progress.completions) and bool(progress.completions[-1].tool_calls)
        if progress.reasoning and progress.reasoning_rounds < call and after_tools:
            delta = "\n\n" + delta
        progress.reasoning_rounds = call
        progress.reasoning.append(delta)
        await self._sink.thinking(delta)

    async def _bill(self, completion: Completion) -> None:
        self._progress.completions.append(completion)

    async def _announce_retry(self, error: errors.KimiError, delay: float, attempt: int) -> None:
        await self._sink.notice(texts.text("retrying", self._lang, seconds=delay))

    async def _announce_wait(self, seconds: float) -> None:
        await self._sink.notice(wait_notice(seconds, self._lang))

    def _usage(self, answer_id: int) -> list[UsageEntry]:
        """The turn's ledger rows, one per model call (built once, when the answer is stored)."""
        rows = [
            usage_entry(
                completion,
                self._model,
                self._conversation,
                self._incoming,
                answer_id,
                self._context.estimate,
                self._services.estimator,
                catalog=self._services.catalog,
            )
            for completion in self._progress.completions
        ]
        metrics.record_usage(rows)
        return rows

    async def _complete(self, row: AnswerRow) -> TurnOutcome:
        """Store the finished answer and show it (an empty one counts as a server error)."""
        answer_id = await row.id()
        progress = self._progress
        text = progress.text
        cut = progress.completions[-1].finish_reason == "length"  # even after continuing
        if not text.strip():
            status, error = FAILED, "only reasoning, cut at max_tokens" if cut else "empty answer"
        else:
            status, error = (INCOMPLETE, "cut at max_tokens") if cut else (COMPLETE, None)
        try:
            await row.finish(
                text,
                status=status,
                error=error,
                usage=self._usage(answer_id),
                reasoning=progress.reasoning_text,
            )
        except Exception:  # not stored: end the visible answer with what was said, then report
            await self._sink.abort(text, texts.text("internal", self._lang))
            raise
        if status == FAILED:
            failure = errors.ServerError(f"Kimi returned no answer text ({error})")
            message = (
                texts.text("thinking_cut", self._lang)
                if cut
                else texts.error_text(failure, self._lang)
            )
            await self._sink.abort("", message)
            return TurnOutcome(FAILED, "", answer_id, failure, progress.completions)
        shown = text
        if cut:
            shown += "\n\n" + texts.text(
                "incomplete", self._lang, reason=texts.text("reason_max_output", self._lang)
            )
        if self._documents.footer:
            shown += "\n\n" + self._documents.footer
        await self._sink.complete(shown)
        self._compact_if_due(text)
        return TurnOutcome(status, text, answer_id, None, progress.completions)

    def _compact_if_due(self, answer: str) -> None:
        """History since the last summary past HISTORY_MAX_TOKENS: compact in the background
        (the answer is already shown; the next turn uses the summary once it is stored)."""
        compactor = self._services.compactor
        if compactor is None:
            return
        history = self._context.history_tokens + self._services.estimator.text(answer)
        if compactor.due(history):
            compactor.schedule(self._conversation, self._incoming.author.id)

    async def _ended_early(self, row: AnswerRow, reason: errors.KimiError | str) -> TurnOutcome:
        """Close an unfinished answer and report it; a model error travels with the outcome."""
        status = await self._close(row, reason)
        error = reason if isinstance(reason, errors.KimiError) else None
        progress = self._progress
        return TurnOutcome(status, progress.text, await row.id(), error, progress.completions)

    async def _close(self, row: AnswerRow, reason: errors.KimiError | str) -> str:
        """End an answer that did not complete: keep what was shown, bill what was called."""
        answer_id = await row.id()
        partial = self._progress.text
        status = INCOMPLETE if partial.strip() else FAILED
        if isinstance(reason, errors.KimiError):
            detail = f"{reason.kind}: {reason.detail}"[:2000]
            message = texts.error_text(reason, self._lang)
        else:
            detail, message = reason, texts.text(reason, self._lang)
        try:
            await row.finish(
                partial,
                status=status,
                error=detail,
                usage=self._usage(answer_id),
                reasoning=self._progress.reasoning_text,
            )
        finally:  # even if the database failed, the chat's answer must not be left streaming
            try:
                await self._sink.abort(partial, message)
            except Exception:  # the platform may be gone; the row above is what must not be lost
                log.exception("could not show the end of an unfinished answer in the chat")
        return status

    async def _refuse(self, exc: MessageOverBudget) -> TurnOutcome:
        """The message alone does not fit the window: set it aside and say so."""
        await self._services.db.messages.fail(
            self._user_message_id, error="too long for the model window"
        )
        await self._sink.reply(
            texts.text("too_long_for_model", self._lang, tokens=exc.tokens, limit=exc.limit)
        )
        return TurnOutcome(FAILED, "")
