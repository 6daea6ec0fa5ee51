"""``kimi-bot doctor`` on the Moonshot account: the served models (and those the catalog lacks),
the balance in the catalog's currency, and the same failure as ``run`` for an unserved default."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.account.conftest import EXTRA
from tests.conftest import EMULATOR_KEY
from tests.scaling.workers import KIMI_BOT, worker_env


async def doctor(tmp_path: Path, moonshot_url: str, **settings: str) -> tuple[int, str]:
    """Exit status and the ``moonshot`` line of ``kimi-bot doctor``."""
    env = worker_env(
        moonshot_base_url=moonshot_url,
        moonshot_api_key=EMULATOR_KEY,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'doctor.db'}",
        **settings,
    )
    process = await asyncio.create_subprocess_exec(
        KIMI_BOT,
        "doctor",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    text = out.decode()
    assert EMULATOR_KEY not in text
    [line] = [entry for entry in text.splitlines() if entry[6:].startswith("moonshot:")]
    return process.returncode or 0, line


async def test_doctor_shows_served_models_and_the_balance(
    account_moonshot: Any, tmp_path: Path
) -> None:
    account_moonshot.served_models = ["kimi-k2", EXTRA, "moonshot-v1-8k"]
    _, line = await doctor(tmp_path, account_moonshot.base_url)
    assert line == (
        f"OK    moonshot: key accepted by {account_moonshot.base_url}; "
        "serves 3 models, kimi-k2 included; "
        f"served, not in the catalog (add them to KIMI_MODELS_FILE to use them): {EXTRA}; "
        "balance ¥49.58 available (voucher ¥46.58, cash ¥3.00)"
    )


async def test_doctor_shows_the_balance_in_the_catalogs_currency(
    account_moonshot: Any, tmp_path: Path
) -> None:
    models_file = tmp_path / "models.toml"
    models_file.write_text('currency = "USD"\n', encoding="utf-8")
    account_moonshot.set_balance(voucher=0, cash=12.5)
    _, line = await doctor(tmp_path, account_moonshot.base_url, kimi_models_file=str(models_file))
    assert line.startswith("OK    moonshot: ")
    assert line.endswith("; balance $12.50 available (voucher $0.00, cash $12.50)")
    assert "not in the catalog" in line and EXTRA in line


async def test_doctor_fails_like_run_when_the_default_is_not_served(
    account_moonshot: Any, tmp_path: Path
) -> None:
    account_moonshot.served_models = ["moonshot-v1-32k", "moonshot-v1-8k"]
    code, line = await doctor(tmp_path, account_moonshot.base_url)
    assert code == 1
    assert line == (
        "FAIL  moonshot: invalid setting KIMI_MODEL: kimi-k2 is not served to this Moonshot "
        "account (served: moonshot-v1-32k, moonshot-v1-8k); set KIMI_MODEL to one of them"
    )
