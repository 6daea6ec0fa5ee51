"""Long answers: a 30,000-character answer streamed whole vs continued with Partial Mode.

An answer cut at ``max_tokens`` is continued with Moonshot's Partial Mode (``core.tools.loop``);
the user should see one answer that keeps flowing, not one with a pause at every cut. Each run
sends one question asking for ``--length`` characters (the Moonshot emulator's ``[[len:N]]``)
through the real engine and the real adapter into a platform emulator:

- Telegram private chat (PTB over HTTP, flood control on, drafts) and Slack DM (slack-sdk over
  HTTP, native streaming), with the default pacing settings;
- "plain": the catalog's ``max_output`` is 16,384 tokens, so one stream carries the whole answer;
  "continued": ``max_output`` is 2,048, so the answer comes in several Partial Mode rounds.

The Moonshot emulator runs in its own process with the same ``--token-delay`` (one ~6-character
chunk per delay) for every run. Measured per run: first delta at the sink → the last call that
carries answer text reaching the platform emulator (the final text is there, checked), the chat
requests Moonshot saw, the platform calls by method, flood-control violations (429s), the longest
gap between consecutive deltas at the sink (overall and where a continuation starts, split into
the cut stream's end, our work between the calls and the new request's first delta) and between
consecutive visible updates. One unmeasured continued answer per platform, streamed without the
token delay, warms both processes first. "One round trip" is measured in each plain run: a
request's start to its first delta, plus its last delta to the end of its stream (the same costs
a continuation request pays once more).

    python -m bench.long_answer [--quick] [--length 30000] [--token-delay 0.01] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import EMULATOR_KEY, moonshot_subprocess
from bots.http import HttpServer, build_app
from bots.slack import SlackAdapter
from bots.telegram import TelegramAdapter
from core.config import Settings, load_settings
from core.service import Services, start_services
from core.types import ReplySink
from emulators.moonshot.answers import long_text
from emulators.slack import SlackEmulator
from emulators.telegram import TelegramEmulator

TOKEN = "123456:BENCH-LONG"
MODEL = "kimi-k2"
PLAIN_OUTPUT = 16_384  # tokens: one stream carries 30,000 characters (~7,500 tokens)
CUT_OUTPUT = 2_048  # tokens: about 8,200 characters per round
TELEGRAM_TEXT = ("sendMessageDraft", "sendMessage", "editMessageText")
SLACK_TEXT = (
    "chat.postMessage",
    "chat.update",
    "chat.startStream",
    "chat.appendStream",
    "chat.stopStream",
)
Clock = Callable[[], float]


@dataclass(slots=True)
class Trace:
    """What one run saw, all on one clock: deltas at the sink and each model call's span."""

    deltas: list[tuple[float, int]] = field(default_factory=list)  # (time, characters)
    calls: list[tuple[float, float, int]] = field(default_factory=list)  # (start, end, chars)


class DeltaClock:
    """Wraps the adapter's sink to note when every delta arrives from Kimi."""

    def __init__(self, sink: ReplySink, clock: Clock, trace: Trace) -> None:
        self._sink = sink
        self._clock = clock
        self._trace = trace

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)

    async def append(self, delta: str) -> None:
        self._trace.deltas.append((self._clock(), len(delta)))
        await self._sink.append(delta)


def time_model_calls(services: Services, clock: Clock, trace: Trace) -> None:
    """Note each chat call's start and end (the tool loop calls ``services.kimi.stream``)."""
    original = services.kimi.stream

    async def stream(**kwargs: Any) -> Any:
        started = clock()
        completion = await original(**kwargs)
        trace.calls.append((started, clock(), len(completion.text)))
        return completion

    services.kimi.stream = stream  # type: ignore[method-assign]


@dataclass(slots=True)
class Result:
    platform: str
    mode: str
    first_to_last: float  # s: first delta at the sink → last text-carrying platform call
    model_calls: int
    platform_calls: Counter[str]
    violations: int
    delta_gap: float  # s, longest between consecutive deltas
    delta_gap_median: float
    boundary_gap: float  # s, longest where a continuation's first delta arrives (0: none)
    worst_cut: tuple[float, float, float]  # that gap: stream end, between calls, to first delta
    visible_gap: float  # s, longest between consecutive visible updates
    round_trip: float  # s: first call's start → first delta, + last delta → its end
    complete: bool


def analyse(
    platform: str,
    mode: str,
    trace: Trace,
    visible: list[float],
    requests: list[dict[str, Any]],
    calls: Counter[str],
    violations: int,
    complete: bool,
) -> Result:
    times = [t for t, _ in trace.deltas]
    gaps = [b - a for a, b in pairwise(times)]
    starts: list[int] = []  # index of the first delta of each round after the first
    offset = sent = 0
    bounds = [sum(c for *_, c in trace.calls[: i + 1]) for i in range(len(trace.calls) - 1)]
    for index, (_, chars) in enumerate(trace.deltas):
        if sent < len(bounds) and offset >= bounds[sent]:
            starts.append(index)
            sent += 1
        offset += chars
    # Each continuation's gap, split: the cut stream's end after its last delta, our own work
    # between the two calls, and the new request's start to its first delta.
    cuts = [
        (
            trace.calls[j][1] - times[i - 1],
            trace.calls[j + 1][0] - trace.calls[j][1],
            times[i] - trace.calls[j + 1][0],
        )
        for j, i in enumerate(starts)
    ]
    worst = max(cuts, key=sum, default=(0.0, 0.0, 0.0))
    start, end, _ = trace.calls[0]
    first_round_last = times[starts[0] - 1] if starts else times[-1]
    round_trip = (times[0] - start) + (end - first_round_last)
    partial = sum(1 for body in requests if body["messages"][-1].get("partial") is True)
    assert partial == len(requests) - 1, "every call after the first should be a continuation"
    visible_gaps = [b - a for a, b in pairwise(visible)]
    return Result(
        platform=platform,
        mode=mode,
        first_to_last=visible[-1] - times[0],
        model_calls=len(requests),
        platform_calls=calls,
        violations=violations,
        delta_gap=max(gaps),
        delta_gap_median=statistics.median(gaps),
        boundary_gap=sum(worst),
        worst_cut=worst,
        visible_gap=max(visible_gaps, default=0.0),
        round_trip=round_trip,
        complete=complete,
    )


class Moonshot:
    """The emulator's control API: what chat requests it saw since the last reset."""

    def __init__(self, base_url: str) -> None:
        self._root = base_url.removesuffix("/v1")

    async def reset(self, unpaced: int = 0) -> None:
        """Forget the last run; the next ``unpaced`` chat requests stream without token delay."""
        async with aiohttp.ClientSession() as session:
            await session.post(f"{self._root}/_emulator/reset")
            if unpaced:
                fault = {"kind": "slow_tokens", "delay": 0.0, "times": unpaced}
                await session.post(f"{self._root}/_emulator/faults", json=fault)

    async def chat_requests(self) -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self._root}/_emulator/requests") as response:
                bodies = await response.json()
        return [b for b in bodies if isinstance(b, dict) and "messages" in b]


@contextlib.asynccontextmanager
async def bot_settings(url: str, max_output: int, **platform: Any) -> AsyncIterator[Settings]:
    """Settings on a fresh SQLite file, with the catalog's max_output set for kimi-k2."""
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models.toml"
        models.write_text(f'[models."{MODEL}"]\nmax_output = {max_output}\n', encoding="utf-8")
        yield load_settings(
            moonshot_api_key=EMULATOR_KEY,
            moonshot_base_url=url,
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            kimi_model=MODEL,
            kimi_models_file=str(models),
            _env_file=None,
            **platform,
        )


def ending(length: int) -> str:
    """The answer's last word: when the platform shows it, the whole answer is there."""
    return long_text(length).rsplit(None, 1)[-1]


async def telegram_run(
    url: str,
    moonshot: Moonshot,
    tg: TelegramEmulator,
    mode: str,
    chat: int,
    length: int,
    unpaced: int = 0,
) -> Result:
    output = PLAIN_OUTPUT if mode == "plain" else CUT_OUTPUT
    trace = Trace()
    async with bot_settings(
        url, output, telegram_bot_token=TOKEN, telegram_api_url=tg.url
    ) as settings:
        services = await start_services(settings)
        time_model_calls(services, time.monotonic, trace)
        adapter = TelegramAdapter(services)
        make_sink = adapter.processor.sink_factory

        def recording_sink(*args: Any, **kwargs: Any) -> Any:
            return DeltaClock(make_sink(*args, **kwargs), time.monotonic, trace)

        adapter.processor.sink_factory = recording_sink
        await adapter.start()
        try:
            await moonshot.reset(unpaced)
            first_call, first_failure = len(tg.calls), len(tg.failures)
            violations = len(tg.flood_violations)
            done = adapter.processor.processed + 1
            tg.user_message(chat, 7, f"a long answer please [[len:{length}]]")
            await tg.wait_for(lambda: adapter.processor.processed >= done, timeout=900)
        finally:
            await adapter.stop()
            await services.close()
    made = [c for c in tg.calls[first_call:] if str(c.params.get("chat_id", "")) == str(chat)]
    refused = [f for f in tg.failures[first_failure:] if f.method in TELEGRAM_TEXT]
    visible = [c.timestamp for c in made if c.method in TELEGRAM_TEXT and c.params.get("text")]
    shown = [m.text or "" for m in tg.messages(chat) if not m.deleted]
    complete = (
        bool(shown)
        and sum(map(len, shown)) >= length * 0.95
        and shown[-1].rstrip().endswith(ending(length))
    )
    return analyse(
        "telegram",
        mode,
        trace,
        visible,
        await moonshot.chat_requests(),
        Counter(c.method for c in made),
        len(tg.flood_violations) - violations + len(refused),
        complete,
    )


def _carries_text(params: dict[str, Any]) -> bool:
    if params.get("text") or params.get("markdown_text"):
        return True
    return any(isinstance(c, dict) and c.get("text") for c in params.get("chunks") or [])


async def slack_run(
    url: str,
    moonshot: Moonshot,
    slack: SlackEmulator,
    mode: str,
    channel: str,
    length: int,
    unpaced: int = 0,
) -> Result:
    output = PLAIN_OUTPUT if mode == "plain" else CUT_OUTPUT
    trace = Trace()
    slack.add_channel(channel, is_im=True, user="U1")
    async with bot_settings(
        url,
        output,
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack.signing_secret,
        slack_api_url=slack.api_url,
    ) as settings:
        services = await start_services(settings)
        time_model_calls(services, time.time, trace)
        adapter = SlackAdapter(services)
        make_sink = adapter.sink

        def recording_sink(*args: Any, **kwargs: Any) -> Any:
            return DeltaClock(make_sink(*args, **kwargs), time.time, trace)

        adapter._messages._sinks = recording_sink  # the handler was built with the bound method
        server = HttpServer(build_app(services.db, adapter.routes()), "127.0.0.1", 0)
        await server.start()
        await adapter.start()
        slack.events_url = f"http://127.0.0.1:{server.port}/slack/events"
        try:
            await moonshot.reset(unpaced)
            first_call = len(slack.calls)
            violations = len(slack.rate_limit_violations)
            await slack.user_message(channel, "U1", f"a long answer please [[len:{length}]]")
            await adapter.idle()
        finally:
            await adapter.stop()
            await server.stop()
            await services.close()
    made = [
        c
        for c in slack.calls[first_call:]
        if channel in (c.params.get("channel"), c.params.get("channel_id"))
    ]
    visible = [
        c.timestamp for c in made if c.method in SLACK_TEXT and c.ok and _carries_text(c.params)
    ]
    shown = [m.text for m in slack.messages(channel)]
    complete = (
        bool(shown)
        and sum(map(len, shown)) >= length * 0.95
        and shown[-1].rstrip().endswith(ending(length))
    )
    return analyse(
        "slack",
        mode,
        trace,
        visible,
        await moonshot.chat_requests(),
        Counter(c.method for c in made),
        len(slack.rate_limit_violations) - violations,
        complete,
    )


async def run(length: int, token_delay: float, repeat: int) -> list[Result]:
    warnings.filterwarnings("ignore", module="telegram")
    results: list[Result] = []
    async with moonshot_subprocess("--no-limits", "--token-delay", str(token_delay)) as url:
        moonshot = Moonshot(url)
        tg = TelegramEmulator(token=TOKEN, bot_username="kimi_long_bot")
        await tg.start()
        try:
            # Not measured: a fresh process's first answers pay for imports and cold paths (a
            # first continuation took ~60 ms longer, with the bare SDK too); a long-running
            # bot has paid them. One continued answer per platform, unpaced, warms them.
            await telegram_run(url, moonshot, tg, "continued", 4999, length, unpaced=10)
            for number in range(repeat):
                for index, mode in enumerate(("plain", "continued")):
                    chat = 5000 + number * 2 + index
                    results.append(await telegram_run(url, moonshot, tg, mode, chat, length))
                    print(row(results[-1]), flush=True)
        finally:
            await tg.stop()
        slack = SlackEmulator(streaming_enabled=True)
        await slack.start()
        slack.add_user("U1", "alice", "Alice", "Alice")
        try:
            await slack_run(url, moonshot, slack, "continued", "D99", length, unpaced=10)
            for number in range(repeat):
                for index, mode in enumerate(("plain", "continued")):
                    channel = f"D{number * 2 + index + 100}"
                    results.append(await slack_run(url, moonshot, slack, mode, channel, length))
                    print(row(results[-1]), flush=True)
        finally:
            await slack.stop()
    return results


HEADER = (
    f"{'platform':9s} {'mode':10s} {'first->last':>11s} {'model':>5s} {'max gap':>8s} "
    f"{'at cut (end+between+first)':>27s} {'1 RTT':>6s} {'visible':>8s} {'429':>3s} ok  "
    "platform calls"
)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def row(r: Result) -> str:
    calls = ", ".join(f"{m} {n}" for m, n in sorted(r.platform_calls.items()))
    cut = f"{ms(r.boundary_gap)} ({'+'.join(map(ms, r.worst_cut))}) ms" if r.boundary_gap else "-"
    return (
        f"{r.platform:9s} {r.mode:10s} {r.first_to_last:10.2f}s {r.model_calls:5d} "
        f"{ms(r.delta_gap):>6s}ms {cut:>27s} {ms(r.round_trip):>4s}ms "
        f"{r.visible_gap:7.2f}s {r.violations:3d} {'yes' if r.complete else 'NO '} {calls}"
    )


def summarise(results: list[Result]) -> bool:
    """Three lines per platform (what bench/run reads) and the verdict; True if it holds.

    The pause a continuation adds is its longest delta gap minus the stream's own pace (the
    plain runs' median gap); "about one round trip" allows 1.5 of the shortest round trip of
    any plain run (a request's start to its first delta, plus its last delta to its end).
    """
    holds = True
    for platform in ("telegram", "slack"):
        plain = [r for r in results if r.platform == platform and r.mode == "plain"]
        cont = [r for r in results if r.platform == platform and r.mode == "continued"]
        plain_time = statistics.median(r.first_to_last for r in plain)
        cont_time = statistics.median(r.first_to_last for r in cont)
        worst = max(cont, key=lambda r: r.boundary_gap)
        pause = worst.boundary_gap
        pace = statistics.median(r.delta_gap_median for r in plain)
        trip = min(r.round_trip for r in results if r.mode == "plain")  # the same model calls
        added = pause - pace
        runs = plain + cont
        violations = sum(r.violations for r in runs)
        fine = added <= trip * 1.5 and violations == 0 and all(r.complete for r in runs)
        holds = holds and fine
        print(
            f"{platform}: first token -> last visible: plain {plain_time:.2f} s, continued "
            f"{cont_time:.2f} s ({(cont_time - plain_time) * 1000:+.0f} ms; "
            f"{statistics.median(r.model_calls for r in cont):g} vs "
            f"{statistics.median(r.model_calls for r in plain):g} model calls)"
        )
        print(
            f"{platform}: longest pause at a continuation {ms(pause)} ms (stream end "
            f"{ms(worst.worst_cut[0])} + between calls {ms(worst.worst_cut[1])} + request to "
            f"first delta {ms(worst.worst_cut[2])}; stream pace {ms(pace)} ms, so {ms(added)} ms "
            f"added); one round trip {ms(trip)} ms; added/round trip {added / trip:.2f}"
        )
        print(
            f"{platform}: longest gap between visible updates: plain "
            f"{max(r.visible_gap for r in plain):.2f} s, continued "
            f"{max(r.visible_gap for r in cont):.2f} s; flood-control violations {violations}; "
            f"complete answers {sum(r.complete for r in runs)}/{len(runs)}"
        )
    return holds


async def main(length: int, token_delay: float, repeat: int) -> None:
    print(
        f"{length:,}-character answers, {token_delay * 1000:g} ms per emulator chunk, "
        f"max_output {PLAIN_OUTPUT} (plain) vs {CUT_OUTPUT} (continued), {repeat} of each"
    )
    print(HEADER)
    results = await run(length, token_delay, repeat)
    holds = summarise(results)
    print(
        "verdict: "
        + (
            "the continuation adds no visible pause beyond about one round trip"
            if holds
            else "NOT MET: a continuation paused more than 1.5 round trips beyond the stream's "
            "pace, or an answer was incomplete or throttled (see above)"
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=30_000)
    parser.add_argument("--token-delay", type=float, help="seconds per chunk (0.01; quick 0.004)")
    parser.add_argument("--repeat", type=int, help="runs of each mode per platform (2; quick 1)")
    parser.add_argument("--quick", action="store_true", help="one run of each, 4 ms per chunk")
    args = parser.parse_args()
    delay = args.token_delay if args.token_delay is not None else (0.004 if args.quick else 0.01)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 2)
    asyncio.run(main(args.length, delay, repeat))
