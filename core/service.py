"""Wiring: build the database, Kimi client and engine from settings, and close them again."""

from __future__ import annotations

from dataclasses import dataclass

from core.access import AccessPolicy
from core.budgets import Budgets
from core.config import Settings, require_api_key
from core.documents.extractor import MoonshotExtractor
from core.documents.library import DocumentLibrary
from core.engine import Engine
from core.kimi import KimiClient, RetryPolicy
from core.limits import Limiter, build_limiter
from core.tools.registry import ToolRegistry
from core.turn import TurnSettings
from core.workers import new_worker_id
from storage import Database


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    kimi: KimiClient
    engine: Engine
    limiter: Limiter

    async def close(self) -> None:
        await self.limiter.close()
        await self.kimi.close()
        await self.db.close()


async def start_services(settings: Settings, *, migrate: bool = True) -> Services:
    """Everything the adapters need; applies migrations first so a fresh database just works."""
    api_key = require_api_key(settings)
    db = Database(settings.database_url)
    if migrate:
        await db.migrate()
    kimi = KimiClient(
        api_key=api_key,
        base_url=settings.moonshot_base_url,
        timeout=settings.kimi_request_timeout,
        policy=RetryPolicy(max_retries=settings.kimi_max_retries),
    )
    limiter = build_limiter(settings)
    library = DocumentLibrary(db, MoonshotExtractor(kimi.sdk, token_model=settings.kimi_model))
    engine = Engine(
        db=db,
        kimi=kimi,
        catalog=settings.catalog,
        default_model=settings.kimi_model,
        turn_settings=TurnSettings(
            system_prompt=settings.kimi_system_prompt,
            max_output=settings.kimi_max_output,
            temperature=settings.kimi_temperature,
            web_search=settings.kimi_web_search,
            tool_max_rounds=settings.kimi_tool_max_rounds,
        ),
        timezone=settings.kimi_timezone,
        access=AccessPolicy.from_lists(
            settings.admins, settings.allowed_users, settings.allowed_chats
        ),
        library=library,
        tools=ToolRegistry.discover() if settings.kimi_tools else ToolRegistry(),
        limiter=limiter,
        budgets=Budgets.from_settings(settings, db),
        worker_id=new_worker_id(),
    )
    return Services(settings=settings, db=db, kimi=kimi, engine=engine, limiter=limiter)
