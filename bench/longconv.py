"""Long conversations: CPU and yuan per turn by exchange number, compaction on and off.

``--conversations`` conversations ask ``--exchanges`` questions each, in lock-step rounds (every
conversation asks its exchange k, all at once, then k+1), each answered with ~``--answer-tokens``
tokens by the Moonshot emulator (the ``[[len:N]]`` marker; its own process, no limits). The bot
(the real engine: storage, context, compaction, limiter, Kimi client) runs in a worker process of
its own, one per run, with a fresh emulator each (so the second run does not hit the first one's
prefix cache); the worker only adds the questions' loop, a few microseconds a turn.

Reported, for a run with compaction on (default settings) and one with it off
(``HISTORY_MAX_TOKENS=0``):

- CPU ms per turn of the bot process (user + system, every thread: SQLite's too) at exchanges 1,
  10, 30, 50 and the last: the process CPU a round used ÷ the conversations. Work that runs in the
  background after an answer (a compaction) counts in the round it runs in. Target: exchange 50 ÷
  exchange 1 ≤ 1.3 with compaction on.
- Prompt tokens billed and the cost per turn at exchanges 10, 30 and the last (the ledger's rows of
  that round ÷ the conversations; summary calls are ledger rows too and count), and how much
  cheaper the last exchange is with compaction on: target ≥ 50 %.
- The cached share of all prompt tokens billed (Moonshot's prefix cache, as the emulator models it).
- Early-fact recall: exchange 1 states a name and a number, the last exchange asks for it with the
  emulator's ``[[recall:KEY]]``: pass when every conversation's answer has the number.

``--profile 1,50`` also writes a pyinstrument profile of those rounds (the bot process) to
``--profile-dir``. Timings come from a shared machine: compare runs of the same day only.

    python -m bench.longconv [--conversations 20] [--exchanges 60] [--answer-tokens 300]
                             [--runs on,off] [--model ID] [--profile 1,50 --profile-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FACT_NAME = "Zorblat"
FACT_NUMBER = "4711"
FACT = f"My name is {FACT_NAME} Quenby and my locker code is {FACT_NUMBER}."
TOPICS = ("the old lighthouse", "river boats", "mountain trails", "winter gardens", "tea houses")
CHARS_PER_TOKEN = 4  # the emulator's [[len:N]] answers: N characters of short words
CPU_EXCHANGES = (1, 10, 30, 50, 60)
COST_EXCHANGES = (10, 30, 60)
WARM_UP_EXCHANGES = 3


@dataclass
class Round:
    exchange: int
    cpu_ms_per_turn: float
    calls: int
    prompt_tokens: int
    cached_tokens: int
    cost: float
    failures: int


@dataclass
class RunResult:
    mode: str
    conversations: int
    rounds: list[Round] = field(default_factory=list)
    currency: str = ""
    recall_passed: int = 0
    recall_asked: int = 0
    summary_calls: int = 0
    summary_cost: float = 0.0
    history_max_tokens: int | None = None


def question(exchange: int, last: int, answer_chars: int) -> str:
    """Exchange 1 states the fact, the last one asks for it back; the others ask for filler
    that states no fact (no digit, no " is "), so summaries stay about the fact."""
    if exchange == last and last > 1:
        return f"What do you remember about me? [[recall:{FACT_NAME}]]"
    if exchange == 1:
        return f"{FACT} Tell me about {TOPICS[0]}, please. [[len:{answer_chars}]]"
    return f"Tell me more about {TOPICS[exchange % len(TOPICS)]}, please. [[len:{answer_chars}]]"


# --------------------------------------------------------------------------- worker (the bot)


async def worker(args: argparse.Namespace) -> RunResult:
    import resource

    from bench.common import EMULATOR_KEY, moonshot_subprocess
    from core.catalog import builtin_catalog
    from core.config import load_settings
    from core.service import start_services
    from core.types import Author, CollectingSink, ConversationKey, Incoming
    from storage import COMPLETE

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    result = RunResult(mode=args.worker, conversations=args.conversations)
    answer_chars = args.answer_tokens * CHARS_PER_TOKEN
    profile_at = {int(x) for x in args.profile.split(",") if x} if args.profile else set()
    delay = str(args.token_delay)
    async with moonshot_subprocess("--no-limits", "--token-delay", delay) as url:
        with tempfile.TemporaryDirectory() as tmp:
            models = Path(tmp) / "models.toml"
            # every model unlimited, the summary model too: this is about our process and prices
            models.write_text(
                "".join(
                    f'[models."{spec.id}"]\nrpm = 1000000\ntpm = 1000000000\nconcurrency = 100000\n\n'
                    for spec in builtin_catalog()
                )
            )
            overrides: dict[str, Any] = {}
            if args.worker == "off":
                overrides["history_max_tokens"] = 0
            if args.model:
                overrides["kimi_model"] = args.model
            settings = load_settings(
                moonshot_api_key=EMULATOR_KEY,
                moonshot_base_url=url,
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'longconv.db'}",
                kimi_models_file=str(models),
                log_level="WARNING",
                _env_file=None,
                **overrides,
            )
            result.history_max_tokens = getattr(settings, "history_max_tokens", None)
            services = await start_services(settings)
            try:

                async def ask(chat: str, text: str) -> tuple[bool, str]:
                    sink = CollectingSink()
                    incoming = Incoming(
                        ConversationKey(platform="bench", chat=chat),
                        Author(id=f"bench:{chat}", name=f"User {chat}"),
                        text,
                    )
                    outcome = await services.assistant.handle(incoming, sink)
                    done = outcome is not None and outcome.status == COMPLETE and bool(sink.final)
                    return done, sink.final or ""

                for exchange in range(1, WARM_UP_EXCHANGES + 1):  # connections, caches, imports
                    await asyncio.gather(
                        *(
                            ask(f"warm-{c}", question(exchange, 0, answer_chars))
                            for c in range(min(4, args.conversations))
                        )
                    )
                before = await services.db.usage.totals()
                for exchange in range(1, args.exchanges + 1):
                    text = question(exchange, args.exchanges, answer_chars)
                    profiler = None
                    if exchange in profile_at:
                        from pyinstrument import Profiler

                        profiler = Profiler(interval=0.0005, async_mode="disabled")
                        profiler.start()
                    started = cpu()
                    answers = await asyncio.gather(
                        *(ask(str(c), text) for c in range(args.conversations))
                    )
                    used = cpu() - started
                    if profiler is not None:
                        profiler.stop()
                        out = Path(args.profile_dir) / f"longconv-{args.worker}-ex{exchange}.txt"
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_text(profiler.output_text(unicode=True, show_all=False))
                        if profiler.last_session is not None:  # pyinstrument --load to re-render
                            profiler.last_session.save(str(out.with_suffix(".pyisession")))
                    after = await services.db.usage.totals()
                    cost = sum(after.costs.values()) - sum(before.costs.values())
                    if not result.currency and after.costs:
                        result.currency = next(iter(after.costs))
                    result.rounds.append(
                        Round(
                            exchange=exchange,
                            cpu_ms_per_turn=used * 1000 / args.conversations,
                            calls=after.calls - before.calls,
                            prompt_tokens=after.prompt_tokens - before.prompt_tokens,
                            cached_tokens=after.cached_tokens - before.cached_tokens,
                            cost=cost,
                            failures=sum(1 for done, _ in answers if not done),
                        )
                    )
                    before = after
                    if exchange == args.exchanges and exchange > 1:
                        result.recall_asked = len(answers)
                        result.recall_passed = sum(1 for _, a in answers if FACT_NUMBER in a)
                await asyncio.sleep(0.5)  # a compaction still running after the last answer
                result.summary_calls, result.summary_cost = await summary_rows(services)
            finally:
                await services.close()
    return result


async def summary_rows(services: Any) -> tuple[int, float]:
    """Ledger rows with no message id: calls that answered nobody (summaries)."""
    from sqlalchemy import func, select

    from storage.models import UsageRecord

    async with services.db.engine.connect() as connection:
        query = select(func.count(UsageRecord.id), func.coalesce(func.sum(UsageRecord.cost), 0.0))
        row = (await connection.execute(query.where(UsageRecord.message_id.is_(None)))).one()
    return int(row[0]), float(row[1])


# --------------------------------------------------------------------------- the report


def at(result: RunResult, exchange: int) -> Round | None:
    return next((r for r in result.rounds if r.exchange == exchange), None)


def window_of(result: RunResult, last: int, size: int = 10) -> list[Round]:
    """The last ``size`` exchanges' rounds (51-60 of 60)."""
    return [r for r in result.rounds if r.exchange > last - size]


def mean_cost(result: RunResult, rounds: list[Round]) -> float:
    return sum(r.cost for r in rounds) / len(rounds) / result.conversations


def wanted(exchanges: tuple[int, ...], last: int) -> list[int]:
    return sorted({e for e in exchanges if e < last} | {last})


def report(results: list[RunResult], args: argparse.Namespace) -> None:
    last = args.exchanges
    print(
        f"longconv: {args.conversations} conversations x {last} exchanges, answers "
        f"~{args.answer_tokens} tokens, token delay {args.token_delay * 1000:g} ms, model "
        f"{args.model or 'the default'}; bot and "
        "emulator in separate processes; CPU is process CPU on a shared 2-core machine"
    )
    for result in results:
        failures = sum(r.failures for r in result.rounds)
        cpu = ", ".join(
            f"ex{e} {round_.cpu_ms_per_turn:.1f}"
            for e in wanted(CPU_EXCHANGES, last)
            if (round_ := at(result, e))
        )
        print(
            f"[{result.mode}] HISTORY_MAX_TOKENS={result.history_max_tokens}: "
            f"CPU ms per turn: {cpu}; failed turns {failures}"
        )
        for e in wanted(COST_EXCHANGES, last):
            if r := at(result, e):
                print(
                    f"[{result.mode}] exchange {e}: {r.prompt_tokens / result.conversations:.0f} "
                    f"prompt tokens billed per turn ({r.cached_tokens / result.conversations:.0f} "
                    f"cached), {r.cost / result.conversations:.4f} {result.currency} per turn"
                )
        window = window_of(result, last)
        if window:
            print(
                f"[{result.mode}] mean over exchanges {window[0].exchange}-{window[-1].exchange}: "
                f"{sum(r.prompt_tokens for r in window) / len(window) / result.conversations:.0f} "
                f"prompt tokens, {mean_cost(result, window):.4f} {result.currency} per turn"
            )
        prompt = sum(r.prompt_tokens for r in result.rounds)
        cached = sum(r.cached_tokens for r in result.rounds)
        print(
            f"[{result.mode}] cached share of prompt tokens: "
            f"{cached / prompt * 100 if prompt else 0:.1f} % ({cached:,} of {prompt:,}); "
            f"summary calls {result.summary_calls} costing {result.summary_cost:.4f} "
            f"{result.currency}; total cost {sum(r.cost for r in result.rounds):.4f} "
            f"{result.currency}"
        )
        if result.recall_asked:
            verdict = "pass" if result.recall_passed == result.recall_asked else "FAIL"
            print(
                f"[{result.mode}] early-fact recall at exchange {last}: {verdict} "
                f"({result.recall_passed}/{result.recall_asked})"
            )
    by_mode = {r.mode: r for r in results}
    on = by_mode.get("on")
    if on is not None and (first := at(on, 1)) and (fifty := at(on, min(50, last))):
        print(
            f"CPU ratio exchange {fifty.exchange} / exchange 1 (compaction on): "
            f"{fifty.cpu_ms_per_turn / first.cpu_ms_per_turn:.2f} (target <= 1.3)"
        )
    off = by_mode.get("off")
    if on is not None and off is not None:
        # the last exchange asks for the fact: compare the one before it (an ordinary turn)
        compare = last - 1 if last > 2 else last
        a, b = at(on, compare), at(off, compare)
        if a and b and b.cost:
            print(
                f"cost at exchange {compare}, compaction on vs off: "
                f"{(1 - a.cost / b.cost) * 100:.1f} % cheaper (target >= 50 %)"
            )
        wa, wb = window_of(on, last), window_of(off, last)
        if wa and wb and mean_cost(off, wb):
            print(
                f"mean cost over exchanges {wa[0].exchange}-{wa[-1].exchange}, compaction on vs "
                f"off: {(1 - mean_cost(on, wa) / mean_cost(off, wb)) * 100:.1f} % cheaper "
                "(compaction saw-tooths: a mean over 10 exchanges is steadier than one point)"
            )
    forgot = sum(r.recall_asked - r.recall_passed for r in results)
    print(
        f"early-fact recall: {'pass' if not forgot else 'FAIL'}; conversations that forgot "
        f"the fact: {forgot}"
    )


def run_worker(mode: str, args: argparse.Namespace) -> RunResult:
    command = [
        sys.executable,
        "-m",
        "bench.longconv",
        "--worker",
        mode,
        "--conversations",
        str(args.conversations),
        "--exchanges",
        str(args.exchanges),
        "--answer-tokens",
        str(args.answer_tokens),
        "--token-delay",
        str(args.token_delay),
        "--profile",
        args.profile or "",
        "--profile-dir",
        args.profile_dir,
        "--model",
        args.model,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"longconv: the {mode} run failed (exit {done.returncode})")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    rounds = [Round(**r) for r in data.pop("rounds")]
    return RunResult(**data, rounds=rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--exchanges", type=int, default=60)
    parser.add_argument("--answer-tokens", type=int, default=300)
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds per token")
    parser.add_argument("--runs", default="on,off", help="on, off or on,off")
    parser.add_argument("--profile", default="", help="exchanges to profile, e.g. 1,50")
    parser.add_argument("--profile-dir", default=str(Path(tempfile.gettempdir()) / "longconv"))
    parser.add_argument("--model", default="", help="KIMI_MODEL (default: the settings')")
    parser.add_argument("--worker", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.conversations < 1 or args.exchanges < 1 or args.answer_tokens < 1:
        parser.error("need --conversations, --exchanges and --answer-tokens >= 1")
    if args.worker:
        result = asyncio.run(worker(args))
        print(json.dumps(asdict(result)))
        return 0
    modes = [m for m in args.runs.split(",") if m in ("on", "off")]
    started = time.monotonic()
    results = [run_worker(mode, args) for mode in modes]
    report(results, args)
    print(f"longconv took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
