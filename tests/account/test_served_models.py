"""``kimi-bot run`` asks Moonshot which models the key is served: it stops with one line when
KIMI_MODEL is not one, says which served ids the catalog lacks, starts anyway when Moonshot
cannot be asked, and ``/model`` offers only what is both served and in the catalog."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from core.account import ModelNotServed
from core.service import start_services
from core.types import CollectingSink
from tests.account.conftest import EXTRA
from tests.cli.common import clean_env, closed_port
from tests.conftest import EMULATOR_KEY, make_settings
from tests.scaling.workers import KIMI_BOT, start_worker
from tests.support.messages import ask

NOT_IN_CATALOG = "served, not in the catalog (add them to KIMI_MODELS_FILE to use them): "


def run_env(tmp_path: Path, moonshot_url: str, **settings: str) -> dict[str, str]:
    return clean_env(
        tmp_path,
        MOONSHOT_API_KEY=EMULATOR_KEY,
        MOONSHOT_BASE_URL=moonshot_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'kimi.db'}",
        **settings,
    )


async def test_run_stops_with_one_line_naming_the_served_ids(
    account_moonshot: Any, tmp_path: Path
) -> None:
    account_moonshot.served_models = ["moonshot-v1-8k", "kimi-k2-turbo-preview", EXTRA]
    process = await asyncio.create_subprocess_exec(
        KIMI_BOT,
        "run",
        env=run_env(tmp_path, account_moonshot.base_url),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().splitlines()
    assert process.returncode == 2, err.decode()
    assert len(lines) == 1, lines
    assert "Traceback" not in err.decode() + out.decode()
    assert lines[0] == (
        "kimi-bot: invalid setting KIMI_MODEL: kimi-k2 is not served to this Moonshot account "
        f"(served: moonshot-v1-8k, kimi-k2-turbo-preview, {EXTRA}); set KIMI_MODEL to one of them"
    )
    assert EMULATOR_KEY not in err.decode() + out.decode()


async def test_run_names_served_models_the_catalog_lacks_and_serves(
    account_moonshot: Any, tmp_path: Path
) -> None:
    account_moonshot.served_models = ["kimi-k2", EXTRA, "moonshot-v1-8k"]
    worker = await start_worker("w1", run_env(tmp_path, account_moonshot.base_url), tmp_path)
    try:
        log = worker.log()
        assert NOT_IN_CATALOG + EXTRA in log
        assert "offering kimi-k2, moonshot-v1-8k" in log
    finally:
        assert await worker.stop() == 0


async def test_run_starts_anyway_when_moonshot_cannot_be_asked(tmp_path: Path) -> None:
    unreachable = f"http://127.0.0.1:{closed_port()}/v1"
    worker = await start_worker("w1", run_env(tmp_path, unreachable), tmp_path)
    try:
        status, _ = await worker.get("/readyz")
        assert status == 200
        assert re.search(
            r"WARNING .*cannot ask Moonshot which models it serves \(GET /models at "
            r"http://127\.0\.0\.1:\d+/v1: cannot connect \(ClientConnectorError\)\); using the whole catalog",
            worker.log(),
        ), worker.log()
    finally:
        assert await worker.stop() == 0


async def test_model_offers_only_served_models_the_catalog_knows(
    account_moonshot: Any, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    account_moonshot.served_models = ["moonshot-v1-8k", EXTRA, "kimi-k2"]
    settings = make_settings(account_moonshot.base_url, sqlite_url)
    services = await start_services(settings, check_served=True)
    try:
        assert services.served is not None and services.served.unknown == (EXTRA,)
        with caplog.at_level(logging.INFO, logger="core.account"):
            services.served.report()
        assert NOT_IN_CATALOG + EXTRA in caplog.text
        sink = CollectingSink()
        await services.assistant.handle(ask("/model"), sink)
        offered = re.findall(r"^[•-] (\S+?):", sink.replies[-1], flags=re.MULTILINE)
        assert offered == ["kimi-k2", "moonshot-v1-8k"], sink.replies[-1]  # catalog order
        await services.assistant.handle(ask("/model moonshot-v1-32k"), sink)
        assert sink.replies[-1].startswith("Unknown model 'moonshot-v1-32k'")
        await services.assistant.handle(ask(f"/model {EXTRA}"), sink)
        assert sink.replies[-1].startswith(f"Unknown model '{EXTRA}'")
        await services.assistant.handle(ask("/model moonshot-v1-8k"), sink)
        assert sink.replies[-1] == "Model switched to moonshot-v1-8k."
        await services.assistant.handle(ask("hello"), sink)
        assert account_moonshot.requests[-1]["model"] == "moonshot-v1-8k"
    finally:
        await services.close()


async def test_start_services_refuses_an_unserved_default(
    account_moonshot: Any, sqlite_url: str
) -> None:
    account_moonshot.served_models = ["moonshot-v1-8k"]
    settings = make_settings(account_moonshot.base_url, sqlite_url)
    with pytest.raises(ModelNotServed, match=r"kimi-k2 is not served .*\(served: moonshot-v1-8k\)"):
        await start_services(settings, check_served=True)
    unchecked = await start_services(settings)  # `ask` and `chat` do not ask
    try:
        assert "moonshot-v1-32k" in unchecked.assistant.catalog
    finally:
        await unchecked.close()
