"""End-to-end thinking and long-answer tests: every surface's fixtures under one roof (Telegram
and Slack both call theirs ``start_bot``), plus what the tests read back: the answers stored,
the ledger, and the ``kimi-bot`` command run as a user runs it."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from storage import Database
from tests.conftest import EMULATOR_KEY
from tests.slack.conftest import emu as emu  # fixture
from tests.slack.conftest import start_bot as start_slack  # noqa: F401 - fixture
from tests.telegram.conftest import start_bot as start_telegram  # noqa: F401 - fixture
from tests.telegram.conftest import tg as tg  # fixture
from tests.web.conftest import web_chat as web_chat  # fixture

KIMI_BOT = str(Path(sys.executable).with_name("kimi-bot"))


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    content: str
    status: str
    reasoning: str | None
    model: str | None


async def stored_answers(db: Database) -> list[StoredAnswer]:
    """Every assistant message in the database, oldest first (the reasoning column included,
    which the repositories do not read back)."""
    query = text(
        "SELECT content, status, reasoning, model FROM messages "
        "WHERE role = 'assistant' ORDER BY id"
    )
    async with db.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [StoredAnswer(*row) for row in rows]


async def ledger_rows(db: Database) -> int:
    """How many model calls the usage ledger holds."""
    return (await db.usage.totals()).calls


def models_file(tmp_path: Path, **max_output: int) -> str:
    """A KIMI_MODELS_FILE that sets ``max_output`` of the given models (keyword: model id with
    ``_`` for ``-`` and ``__`` for ``.``; e.g. ``kimi_k2=2048``)."""
    lines = []
    for name, value in max_output.items():
        model = name.replace("__", ".").replace("_", "-")
        lines.append(f'[models."{model}"]\nmax_output = {value}\n')
    path = tmp_path / "models.toml"
    path.write_text("\n".join(lines))
    return str(path)


@dataclass(frozen=True, slots=True)
class Run:
    status: int
    out: str
    err: str


async def kimi_bot_ask(
    *args: str, moonshot_url: str, database_url: str, cwd: Path, **settings: str
) -> Run:
    """``kimi-bot ask ARGS`` as a separate process against the emulator (awaited, so the
    emulator in this event loop keeps answering)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOONSHOT_", "KIMI_"))}
    env.update(
        MOONSHOT_BASE_URL=moonshot_url,
        MOONSHOT_API_KEY=EMULATOR_KEY,
        DATABASE_URL=database_url,
        TELEGRAM_BOT_TOKEN="",
        SLACK_BOT_TOKEN="",
        **settings,
    )
    env = {k: v for k, v in env.items() if v != ""}
    process = await asyncio.create_subprocess_exec(
        KIMI_BOT,
        "ask",
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return Run(process.returncode or 0, out.decode(), err.decode())
