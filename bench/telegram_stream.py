"""Telegram streaming: how fast the first text shows, and how many Bot API calls an answer costs.

A 2,000-character answer streams from the Moonshot emulator (own process, ``--token-delay``
between ~8-character chunks) through the real engine and the real Telegram adapter (PTB over
HTTP) into the Telegram emulator with flood control on, with the default pacing settings
(drafts/edits about once per second in private chats, one edit per 3 s in groups).

Measured per answer: first Kimi token → first visible text (the first accepted draft or message,
timed at the sink), and the Bot API calls it made (drafts, sends, edits; typing separately).
Each answer goes to a fresh chat so one answer's flood budget does not delay the next.

    python -m bench.telegram_stream [--answers 5] [--token-delay 0.01]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

from bench.common import EMULATOR_KEY, moonshot_subprocess
from bots.telegram import TelegramAdapter
from bots.telegram.sink import TelegramSink
from core.config import load_settings
from core.service import start_services
from emulators.telegram import TelegramEmulator

TOKEN = "123456:BENCH-TOKEN"
ANSWER_CHARS = 2000
COUNTED = ("sendMessageDraft", "sendMessage", "editMessageText", "deleteMessage")


async def run(answers: int, token_delay: float) -> dict[str, float]:
    warnings.filterwarnings("ignore", module="telegram")
    results: dict[str, float] = {}
    async with moonshot_subprocess("--no-limits", "--token-delay", str(token_delay)) as url:
        tg = TelegramEmulator(token=TOKEN, bot_username="kimi_bench_bot")
        await tg.start()
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                moonshot_api_key=EMULATOR_KEY,
                moonshot_base_url=url,
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
                telegram_bot_token=TOKEN,
                telegram_api_url=tg.url,
                _env_file=None,
            )
            services = await start_services(settings)
            adapter = TelegramAdapter(services)
            sinks: list[TelegramSink] = []

            def recording_sink(*args: object, **kwargs: object) -> TelegramSink:
                sink = TelegramSink(*args, **kwargs)  # type: ignore[arg-type]
                sinks.append(sink)
                return sink

            adapter.processor.sink_factory = recording_sink
            await adapter.start()
            try:
                for mode in ("private", "group"):
                    results.update(await _mode(tg, adapter, sinks, mode, answers))
            finally:
                await adapter.stop()
                await services.close()
                await tg.stop()
    return results


async def _mode(
    tg: TelegramEmulator,
    adapter: TelegramAdapter,
    sinks: list[TelegramSink],
    mode: str,
    answers: int,
) -> dict[str, float]:
    latencies: list[float] = []
    per_answer: list[Counter[str]] = []
    durations: list[float] = []
    for index in range(answers):
        chat = 1000 + index if mode == "private" else -100_200 - index
        if mode == "group":
            tg.add_chat(chat, type="supergroup", title=f"Bench {index}")
        sinks.clear()
        first_call = len(tg.calls)
        done = adapter.processor.processed + 1
        started = time.monotonic()
        tg.user_message(
            chat, 7, f"stream please [[len:{ANSWER_CHARS}]]", mention_bot=mode == "group"
        )
        await tg.wait_for(lambda done=done: adapter.processor.processed >= done, timeout=120)
        durations.append(time.monotonic() - started)
        (sink,) = sinks
        assert sink.first_delta_at is not None and sink.first_visible_at is not None
        latencies.append(sink.first_visible_at - sink.first_delta_at)
        calls = Counter(
            c.method
            for c in tg.calls[first_call:]
            if c.method in (*COUNTED, "sendChatAction") and int(c.params.get("chat_id", 0)) == chat
        )
        per_answer.append(calls)
        shown = "".join(m.text or "" for m in tg.messages(chat) if not m.deleted)
        assert len(shown) >= ANSWER_CHARS * 0.95, "the whole answer should be in the chat"
    counted = [sum(c[m] for m in COUNTED) for c in per_answer]
    breakdown = {m: statistics.mean(c[m] for c in per_answer) for m in (*COUNTED, "sendChatAction")}
    print(f"{mode} chat, {answers} answers of {ANSWER_CHARS} chars:")
    print(
        f"  first Kimi token -> first visible text: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms"
    )
    print(
        f"  Bot API calls per answer: {statistics.mean(counted):.1f} "
        + "("
        + ", ".join(f"{m} {v:.1f}" for m, v in breakdown.items() if v and m != "sendChatAction")
        + f"; plus sendChatAction {breakdown['sendChatAction']:.1f})"
    )
    print(f"  message to final answer: median {statistics.median(durations):.2f} s")
    print(f"  flood-control violations so far: {len(tg.flood_violations)}")
    return {
        f"{mode}_first_visible_ms": statistics.median(latencies) * 1000,
        f"{mode}_calls_per_answer": statistics.mean(counted),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=5)
    parser.add_argument("--token-delay", type=float, default=0.01)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.answers, arguments.token_delay))
