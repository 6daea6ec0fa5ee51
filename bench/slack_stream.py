"""Slack answers: Web API calls per answer, and time from Kimi's first token to visible text.

Runs the real adapter (slack-bolt/slack-sdk over HTTP) against the Slack and Moonshot
emulators, for native streaming and for the post + update fallback, at the default pacing
(one preview per ``SLACK_UPDATE_INTERVAL`` = 1 s). "Visible" is the first Web API call that
carries answer text (``chat.startStream`` or ``chat.postMessage``) reaching Slack.

    python -m bench.slack_stream [--answers 3] [--length 1500] [--token-delay 0.01]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bots.http import HttpServer, build_app
from bots.slack import SlackAdapter
from bots.slack.target import ReplyTarget
from core.config import load_settings
from core.service import start_services
from core.types import ReplySink
from emulators.moonshot import Fault, MoonshotEmulator
from emulators.slack import SlackEmulator

KEY = "sk-bench-slack"
TEXT_METHODS = ("chat.startStream", "chat.postMessage")


class FirstToken:
    """Wraps the adapter's sink to note when the first token arrives from Kimi."""

    def __init__(self, sink: ReplySink, seen: list[float]) -> None:
        self._sink = sink
        self._seen = seen
        self._noted = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)

    async def append(self, delta: str) -> None:
        if not self._noted:
            self._noted = True
            self._seen.append(time.time())
        await self._sink.append(delta)


def _carries_text(params: dict[str, Any]) -> bool:
    if params.get("text") or params.get("markdown_text"):
        return True
    return any(chunk.get("text") for chunk in params.get("chunks") or [])


async def run(
    streaming: bool, answers: int, length: int, token_delay: float
) -> dict[str, float | str]:
    moonshot = MoonshotEmulator(api_key=KEY, enforce_limits=False)
    await moonshot.start(host="127.0.0.1", port=0)
    slack = SlackEmulator(streaming_enabled=streaming)
    await slack.start()
    slack.add_user("U1", "alice", "Alice", "Alice")
    slack.add_channel("D1", is_im=True, user="U1")
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            moonshot_api_key=KEY,
            moonshot_base_url=moonshot.base_url,
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            slack_bot_token=slack.bot_token,
            slack_signing_secret=slack.signing_secret,
            slack_api_url=slack.api_url,
            _env_file=None,
        )
        services = await start_services(settings)
        adapter = SlackAdapter(services)
        firsts: list[float] = []
        make_sink = adapter.sink

        def timed_sink(target: ReplyTarget, lang: str = "en") -> ReplySink:
            return FirstToken(make_sink(target, lang), firsts)  # type: ignore[return-value]

        adapter.sink = timed_sink  # type: ignore[method-assign]
        adapter._messages._sinks = timed_sink  # the handler was built with the bound method
        server = HttpServer(build_app(services.db, adapter.routes()), "127.0.0.1", 0)
        await server.start()
        await adapter.start()
        slack.events_url = f"http://127.0.0.1:{server.port}/slack/events"
        latencies: list[float] = []
        calls: Counter[str] = Counter()
        try:
            for number in range(answers):
                if token_delay:
                    moonshot.inject(Fault(kind="slow_tokens", delay=token_delay, times=1))
                before = len(slack.calls)
                await slack.user_message("D1", "U1", f"question {number} [[len:{length}]]")
                await adapter.idle()
                made = slack.calls[before:]
                calls.update(c.method for c in made)
                visible = next(
                    c.timestamp
                    for c in made
                    if c.method in TEXT_METHODS and _carries_text(c.params)
                )
                latencies.append(visible - firsts[-1])
        finally:
            await adapter.stop()
            await server.stop()
            await services.close()
            await slack.stop()
            await moonshot.stop()
    per_answer = {method: count / answers for method, count in sorted(calls.items())}
    return {
        "calls": sum(per_answer.values()),
        "breakdown": ", ".join(f"{m} {n:.2g}" for m, n in per_answer.items()),
        "first_visible_ms": statistics.median(latencies) * 1000,
    }


async def main(answers: int, length: int, token_delay: float) -> None:
    print(f"{answers} answers of {length} characters, {token_delay * 1000:g} ms per token chunk")
    for streaming in (True, False):
        result = await run(streaming, answers, length, token_delay)
        mode = "native streaming" if streaming else "post + update fallback"
        print(
            f"{mode:24s} {result['calls']:5.1f} Web API calls/answer "
            f"({result['breakdown']}); first token -> first visible text: "
            f"median {result['first_visible_ms']:.1f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=3)
    parser.add_argument("--length", type=int, default=1500)
    parser.add_argument("--token-delay", type=float, default=0.01)
    args = parser.parse_args()
    asyncio.run(main(args.answers, args.length, args.token_delay))
