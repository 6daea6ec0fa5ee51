"""Per-turn overhead of the engine versus a bare openai SDK call, same emulator, same run.

The bare call is the SDK used as its documentation shows (typed parameters, parsed chunks); the
lean call sends the same request the way the engine does (``extra_body``, raw lines), so the
ratio against it is the engine's own work alone. All three stream the same ~200 ms answer from the Moonshot emulator (in a subprocess). The engine
also stores the user message and the answer, builds the context from history, and records
usage in SQLite. Target: ratio <= 1.03 (issue #18; it was 1.10). Also printed: the process CPU
of each, which a shared machine disturbs less than wall time.

All three go through the same HTTP transport (``--transport``, default the engine's
``KIMI_HTTP_CLIENT`` default, aiohttp), so the ratios are the engine's own work, not a transport's.

    python -m bench.overhead [--turns 40] [--transport aiohttp|httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import openai

from bench.common import EMULATOR_KEY, moonshot_subprocess, summary
from core.config import Settings, load_settings
from core.kimi import sdk_http_client
from core.service import start_services
from core.types import Author, CollectingSink, ConversationKey, Incoming

ENGINE_TRANSPORT = Settings.model_fields["kimi_http_client"].default  # KIMI_HTTP_CLIENT's default
QUESTION = " ".join(f"word{i}" for i in range(38))
TOKEN_DELAY = 0.005  # ~40 chunks -> ~200 ms per answer


async def bare_call(client: openai.AsyncOpenAI, request: dict[str, Any]) -> float:
    """The same request the engine sent last (history, tools), straight through the SDK."""
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model="kimi-k2",
        messages=request["messages"],
        tools=request.get("tools") or openai.omit,
        max_tokens=2048,
        stream=True,
    )
    async for _chunk in stream:
        pass
    return time.perf_counter() - started


async def raw_call(client: openai.AsyncOpenAI, request: dict[str, Any]) -> float:
    """The same request sent the way the engine sends it (messages and tools in
    ``extra_body``, the stream read as raw lines): what the SDK costs at the least."""
    started = time.perf_counter()
    raw = {"messages": request["messages"]}
    if request.get("tools"):
        raw["tools"] = request["tools"]
    async with client.chat.completions.with_streaming_response.create(
        model="kimi-k2", messages=[], max_tokens=2048, stream=True, extra_body=raw
    ) as response:
        async for _line in response.iter_lines():
            pass
    return time.perf_counter() - started


async def last_request(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url.removesuffix("/v1") + "/_emulator/requests") as response:
        return (await response.json())[-1]


async def main(turns: int, transport: str = ENGINE_TRANSPORT) -> dict[str, float]:
    async with moonshot_subprocess("--no-limits", "--token-delay", str(TOKEN_DELAY)) as url:
        client = openai.AsyncOpenAI(
            api_key=EMULATOR_KEY,
            base_url=url,
            max_retries=0,
            http_client=sdk_http_client(transport, 600.0),
        )
        http = aiohttp.ClientSession()
        with tempfile.TemporaryDirectory() as tmp:
            # The engine's limiter mirrors the brief's 10 RPM for kimi-k2; this benchmark is
            # about our per-turn work, so the account limits are raised out of the way.
            models = Path(tmp) / "models.toml"
            models.write_text('[models."kimi-k2"]\nrpm = 100000\ntpm = 100000000\n')
            settings = load_settings(
                moonshot_api_key=EMULATOR_KEY,
                moonshot_base_url=url,
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
                kimi_models_file=str(models),
                kimi_http_client=transport,
                _env_file=None,
            )
            services = await start_services(settings)
            incoming = Incoming(
                key=ConversationKey(platform="bench", chat="overhead"),
                author=Author(id="bench:1", name="Bench"),
                text=QUESTION,
            )
            bare: list[float] = []
            engine: list[float] = []
            lean: list[float] = []
            bare_cpu: list[float] = []
            engine_cpu: list[float] = []
            lean_cpu: list[float] = []
            for turn in range(turns + 3):  # the first 3 warm up connections and caches
                cpu_started = time.process_time()
                started = time.perf_counter()
                await services.assistant.handle(incoming, CollectingSink())
                elapsed = time.perf_counter() - started
                cpu_used = time.process_time() - cpu_started
                sent = await last_request(http, url)
                cpu_started = time.process_time()
                bare_elapsed = await bare_call(client, sent)
                bare_cpu_used = time.process_time() - cpu_started
                cpu_started = time.process_time()
                lean_elapsed = await raw_call(client, sent)
                lean_cpu_used = time.process_time() - cpu_started
                if turn >= 3:
                    engine.append(elapsed)
                    bare.append(bare_elapsed)
                    lean.append(lean_elapsed)
                    engine_cpu.append(cpu_used)
                    bare_cpu.append(bare_cpu_used)
                    lean_cpu.append(lean_cpu_used)
            await services.close()
        await client.close()
        await http.close()
    ratio = statistics.median(engine) / statistics.median(bare)
    lean_ratio = statistics.median(engine) / statistics.median(lean)
    print(f"transport       : {transport} (all three)")
    print(f"bare openai SDK : {summary(bare)}")
    print(f"lean SDK call   : {summary(lean)} (extra_body, raw lines: as the engine calls it)")
    print(f"engine turn     : {summary(engine)}")
    print(f"overhead ratio  : {ratio:.3f} (target <= 1.03)")
    print(f"vs lean call    : {lean_ratio:.3f} (the engine's own work: storage, context, limits)")
    # Wall time moves with whatever else the machine runs; process CPU (this process only: the
    # emulator is another) shows our own work, and is steadier on a shared machine.
    own = statistics.median(engine_cpu) * 1000
    sdk = statistics.median(bare_cpu) * 1000
    share = (own - sdk) / (statistics.median(bare) * 1000) * 100
    print(
        f"CPU per turn    : engine {own:.1f} ms, bare SDK {sdk:.1f} ms, lean call "
        f"{statistics.median(lean_cpu) * 1000:.1f} ms (process CPU, medians): the engine adds "
        f"{own - sdk:.1f} ms of CPU, {share:.1f} % of a bare call's wall time"
    )
    return {"overhead_ratio": ratio, "overhead_ratio_lean": lean_ratio}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--transport", choices=["aiohttp", "httpx"], default=ENGINE_TRANSPORT)
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.transport))
