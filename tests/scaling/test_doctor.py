"""``kimi-bot doctor`` as an operator runs it: one line per check, exit 1 on any failure."""

from __future__ import annotations

import asyncio
from pathlib import Path

from emulators.slack import SlackEmulator
from emulators.telegram import TelegramEmulator
from storage import Database
from tests.conftest import EMULATOR_KEY
from tests.scaling.workers import KIMI_BOT, worker_env

TG_TOKEN = "123456:DOCTOR-TOKEN"
SLACK_TOKEN = "xoxb-doctor-token"


async def doctor(env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    process = await asyncio.create_subprocess_exec(
        KIMI_BOT,
        "doctor",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode().splitlines()


def line(lines: list[str], name: str) -> str:
    [found] = [entry for entry in lines if entry.split(":")[0].split()[-1] == name]
    return found


async def test_everything_reachable_and_valid_passes(
    tmp_path: Path, moonshot, redis_url: str
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'ok.db'}"
    db = Database(db_url)
    await db.migrate()
    await db.close()
    async with (
        TelegramEmulator(token=TG_TOKEN) as tg,
        SlackEmulator(bot_token=SLACK_TOKEN) as slack,
    ):
        env = worker_env(
            moonshot_base_url=moonshot.base_url,
            moonshot_api_key=EMULATOR_KEY,
            database_url=db_url,
            redis_url=redis_url,
            telegram_bot_token=TG_TOKEN,
            telegram_api_url=tg.url,
            slack_bot_token=SLACK_TOKEN,
            slack_signing_secret="doctor-secret",
            slack_api_url=slack.api_url,
        )
        code, lines = await doctor(env, tmp_path)
    assert code == 0, lines
    for name in ("configuration", "database", "redis", "moonshot", "telegram", "slack"):
        assert line(lines, name).startswith("OK "), lines
    assert "schema at the head" in line(lines, "database")
    assert "@" in line(lines, "telegram")
    assert lines[-1] == "all checks passed"


async def test_each_problem_is_named_with_what_to_fix(tmp_path: Path, moonshot) -> None:
    wrong_key = "sk-wrong-doctor-key-0000000000"
    async with (
        TelegramEmulator(token=TG_TOKEN) as tg,
        SlackEmulator(bot_token=SLACK_TOKEN) as slack,
    ):
        env = worker_env(
            moonshot_base_url=moonshot.base_url,
            moonshot_api_key=wrong_key,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",  # never migrated
            redis_url="redis://127.0.0.1:9/0",  # nothing listens there
            telegram_bot_token="999:WRONG-TOKEN-FOR-DOCTOR",
            telegram_api_url=tg.url,
            slack_bot_token="xoxb-wrong-doctor-token",
            slack_signing_secret="doctor-secret",
            slack_api_url=slack.api_url,
        )
        code, lines = await doctor(env, tmp_path)
    assert code == 1
    assert line(lines, "configuration").startswith("OK ")
    # An empty database is not a problem: run migrates it first (doctor says so).
    assert line(lines, "database").startswith("OK ") and "kimi-bot migrate" in line(
        lines, "database"
    )
    assert "FAIL" in line(lines, "redis") and "REDIS_URL" in line(lines, "redis")
    moonshot_line = line(lines, "moonshot")
    assert "FAIL" in moonshot_line and "rejected MOONSHOT_API_KEY (401)" in moonshot_line
    assert "FAIL" in line(lines, "telegram") and "@BotFather" in line(lines, "telegram")
    assert "FAIL" in line(lines, "slack") and "invalid_auth" in line(lines, "slack")
    assert lines[-1].startswith("4 problem(s)")
    output = "\n".join(lines)
    assert wrong_key not in output and "WRONG-TOKEN" not in output and "xoxb-wrong" not in output


async def test_an_invalid_setting_is_one_failed_line(tmp_path: Path) -> None:
    code, lines = await doctor(worker_env(log_format="xml"), tmp_path)
    assert code == 1
    assert lines == [
        "FAIL  configuration: invalid setting LOG_FORMAT: Value error, use text or json"
    ]


async def test_an_unreachable_database_says_so(tmp_path: Path, moonshot) -> None:
    env = worker_env(
        moonshot_base_url=moonshot.base_url,
        moonshot_api_key=EMULATOR_KEY,
        database_url="postgresql+asyncpg://kimi:hunter2@127.0.0.1:9/kimi",
    )
    code, lines = await doctor(env, tmp_path)
    assert code == 1
    database = line(lines, "database")
    assert database.startswith("FAIL") and "cannot connect to" in database
    assert "hunter2" not in "\n".join(lines), "the password is hidden"
    assert line(lines, "moonshot").startswith("OK ")
    assert line(lines, "redis").startswith("SKIP")
