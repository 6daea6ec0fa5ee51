"""Wiring: build the database, Kimi client and assistant from settings, and close them again."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from core.access import AccessPolicy
from core.account import AccountFacts, ServedCatalog, served_catalog
from core.admin_alerts import AdminAlerts
from core.admin_settings import AdminLinks, AdminSettings, console_caches, server_url
from core.assistant import Assistant
from core.budgets import Budgets
from core.config import Settings, require_api_key
from core.conversations import Conversations
from core.documents.extractor import MoonshotExtractor
from core.documents.library import DocumentLibrary
from core.feedback import Feedback
from core.images.ingestion import ImageLimits
from core.kimi import KimiClient, RetryPolicy
from core.limits import Limiter, build_limiter
from core.locks import ConversationLocks, InProcessLocks, LocalFirst
from core.memory import MemoryPolicy
from core.speech import Transcriber
from core.tools.registry import ToolRegistry
from core.turn import TurnSettings
from core.workers import new_worker_id
from storage import Database
from storage.admin import AdminRepository

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    kimi: KimiClient
    assistant: Assistant
    limiter: Limiter
    locks: ConversationLocks = field(default_factory=InProcessLocks)
    redis: Any = None  # redis.asyncio.Redis when REDIS_URL is set (locks, leases, readiness)
    account: AccountFacts | None = None  # the served models and the balance, asked of Moonshot
    alerts: AdminAlerts | None = None  # adapters with direct messages register themselves here
    served: ServedCatalog | None = None  # what start-up learnt of the served models (run only)
    transcriber: Transcriber | None = None  # voice messages, when STT_BASE_URL is set
    admin: AdminSettings | None = None  # the operator console's settings, links and audit log

    @property
    def conversations(self) -> Conversations:
        """The verbs adapters use besides ``assistant.handle`` (they never touch ``storage``)."""
        return Conversations(self.db)

    @property
    def feedback(self) -> Feedback:
        """Ratings of answers (👍/👎), the verbs every adapter's feedback UI calls."""
        return Feedback(self.db)

    async def close(self) -> None:
        # Background summaries first: none may outlive the Kimi client and the database.
        await self.assistant.compactor.close()
        console = getattr(getattr(self.assistant, "access", None), "console", None)
        if console is not None:  # the allow-list refresher (core.access)
            await console.stop()
        await self.limiter.close()
        close_locks = getattr(self.locks, "close", None)
        if close_locks is not None:
            await close_locks()
        if self.redis is not None:
            await self.redis.aclose()
        if self.transcriber is not None:
            await self.transcriber.close()
        await self.kimi.close()
        await self.db.close()


def connect_redis(url: str) -> Any:
    """A redis.asyncio client (lazy: nothing is sent until the first command)."""
    import redis.asyncio as redis

    return redis.from_url(url, decode_responses=True, health_check_interval=30)


def build_locks(settings: Settings, db: Database, redis: Any = None) -> ConversationLocks:
    """Redis (REDIS_URL) beats PostgreSQL advisory locks beats in-process (one SQLite worker)."""
    if redis is not None:
        from core.redis_locks import RedisLocks

        return LocalFirst(RedisLocks(redis, lease=settings.lock_lease))
    if db.backend == "postgresql":
        from storage.advisory_locks import AdvisoryLocks

        return LocalFirst(
            AdvisoryLocks(settings.database_url, wait_connections=settings.db_lock_wait_connections)
        )
    return InProcessLocks()


async def start_services(
    settings: Settings, *, migrate: bool = True, check_served: bool = False
) -> Services:
    """Everything the adapters need; applies migrations first so a fresh database just works.

    ``check_served`` (``kimi-bot run``): ask Moonshot which models the key is served, stop with
    :class:`core.account.ModelNotServed` if KIMI_MODEL is not one, and offer only the served
    catalog models."""
    api_key = require_api_key(settings)
    db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    if migrate:
        await db.migrate()
    kimi = KimiClient(
        api_key=api_key,
        base_url=settings.moonshot_base_url,
        timeout=settings.kimi_request_timeout,
        transport=settings.kimi_http_client,
        policy=RetryPolicy(max_retries=settings.kimi_max_retries),
    )
    account = AccountFacts(kimi.sdk, currency=settings.catalog.currency)
    catalog = settings.catalog
    served: ServedCatalog | None = None
    if check_served:
        try:
            served = await served_catalog(account, catalog, settings.kimi_model)
        except BaseException:
            await kimi.close()
            await db.close()
            raise
        catalog = served.catalog
    alerts = AdminAlerts(settings.admins, Conversations(db).claim_event)
    limiter = build_limiter(settings)
    redis = connect_redis(settings.redis_url) if settings.redis_url else None
    locks = build_locks(settings, db, redis)
    library = DocumentLibrary(db, MoonshotExtractor(kimi.sdk, token_model=settings.kimi_model))
    transcriber = Transcriber.from_settings(settings)
    admin_repository = AdminRepository(db.engine)
    console_entries, budget_overrides = console_caches(admin_repository)
    admin = AdminSettings(admin_repository, console_entries, budget_overrides)
    assistant = Assistant(
        db=db,
        kimi=kimi,
        catalog=catalog,
        default_model=settings.kimi_model,
        turn_settings=TurnSettings(
            system_prompt=settings.kimi_system_prompt,
            max_output=settings.kimi_max_output,
            temperature=settings.kimi_temperature,
            web_search=settings.kimi_web_search,
            tool_max_rounds=settings.kimi_tool_max_rounds,
            max_continuations=settings.kimi_max_continuations,
            checkpoint_every=settings.answer_checkpoint_every,
            image_context_tokens=settings.image_context_tokens,
        ),
        timezone=settings.kimi_timezone,
        access=AccessPolicy.from_lists(
            settings.admins, settings.allowed_users, settings.allowed_chats, console_entries
        ),
        library=library,
        tools=ToolRegistry.discover() if settings.kimi_tools else ToolRegistry(),
        limiter=limiter,
        budgets=Budgets.from_settings(settings, db, budget_overrides),
        worker_id=new_worker_id(),
        locks=locks,
        account=account,
        alerts=alerts,
        transcriber=transcriber,
        images=ImageLimits(max_bytes=settings.image_max_bytes),
        memory=MemoryPolicy(
            max_tokens=settings.history_max_tokens,
            keep_tokens=settings.history_keep_tokens,
            summary_tokens=settings.history_summary_tokens,
            model=settings.summary_model or None,
            concurrency=settings.compaction_concurrency,
        ),
    )
    log.debug("conversation locks: %s", type(getattr(locks, "shared", locks)).__name__)
    assistant.commands.admin_links = AdminLinks(
        admin, server_url(settings.public_url, settings.host, settings.port)
    )
    try:  # the console's allow-list entries, before the first message is checked
        await console_entries.refresh()
    except Exception as exc:  # e.g. started without migrations: the env lists still apply
        log.warning("could not read the console's allow-list: %s", type(exc).__name__)
    console_entries.start()
    return Services(
        settings=settings,
        db=db,
        kimi=kimi,
        assistant=assistant,
        limiter=limiter,
        locks=locks,
        redis=redis,
        account=account,
        alerts=alerts,
        served=served,
        transcriber=transcriber,
        admin=admin,
    )
