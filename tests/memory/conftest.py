"""The compacting memory end to end: the assistant (real openai SDK over HTTP) against the
Moonshot emulator, whose deterministic summarizer keeps the transcript's fact sentences and
whose ``[[recall:KEY]]`` marker answers from anything in the prompt (docs/emulators.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.service import Services, start_services
from storage import Database
from tests.conftest import clean_database, make_settings

# Small budgets so a few exchanges cross them: each exchange here is ~60-110 tokens.
MEMORY_SETTINGS: dict[str, object] = {
    "history_max_tokens": 700,
    "history_keep_tokens": 250,
    "history_summary_tokens": 300,
}


# Long conversations in a test: the brief's 10 requests a minute would queue them for minutes.
ROOMY_LIMITS = "\n".join(
    f'[models."{model}"]\nrpm = 10000\ntpm = 100000000\nconcurrency = 100\n'
    for model in ("kimi-k2", "kimi-k2-0905-preview", "moonshot-v1-8k", "moonshot-v1-32k")
)


@pytest.fixture
def roomy_models(tmp_path: Path) -> str:
    path = tmp_path / "models.toml"
    path.write_text(ROOMY_LIMITS)
    return str(path)


@pytest.fixture
async def memory_services(moonshot: Any, db_url: str, roomy_models: str) -> AsyncIterator[Services]:
    settings = make_settings(
        moonshot.base_url, db_url, kimi_models_file=roomy_models, **MEMORY_SETTINGS
    )
    built = await start_services(settings)
    await clean_database(built.db)
    yield built
    await built.close()


def is_summary_call(request: dict[str, Any]) -> bool:
    """A request the memory sent to write a summary (no tools; instructions in a system message)."""
    systems = [m["content"] for m in request["messages"] if m["role"] == "system"]
    return "tools" not in request and any("running summary" in s for s in systems)


def turn_requests(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in requests if not is_summary_call(r)]


async def summary_rows(db: Database, conversation_id: int) -> int:
    from sqlalchemy import text

    async with db.engine.connect() as connection:
        query = text("SELECT count(*) FROM conversation_summaries WHERE conversation_id = :c")
        return int((await connection.execute(query, {"c": conversation_id})).scalar_one())
