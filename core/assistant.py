"""The assistant: the one path from an incoming message to a streamed, stored answer.

(Named so to keep "engine" for SQLAlchemy's engine in ``storage``.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cachetools import LRUCache

from core import metrics, texts
from core.access import AccessPolicy
from core.account import AccountFacts
from core.admin_alerts import AdminAlerts, account_alert
from core.attachment_kinds import IMAGE, kind_of
from core.budgets import Budgets
from core.catalog import Catalog, ModelSpec
from core.commands import CommandHandler, parse_command
from core.context import ContextBuilder
from core.documents.ingestion import Ingestion
from core.documents.library import DocumentLibrary
from core.images.ingestion import ImageIngestion, ImageLimits, ReadImage
from core.images.tokens import ImageTokenCounter
from core.images.vision import has_vision
from core.kimi import KimiClient
from core.limits import Limiter
from core.locks import ConversationLocks, InProcessLocks, current_fence
from core.log_context import conversation_scope
from core.memory import MemoryPolicy, Summarizer
from core.memory.compaction import Compactor
from core.speech import Transcriber, VoiceMessages, audio_of, with_voice_note
from core.summarize import SummaryRequest, conversation_summary
from core.tokens import TokenEstimator, raw_estimate
from core.tools.registry import ToolRegistry
from core.turn import TurnOutcome, TurnRunner, TurnSettings
from core.types import Attachment, Author, Incoming, ReplySink
from storage import COMPLETE, FAILED, ConversationRecord, Database

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 200_000
SEEN_SPEAKERS = 50_000  # speakers remembered by this worker; the least recently seen go first


class LockLost(Exception):
    """The conversation's lock lapsed and another worker's turn started here meanwhile."""


class Assistant:
    """Routes a message: access check, commands, then a serialized turn per conversation."""

    def __init__(
        self,
        *,
        db: Database,
        kimi: KimiClient,
        catalog: Catalog,
        default_model: str,
        turn_settings: TurnSettings,
        timezone: str = "UTC",
        access: AccessPolicy | None = None,
        locks: ConversationLocks | None = None,
        estimator: TokenEstimator | None = None,
        library: DocumentLibrary | None = None,
        tools: ToolRegistry | None = None,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        limiter: Limiter | None = None,
        budgets: Budgets | None = None,
        account: AccountFacts | None = None,
        alerts: AdminAlerts | None = None,
        images: ImageLimits | None = None,
        transcriber: Transcriber | None = None,
        memory: MemoryPolicy | None = None,
    ) -> None:
        self.budgets = budgets
        self.alerts = alerts
        self._clock = clock
        self.db = db
        self.kimi = kimi
        self.catalog = catalog
        self.default_model = default_model
        self.access = access or AccessPolicy()
        self.estimator = estimator or TokenEstimator()
        self._locks = locks or InProcessLocks()
        self._running: dict[int, asyncio.Task[object]] = {}
        self._cancelled: set[asyncio.Task[object]] = set()
        self._in_flight: set[asyncio.Task[object]] = set()
        self._closing = False
        self._seen_speakers: LRUCache[tuple[int, str], str] = LRUCache(SEEN_SPEAKERS)
        self.worker_id = worker_id
        self.memory = memory or MemoryPolicy()
        # Summary calls (the compacting memory, /summarize of long histories): limited and
        # billed like turns.
        self.summarizer = Summarizer(
            db=db,
            kimi=kimi,
            catalog=catalog,
            estimator=self.estimator,
            policy=self.memory,
            limiter=limiter,
        )
        self.compactor = Compactor(
            db=db, summarizer=self.summarizer, policy=self.memory, estimator=self.estimator
        )
        self._turns = TurnRunner(
            db=db,
            kimi=kimi,
            estimator=self.estimator,
            builder=ContextBuilder(db.messages, self.estimator, images=db.images),
            settings=turn_settings,
            catalog=catalog,
            library=library,
            tools=tools,
            limiter=limiter,
            worker_id=worker_id,
            shutting_down=lambda: self._closing,
            compactor=self.compactor if self.memory.enabled else None,
        )
        self.library = library
        self.ingestion = Ingestion(library)
        self.images = ImageIngestion(
            db,
            ImageTokenCounter(lambda: getattr(kimi, "sdk", None), catalog),
            images or ImageLimits(),
        )
        self.voice = VoiceMessages(db, transcriber)  # None: voice messages get a clear refusal
        self.commands = CommandHandler(
            db=db,
            catalog=catalog,
            access=self.access,
            default_model=default_model,
            default_system_prompt=turn_settings.system_prompt,
            timezone=ZoneInfo(timezone),
            cancel=self.cancel,
            clock=clock,
            library=library,
            web_search=turn_settings.web_search,
            balance=account.balance if account is not None else None,
            memory=self.memory,
        )

    def model_for(self, conversation: ConversationRecord) -> ModelSpec:
        """The conversation's model, falling back to the default if the catalog dropped it."""
        if conversation.model and conversation.model in self.catalog:
            return self.catalog.get(conversation.model)
        return self.catalog.get(self.default_model)

    async def handle(self, incoming: Incoming, sink: ReplySink) -> TurnOutcome | None:
        """Answer one message. Never raises for user-visible problems; says them in the chat."""
        incoming = _without_nul(incoming)
        lang = texts.language_of(incoming.text)
        if not self.access.allows(incoming):
            log.info("refused %s in %s (not allowed)", incoming.author.id, incoming.key.label())
            await sink.reply(texts.text("not_allowed", lang))
            return None
        command = parse_command(incoming.text)
        if command is not None and command.name == "summarize":  # a question the bot writes
            request = await self._summary_request(incoming, command.args, sink)
            if request.say:
                await sink.reply(request.say)
            if request.question is None:
                return None
            incoming, command = _with_text(incoming, request.question), None
        if command is not None and command.name != "ask":
            await self.commands.run(command, incoming, sink)
            return None
        if command is not None:  # "/ask question" is a plain question
            incoming = _with_text(incoming, command.args)
        if not incoming.text.strip() and not incoming.attachments:
            await sink.reply(texts.text("empty", lang))
            return None
        if len(incoming.text) > MAX_MESSAGE_CHARS:
            chars = len(incoming.text)
            await sink.reply(texts.text("too_long", lang, chars=chars, limit=MAX_MESSAGE_CHARS))
            return None
        if self._closing:
            await self.remember(incoming, answered=False)
            await sink.reply(texts.text("restarting", lang))
            return None
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        started = time.monotonic()
        outcome_name = "crashed"
        metrics.TURNS_IN_PROGRESS.inc()
        try:
            with conversation_scope(incoming.key):
                outcome = await self._turn(incoming, sink)
                await self._tell_admins(outcome)
            outcome_name = outcome.status if outcome is not None else "refused"
            return outcome
        except asyncio.CancelledError:
            outcome_name = "interrupted" if self._closing else "cancelled"
            task = asyncio.current_task()
            if task is not None and task in self._cancelled:
                self._cancelled.discard(task)
                task.uncancel()
                return None
            raise
        except Exception as exc:
            log.exception("turn crashed in %s", incoming.key.label())
            metrics.record_error("lock_lost" if isinstance(exc, LockLost) else "internal")
            await _say_safely(sink, texts.text("internal", lang))
            return None
        finally:
            metrics.TURNS_IN_PROGRESS.dec()
            metrics.record_turn(incoming.platform, outcome_name, time.monotonic() - started)
            if task is not None:
                self._in_flight.discard(task)

    async def _summary_request(
        self, incoming: Incoming, args: str, sink: ReplySink
    ) -> SummaryRequest:
        """``/summarize [N]``: the conversation's last messages as one question (core.summarize).
        A history too long for one window is summarized in parts first, by summary calls billed
        to the asker, unless a spending cap already refuses them (then the newest part only)."""
        conversation = await self.db.conversations.active(incoming.key)
        model = (
            self.model_for(conversation) if conversation else self.catalog.get(self.default_model)
        )
        lang = texts.command_language(args, incoming.language)
        may_spend = self.budgets is None or (
            await self.budgets.check(
                incoming.author.id, self.access.is_admin(incoming.author.id), self._clock()
            )
            is None
        )
        return await conversation_summary(
            self.db,
            incoming.key,
            args,
            lang,
            model.context_window,
            summarizer=self.summarizer if may_spend else None,
            user_id=incoming.author.id,
            announce=sink.reply,
        )

    async def _tell_admins(self, outcome: TurnOutcome | None) -> None:
        """The account is stuck (balance used up, a model's tokens for the day spent): the user
        was told; the admins are told too, once (:mod:`core.admin_alerts`)."""
        error = outcome.error if outcome is not None else None
        if error is None or not error.alerts_admins or self.alerts is None:
            return
        alert = account_alert(error, self._clock(), self.catalog.day_timezone)
        if alert is not None:
            await self.alerts.tell_once(*alert)

    @property
    def closing(self) -> bool:
        """True once :meth:`drain` started: new messages are kept but not answered."""
        return self._closing

    def _first_sight(self, conversation_id: int, author: Author) -> bool:
        """Whether the participants row needs writing: new speaker here, or a new name.
        A small per-worker memory saves that write on most turns."""
        key = (conversation_id, author.id)
        if self._seen_speakers.get(key) == author.name:
            return False
        self._seen_speakers[key] = author.name
        return True

    @property
    def busy(self) -> int:
        """Answers in progress or queued in this worker."""
        return len(self._in_flight)

    async def drain(self, grace: float) -> int:
        """Stop taking new turns, let running ones finish for ``grace`` seconds, then stop the
        rest visibly ("interrupted") and mark them incomplete. Returns how many were stopped."""
        self._closing = True
        pending = set(self._in_flight)
        if pending:
            log.info("waiting up to %.0fs for %d answer(s) in progress", grace, len(pending))
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)
            log.warning("interrupted %d answer(s) at shutdown", len(pending))
        await self.compactor.close()
        return len(pending)

    async def _turn(self, incoming: Incoming, sink: ReplySink) -> TurnOutcome | None:
        conversation = await self.db.conversations.get_or_create(
            incoming.key, is_group=incoming.is_group
        )
        incoming = with_voice_note(incoming)  # "[voice message]" until it is transcribed
        if incoming.attachments and not incoming.text.strip():
            incoming = _with_text(
                incoming, summary_request(incoming.attachments, incoming.language)
            )
        # Stored before anything can fail: a crash, a limit or an API error never loses it.
        user_message_id = await self.db.messages.add(
            conversation.id,
            "user",
            incoming.text,
            token_estimate=raw_estimate(incoming.text),
            author_id=incoming.author.id,
            author_name=incoming.author.name or None,
            platform_message_id=incoming.platform_message_id,
            participant=self._first_sight(conversation.id, incoming.author),
        )
        if self.budgets is not None:  # no model call at all when over budget
            refusal = await self.budgets.check(
                incoming.author.id, self.access.is_admin(incoming.author.id), self._clock()
            )
            if refusal is not None:
                await sink.reply(refusal.message(texts.language_of(incoming.text)))
                await self.db.messages.fail(user_message_id, error=f"budget: {refusal.scope}")
                return None
        if audio_of(incoming):  # outside the lock: a slow transcription holds no other turn up
            heard = await self.voice.transcribe(conversation.id, incoming, user_message_id, sink)
            if heard is None:
                return None
            incoming = heard
        queued_at = time.monotonic()
        async with self._locks.hold(conversation.id) as waited:
            metrics.record_lock_wait(time.monotonic() - queued_at)
            await self._check_fence(conversation.id)
            if waited:  # settings may have changed (/model, /system) while we queued
                conversation = await self.db.conversations.get(conversation.id) or conversation
            task = asyncio.current_task()
            if task is not None:
                self._running[conversation.id] = task
            try:
                if incoming.attachments:
                    if not await self._ingest(conversation.id, incoming, user_message_id, sink):
                        return None
                    # What it holds now includes this message's documents and images.
                    conversation = await self.db.conversations.get(conversation.id) or conversation
                return await self._turns.run(
                    conversation, self.model_for(conversation), incoming, user_message_id, sink
                )
            finally:
                if self._running.get(conversation.id) is task:
                    del self._running[conversation.id]

    async def _check_fence(self, conversation_id: int) -> None:
        """With fencing locks (Redis), record this turn's token on the conversation; a newer
        token already there means our lock lapsed and another worker took over: stop."""
        lease = current_fence.get()
        if lease is None:
            return
        conversations = self.db.conversations
        if await conversations.advance_fence(conversation_id, lease.fence):
            return
        stored = await conversations.fence(conversation_id)
        # Still holding the lock but the counter is behind the database: Redis lost its data.
        if await lease.refence(stored) and await conversations.advance_fence(
            conversation_id, lease.fence
        ):
            log.warning(
                "lock counter of conversation %d was behind the database (Redis restarted?); "
                "resynchronized at %d",
                conversation_id,
                lease.fence,
            )
            return
        raise LockLost(f"conversation {conversation_id}: fence {lease.fence} < {stored}")

    async def _ingest(
        self, conversation_id: int, incoming: Incoming, user_message_id: int, sink: ReplySink
    ) -> bool:
        """Add the attachments: images to the conversation's images, the rest to the library;
        False (and the message set aside) if none could be."""
        lang = texts.language_of(incoming.text)
        images = [a for a in incoming.attachments if kind_of(a) == IMAGE]
        documents = tuple(a for a in incoming.attachments if kind_of(a) != IMAGE)
        added: list[object] = []
        if images:
            seeing = has_vision(self.catalog)
            read = await self.images.ingest_all(
                conversation_id, user_message_id, images, incoming.author, sink, lang, link=seeing
            )
            if seeing:
                added += read
            elif read:  # no model sees: file-extract reads them (OCR), and we say so
                documents += tuple(_as_document(image) for image in read)
                await sink.reply(texts.text("image_ocr_fallback", lang))
        if documents:
            with_documents = replace(incoming, attachments=documents)
            added += await self.ingestion.ingest_all(conversation_id, with_documents, sink, lang)
        if not added:
            await self.db.messages.fail(user_message_id, error="no attachment could be read")
        return bool(added)

    async def remember(self, incoming: Incoming, *, answered: bool = True) -> None:
        """Store a message without answering: group chatter (as context), or a message that
        arrived during shutdown (kept, but out of the context since it will be sent again)."""
        incoming = _without_nul(incoming)
        if not incoming.text.strip() or not self.access.allows(incoming):
            return
        conversation = await self.db.conversations.get_or_create(
            incoming.key, is_group=incoming.is_group
        )
        await self.db.messages.add(
            conversation.id,
            "user",
            incoming.text[:MAX_MESSAGE_CHARS],
            token_estimate=raw_estimate(incoming.text),
            author_id=incoming.author.id,
            author_name=incoming.author.name or None,
            platform_message_id=incoming.platform_message_id,
            status=COMPLETE if answered else FAILED,
        )

    async def cancel(self, incoming: Incoming) -> bool:
        """Stop the answer in progress in this conversation, keeping what was already said."""
        conversation = await self.db.conversations.active(incoming.key)
        if conversation is None:
            return False
        task = self._running.get(conversation.id)
        if task is None or task.done():
            return False
        self._cancelled.add(task)
        task.cancel()
        return True


def summary_request(attachments: tuple[Attachment, ...], language: str = "") -> str:
    """What a file sent without a question stands for in the conversation (images alone:
    "what is in this image?", in the language the platform reports for the user)."""
    if all(kind_of(a) == IMAGE for a in attachments):
        key = "image_question" if len(attachments) == 1 else "images_question"
        return texts.text(key, "zh" if language == "zh" else "en")
    names = ", ".join(f"“{a.name}”" for a in attachments)
    if len(attachments) == 1:
        return f"I sent the document {names}. Summarize it in two sentences."
    return f"I sent the documents {names}. Summarize each in two sentences."


def _as_document(image: ReadImage) -> Attachment:
    """A checked image handed to file-extract (its bytes already fetched once)."""

    async def fetch() -> bytes:
        return image.data

    return Attachment(image.name, image.facts.mime_type, len(image.data), fetch, kind="document")


def _without_nul(incoming: Incoming) -> Incoming:
    """NUL characters carry nothing readable and PostgreSQL text cannot store them."""
    if "\x00" not in incoming.text and "\x00" not in incoming.author.name:
        return incoming
    author = replace(incoming.author, name=incoming.author.name.replace("\x00", ""))
    return replace(incoming, text=incoming.text.replace("\x00", ""), author=author)


def _with_text(incoming: Incoming, text: str) -> Incoming:
    return replace(incoming, text=text)


async def _say_safely(sink: ReplySink, message: str) -> None:
    try:
        await sink.reply(message)
    except Exception:
        log.exception("could not deliver an error message to the chat")
