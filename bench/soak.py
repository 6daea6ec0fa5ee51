"""Soak: many concurrent conversations for minutes, with realistic pacing, against the emulators.

Each conversation is a user who asks, waits for the whole answer, reads it and types the next
question (15–60 s: a 100–400-token answer is 75–300 words to read) and asks again, until the time
is up; users start spread over the first think time so they do not all ask at once. Answers are
100–400 tokens streamed at 20 ms per token by the Moonshot emulator (its own process,
``--no-limits``). Most conversations go straight through the real engine (storage, context,
limiter, Kimi client); a share (``--telegram``) goes through the real
Telegram adapter (python-telegram-bot over HTTP) into the Telegram emulator, flood control on.

Reported: turns completed, errors (a turn that did not end with the complete answer), RSS of
this process at the start (after set-up, before load), after the first minute of load (caches,
connection pools and per-conversation buffers are warm), at the end (after the load, after a
garbage collection) and its maximum, sampled every second; "flat" means the growth from the
first minute to the end, and percentiles of the turn time
and of the time to the first token (engine: ``handle`` called → first text delta; Telegram: the
user's message → first visible draft or message).

With ``--telegram``, also the rows of ``processed_events`` (one per Telegram update the adapter
claimed), counted every :data:`EVENT_SAMPLE_EVERY` seconds while users still ask (``--minutes``):
after the first minute, at the end, the maximum, and "flat" as for RSS, but between the mean of
the second minute's samples and the mean of the last minute's (retention trims in steps, so
single samples saw-tooth); and the count once every user's last turn is over. Without
``--event-retention`` nothing trims them and the table grows with the turns. With
``--event-retention N`` the bot's :class:`core.retention.Retention` runs in this process, time
compressed: claims older than N seconds (instead of ``EVENT_RETENTION_DAYS`` days) are deleted
every N/4 seconds, and the table should level off at about N seconds' worth of claims.

The bot's own limits are lifted with a models file (the catalog's kimi-k2 allows 10 RPM and 3
concurrent calls; this is about our process, not the limiter). This process also runs the load
generator and, with ``--telegram``, the Telegram emulator, whose records of every call are
trimmed as the run goes so they do not count as our memory.

    python -m bench.soak [--conversations 1000] [--minutes 10] [--telegram 0.1]
                         [--token-delay 0.02] [--database URL] [--event-retention SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import os
import random
import resource
import sys
import tempfile
import time
import warnings
from array import array
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from bench.common import EMULATOR_KEY, moonshot_subprocess
from core import event_loop
from core.catalog import builtin_catalog
from core.config import load_settings
from core.retention import Retention, RetentionPolicy
from core.runtime import (
    collect_young_less_often,
    freeze_startup_objects,
    limit_malloc_arenas,
    mmap_large_blocks,
    release_free_memory_every,
)
from core.service import Services, start_services
from core.types import Author, ConversationKey, Incoming
from storage import COMPLETE, IN_PROGRESS

TOKEN = "123456:SOAK-BENCH-TOKEN"
CHARS_PER_TOKEN = 4  # the emulator's [[len:N]] answers are N characters of short words
# Every catalog model's limits lifted: the summary model that compacts long conversations too
# (a 40-minute soak with only the answering models lifted could not compact: 10 RPM).
UNLIMITED = "".join(
    f'[models."{spec.id}"]\nrpm = 1000000\ntpm = 1000000000\nconcurrency = 100000\n\n'
    for spec in builtin_catalog()
)
EVENT_SAMPLE_EVERY = 5.0  # seconds between counts of processed_events
FLAT = 10.0  # % growth after warm-up still called flat (the report's RSS target)


def rss_mb() -> float:
    """Resident set size of this process now (Linux /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sqlite_memory_mb() -> float:
    """Memory SQLite itself holds (page caches, schemas, statements) in this process."""
    try:
        library = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        library.sqlite3_memory_used.restype = ctypes.c_int64
        return library.sqlite3_memory_used() / 1024 / 1024
    except (OSError, AttributeError):
        return float("nan")


def resident_by_kind() -> dict[str, float]:
    """RSS in MB by kind of mapping, from ``/proc/self/smaps`` (empty elsewhere): glibc's main
    heap, Python's object arenas (anonymous 1 MiB mappings), thread stacks (8 MiB), other
    anonymous memory (glibc's thread arena, large blocks mapped on their own, C libraries'
    buffers) and files (code, the database's mmap). Which of them grows says what to fix."""
    kinds: dict[str, float] = {}
    try:
        with open("/proc/self/smaps") as smaps:
            kind = "files"
            for line in smaps:
                first = line.split(maxsplit=6)
                if "-" in first[0] and len(first) >= 5 and first[0][0] in "0123456789abcdef":
                    path = first[5].strip() if len(first) > 5 else ""
                    start, end = (int(x, 16) for x in first[0].split("-"))
                    size = end - start
                    if path == "[heap]":
                        kind = "heap"
                    elif path.startswith("[stack") or (not path and size == 8 << 20):
                        kind = "stacks"
                    elif not path and size == 1 << 20:
                        kind = "arenas"
                    elif not path:
                        kind = "anonymous"
                    else:
                        kind = "files"
                elif first[0] == "Rss:":
                    kinds[kind] = kinds.get(kind, 0.0) + int(first[1]) / 1024
    except (OSError, ValueError, IndexError):
        return {}
    return kinds


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (malloc.h), every arena summed."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost",
        )
    ]  # fmt: skip


def malloc_mb() -> tuple[float, float]:
    """glibc's heap: bytes in use (mmapped chunks included) and bytes free but kept, in MB;
    NaN where there is no ``mallinfo2`` (not glibc, or older than 2.33). RSS growing while
    the first stays flat is memory the allocator keeps, not live objects."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return float("nan"), float("nan")
    mb = 1024 * 1024
    return (info.uordblks + info.hblkhd) / mb, info.fordblks / mb


@dataclass
class Pauses:
    """Python's garbage collections during the load, per generation: how many, how long."""

    count: Counter[int] = field(default_factory=Counter)
    seconds: Counter[int] = field(default_factory=Counter)
    longest: float = 0.0
    _began: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        took = time.perf_counter() - self._began
        self.count[info["generation"]] += 1
        self.seconds[info["generation"]] += took
        self.longest = max(self.longest, took)


def cpu_seconds() -> tuple[float, float]:
    """CPU time (user + system) of this process, and of its child processes still running
    (the Moonshot emulator), from /proc; (0, 0) where /proc is unavailable."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == os.getpid():  # ppid
                    children += (int(fields[11]) + int(fields[12])) / ticks
    return own.ru_utime + own.ru_stime, children


def percentiles(samples: Sequence[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000

    return f"p50 {at(0.50):.1f} ms, p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms"


def samples() -> array[float]:
    """Samples in one C buffer: a float object per sample, allocated all through the run,
    would pin Python's memory pools and count as the bot's memory growth."""
    return array("d")


@dataclass
class Stats:
    turns: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    turn_time: dict[str, array[float]] = field(
        default_factory=lambda: {"engine": samples(), "tg": samples()}
    )
    first_token: dict[str, array[float]] = field(
        default_factory=lambda: {"engine": samples(), "tg": samples()}
    )
    first_at: array[float] = field(default_factory=samples)  # minutes into the load, per sample
    first_any: array[float] = field(default_factory=samples)  # engine and Telegram, in that order
    load_started: float = 0.0
    rss: array[float] = field(default_factory=samples)
    sqlite: array[float] = field(default_factory=samples)  # SQLite's own allocations, MB
    blocks: array[float] = field(default_factory=samples)  # Python objects' allocated blocks
    heap_used: array[float] = field(default_factory=samples)  # glibc malloc, in use, MB
    heap_free: array[float] = field(default_factory=samples)  # glibc malloc, free but kept, MB
    resident: list[dict[str, float]] = field(default_factory=list)  # by kind, each minute
    pauses: Pauses = field(default_factory=Pauses)
    loop_lag: array[float] = field(default_factory=samples)
    cpu: tuple[float, float] = (0.0, 0.0)  # during the load: this process, the emulator
    loop: str = ""  # which event loop ran this process
    updates: int = 0  # Telegram updates the adapter processed (each claimed once)
    event_at: array[float] = field(default_factory=samples)  # seconds into the load
    event_rows: array[float] = field(default_factory=samples)  # processed_events rows then
    event_rows_end: int = 0  # after the load
    event_samples_lost: int = 0
    # Once a minute: answers completed so far, and the answering model's prompt and cached
    # tokens billed so far (the metrics' counters): prompt tokens per answer by minute.
    answered_at_minute: array[float] = field(default_factory=samples)
    prompt_at_minute: array[float] = field(default_factory=samples)
    cached_at_minute: array[float] = field(default_factory=samples)
    summaries: int = 0  # compactions stored by the end
    telegram_records: str = ""  # what the in-process Telegram emulator holds at the end
    compaction_failures: int = 0

    def note_first(self, seconds: float) -> None:
        """A time to first token, with the minute of the load it was seen in."""
        self.first_at.append((time.monotonic() - self.load_started) / 60)
        self.first_any.append(seconds)


class TimingSink:
    """Records when the first text arrives and how the answer ended."""

    def __init__(self) -> None:
        self.first_delta: float | None = None
        self.final: str | None = None
        self.aborted: str | None = None
        self.replies: list[str] = []

    async def begin(self) -> None:
        return None

    async def append(self, delta: str) -> None:
        if self.first_delta is None:
            self.first_delta = time.perf_counter()

    async def thinking(self, delta: str) -> None:
        return None

    async def notice(self, text: str) -> None:
        return None

    async def complete(self, text: str) -> None:
        self.final = text

    async def abort(self, partial_text: str, reason: str) -> None:
        self.aborted = reason

    async def reply(self, text: str) -> None:
        self.replies.append(text)


@dataclass
class Load:
    services: Services
    stats: Stats
    deadline: float
    think: tuple[float, float]
    tokens: tuple[int, int]

    def question(self, rng: random.Random, turn: int) -> str:
        chars = rng.randint(*self.tokens) * CHARS_PER_TOKEN
        return f"turn {turn}: tell me more [[len:{chars}]]"

    async def engine_user(self, number: int) -> None:
        rng = random.Random(number)
        key = ConversationKey(platform="soak", chat=str(number))
        author = Author(id=f"soak:{number}", name=f"User {number}")
        await asyncio.sleep(rng.uniform(0, self.think[1]))  # users do not all start at once
        turn = 0
        while time.monotonic() < self.deadline:
            sink = TimingSink()
            started = time.perf_counter()
            try:
                outcome = await self.services.assistant.handle(
                    Incoming(key, author, self.question(rng, turn)), sink
                )
            except Exception as exc:  # counted, never fatal for the run
                self.stats.errors[f"engine raised {type(exc).__name__}"] += 1
                outcome = None
            elapsed = time.perf_counter() - started
            if outcome is not None and outcome.status == COMPLETE and sink.final:
                self.stats.turns["engine"] += 1
                self.stats.turn_time["engine"].append(elapsed)
                if sink.first_delta is not None:
                    self.stats.first_token["engine"].append(sink.first_delta - started)
                    self.stats.note_first(sink.first_delta - started)
            elif outcome is not None or sink.replies:
                reason = sink.aborted or (sink.replies[-1] if sink.replies else outcome.status)
                self.stats.errors[f"engine: {reason[:60]}"] += 1
            turn += 1
            await asyncio.sleep(rng.uniform(*self.think))


class TelegramLoad:
    """Users in private Telegram chats; a turn ends when the adapter finished the update."""

    def __init__(self, load: Load, tg: Any, adapter: Any) -> None:
        self.load = load
        self.tg = tg
        self.done: dict[int, asyncio.Event] = {}
        self.sinks: dict[int, Any] = {}  # update id -> its TelegramSink (first_visible_at)
        processor = adapter.processor
        original_process = processor.process
        original_factory = processor.sink_factory
        chats: dict[int, int] = {}

        async def process(update: Any) -> None:
            if update.message is not None:
                chats[update.message.chat.id] = update.update_id
            load.stats.updates += 1
            try:
                await original_process(update)
            finally:
                self.done.setdefault(update.update_id, asyncio.Event()).set()

        def sink_factory(writer: Any, **kwargs: Any) -> Any:
            sink = original_factory(writer, **kwargs)
            update_id = chats.get(writer.target.chat_id)
            if update_id is not None:  # the sink notes when the answer first shows
                self.sinks[update_id] = sink
            return sink

        processor.process = process
        processor.sink_factory = sink_factory

    async def user(self, number: int) -> None:
        rng = random.Random(1_000_000 + number)
        chat = 10_000_000 + number
        await asyncio.sleep(rng.uniform(0, self.load.think[1]))
        turn = 0
        while time.monotonic() < self.load.deadline:
            # By message id, not by position: trim_telegram_records deletes old messages while
            # turns are under way, and a count taken before would then skip this turn's answer.
            known = max((m.message_id for m in self.tg.messages(chat)), default=0)
            started = time.perf_counter()
            started_monotonic = time.monotonic()  # the sink's clock
            update = self.tg.user_message(chat, chat, self.load.question(rng, turn))
            update_id = update["update_id"]
            event = self.done.setdefault(update_id, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), 300)
            except TimeoutError:
                self.load.stats.errors["telegram: no answer within 300 s"] += 1
                continue
            elapsed = time.perf_counter() - started
            shown = [
                m.text or ""
                for m in self.tg.messages(chat)
                if m.message_id > known and not m.deleted
            ]
            if shown and shown[0].startswith("P1.1:") and "incomplete" not in shown[-1]:
                self.load.stats.turns["telegram"] += 1
                self.load.stats.turn_time["tg"].append(elapsed)
                sink = self.sinks.get(update_id)
                if sink is not None and sink.first_visible_at is not None:
                    self.load.stats.first_token["tg"].append(
                        sink.first_visible_at - started_monotonic
                    )
                    self.load.stats.note_first(sink.first_visible_at - started_monotonic)
            else:
                self.load.stats.errors[f"telegram: {(shown or ['nothing shown'])[-1][:60]}"] += 1
            self.done.pop(update_id, None)
            self.sinks.pop(update_id, None)
            turn += 1
            await asyncio.sleep(rng.uniform(*self.load.think))


# What the in-process Telegram emulator keeps per chat: a user needs only its latest message
# ids (an answer here is one message). Tighter than the emulator's own needs in tests, because
# its records are in the measured process: capped at 5,000 answers and 50 messages a chat, as
# before 2026-12-06, they grew with the run until minute ~33, as the bot's memory would.
KEEP_PER_CHAT = 4


def trim_telegram_records(tg: Any) -> None:
    """The emulator keeps every call and message for tests; a soak only needs recent ones."""
    state = tg.state
    state.calls.clear()
    state.failures.clear()
    state.drafts.clear()
    state.chat_actions.clear()
    kept_per_chat: Counter[int] = Counter()
    recent = []
    for message in reversed(state.sent):
        if kept_per_chat[message.chat_id] < KEEP_PER_CHAT:
            kept_per_chat[message.chat_id] += 1
            recent.append(message)
    if len(recent) < len(state.sent):
        recent.reverse()
        state.sent[:] = recent
        state.sent_index = {(m.chat_id, m.message_id): m for m in recent}
    for chat in state.chats.values():
        if len(chat.messages) > 2 * KEEP_PER_CHAT:
            for message_id in sorted(chat.messages)[: -2 * KEEP_PER_CHAT]:
                del chat.messages[message_id]


def telegram_records(tg: Any) -> str:
    """What the emulator holds at the end (it lives in this process, so it is in the RSS)."""
    state = tg.state
    sent_chars = sum(len(m.text or "") + len(m.source_text or "") for m in state.sent)
    chat_messages = sum(len(chat.messages) for chat in state.chats.values())
    return (
        f"{len(state.sent)} answers kept ({sent_chars / 1e6:.1f} M characters), "
        f"{chat_messages} chat messages"
    )


async def sample_rss(stats: Stats, tg: Any | None) -> None:
    while True:
        stats.rss.append(rss_mb())
        stats.sqlite.append(sqlite_memory_mb())
        stats.blocks.append(sys.getallocatedblocks())
        used, free = malloc_mb()
        stats.heap_used.append(used)
        stats.heap_free.append(free)
        if tg is not None:
            trim_telegram_records(tg)
        await asyncio.sleep(1.0)


async def sample_event_rows(stats: Stats, services: Services, started: float) -> None:
    while True:
        try:
            rows = await services.db.events.count()
        except Exception:  # a busy database is a sample lost, not a failed turn
            stats.event_samples_lost += 1
        else:
            stats.event_at.append(time.monotonic() - started)
            stats.event_rows.append(rows)
        await asyncio.sleep(EVENT_SAMPLE_EVERY)


def billed_tokens(model: str, kind: str) -> float:
    return REGISTRY.get_sample_value("kimi_tokens_total", {"model": model, "kind": kind}) or 0.0


async def sample_prompt_tokens(stats: Stats, model: str) -> None:
    """What each answer's request carried, minute by minute (the history grows, then the
    memory compacts it)."""
    while True:
        await asyncio.sleep(60)
        stats.answered_at_minute.append(sum(stats.turns.values()))
        stats.prompt_at_minute.append(billed_tokens(model, "prompt"))
        stats.cached_at_minute.append(billed_tokens(model, "cached"))
        stats.resident.append(resident_by_kind())


async def sample_loop_lag(stats: Stats) -> None:
    """How late a 100 ms timer fires: the event loop's own queueing delay."""
    while True:
        planned = time.perf_counter() + 0.1
        await asyncio.sleep(0.1)
        stats.loop_lag.append(max(0.0, time.perf_counter() - planned))


@contextlib.asynccontextmanager
async def telegram_side(services: Services, enabled: bool) -> AsyncIterator[Any]:
    if not enabled:
        yield None
        return
    from bots.telegram import TelegramAdapter

    adapter = TelegramAdapter(services)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


async def run(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore", module="telegram")
    telegram_users = round(args.conversations * args.telegram)
    engine_users = args.conversations - telegram_users
    stats = Stats()
    stats.loop = event_loop.running_loop_name()
    async with moonshot_subprocess("--no-limits", "--token-delay", str(args.token_delay)) as url:
        tg = None
        if telegram_users:
            from emulators.telegram import TelegramEmulator

            tg = TelegramEmulator(token=TOKEN, bot_username="kimi_soak_bot")
            await tg.start()
        with tempfile.TemporaryDirectory() as tmp:
            models = Path(tmp) / "models.toml"
            models.write_text(UNLIMITED)
            settings = load_settings(
                moonshot_api_key=EMULATOR_KEY,
                moonshot_base_url=url,
                database_url=args.database or f"sqlite+aiosqlite:///{Path(tmp) / 'soak.db'}",
                kimi_models_file=str(models),
                telegram_bot_token=TOKEN if tg else None,
                telegram_api_url=tg.url if tg else "https://api.telegram.org",
                log_level="WARNING",
                _env_file=None,
            )
            services = await start_services(settings)
            retention = None
            if args.event_retention:
                window = args.event_retention
                policy = RetentionPolicy(events=timedelta(seconds=window))
                retention = Retention(services.db, policy, every=window / 4)
            try:
                async with telegram_side(services, tg is not None) as adapter:
                    freeze_startup_objects()  # as `kimi-bot run` does once started
                    collect_young_less_often(settings.gc_young_threshold)
                    gc.callbacks.append(stats.pauses)
                    rss_start = rss_mb()
                    started = time.monotonic()
                    stats.load_started = started
                    load = Load(
                        services,
                        stats,
                        started + args.minutes * 60,
                        (args.think_min, args.think_max),
                        (args.tokens_min, args.tokens_max),
                    )
                    if retention is not None:
                        await retention.start()
                    samplers = [
                        asyncio.create_task(sample_rss(stats, tg)),
                        asyncio.create_task(sample_event_rows(stats, services, started)),
                        asyncio.create_task(sample_loop_lag(stats)),
                        asyncio.create_task(sample_prompt_tokens(stats, settings.kimi_model)),
                        # as `kimi-bot run` does (MEMORY_TRIM_EVERY)
                        asyncio.create_task(release_free_memory_every(settings.memory_trim_every)),
                    ]
                    cpu_before = cpu_seconds()
                    users = [load.engine_user(i) for i in range(engine_users)]
                    if adapter is not None:
                        telegram = TelegramLoad(load, tg, adapter)
                        users += [telegram.user(i) for i in range(telegram_users)]
                    await asyncio.gather(*users)
                    ran = time.monotonic() - started
                    cpu_after = cpu_seconds()
                    stats.cpu = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
                    gc.callbacks.remove(stats.pauses)
                    for sampler in samplers:
                        sampler.cancel()
                    stats.event_rows_end = await services.db.events.count()
                    if tg is not None:
                        stats.telegram_records = telegram_records(tg)
                gc.collect()
                rss_end = rss_mb()
                left = await leftover_answers(services)
                stats.summaries = await stored_summaries(services)
                stats.compaction_failures = int(
                    REGISTRY.get_sample_value("kimi_errors_total", {"type": "compaction"}) or 0
                )
            finally:
                if retention is not None:
                    await retention.stop()
                await services.close()
                if tg is not None:
                    await tg.stop()
    report(args, stats, engine_users, telegram_users, ran, rss_start, rss_end, left)
    return 0


async def leftover_answers(services: Services) -> int:
    """Answers still marked in progress after every user stopped (there should be none)."""
    from sqlalchemy import func, select

    from storage.models import Message

    async with services.db.engine.connect() as connection:
        query = select(func.count(Message.id)).where(Message.status == IN_PROGRESS)
        return int((await connection.execute(query)).scalar() or 0)


async def stored_summaries(services: Services) -> int:
    """Compactions stored (one summary row each)."""
    from sqlalchemy import func, select

    from storage.models import ConversationSummary

    async with services.db.engine.connect() as connection:
        query = select(func.count(ConversationSummary.id))
        return int((await connection.execute(query)).scalar() or 0)


def report_memory(stats: Stats) -> None:
    """Prompt tokens per answer by minute, and how often the memory compacted."""
    answered = [0.0, *stats.answered_at_minute]
    prompt = [0.0, *stats.prompt_at_minute]
    cached = [0.0, *stats.cached_at_minute]
    per_minute = []
    for m in range(1, len(answered)):
        done = answered[m] - answered[m - 1]
        if done > 0:
            tokens = (prompt[m] - prompt[m - 1]) / done
            share = (cached[m] - cached[m - 1]) / max(prompt[m] - prompt[m - 1], 1) * 100
            per_minute.append(f"m{m} {tokens:.0f} ({share:.0f}% cached)")
    if per_minute:
        print(f"prompt tokens per answer by minute: {', '.join(per_minute)}")
    print(
        f"memory: {stats.summaries} compactions stored, {stats.compaction_failures} failed "
        "(a failure keeps the full history and retries later)"
    )


def report(
    args: argparse.Namespace,
    stats: Stats,
    engine_users: int,
    telegram_users: int,
    ran: float,
    rss_start: float,
    rss_end: float,
    left: int,
) -> None:
    turns = sum(stats.turns.values())
    errors = sum(stats.errors.values())
    per_minute = [f"{stats.rss[i]:.0f}" for i in range(0, len(stats.rss), 60)]
    print(
        f"soak: {args.conversations} conversations ({telegram_users} through Telegram) for "
        f"{ran / 60:.1f} min; answers {args.tokens_min}-{args.tokens_max} tokens at "
        f"{args.token_delay * 1000:.0f} ms/token; thinking {args.think_min:g}-{args.think_max:g} s; "
        f"{stats.loop} event loop; a young collection every {gc.get_threshold()[0]} allocations"
    )
    print(
        f"turns completed : {turns} (engine {stats.turns['engine']}, telegram "
        f"{stats.turns['telegram']}), {turns / ran:.1f} turns/s"
    )
    print(f"errors: {errors}")
    for kind, count in stats.errors.most_common(10):
        print(f"  {count} x {kind}")
    every_turn = [*stats.turn_time["engine"], *stats.turn_time["tg"]]
    every_first = [*stats.first_token["engine"], *stats.first_token["tg"]]
    print(f"turn time (all)         : {percentiles(every_turn)}")
    print(f"first token (all)       : {percentiles(every_first)}")
    print(f"turn time (engine)      : {percentiles(stats.turn_time['engine'])}")
    print(f"first token (engine)    : {percentiles(stats.first_token['engine'])}")
    if telegram_users:
        print(f"turn time (telegram)    : {percentiles(stats.turn_time['tg'])}")
        print(f"first visible (telegram): {percentiles(stats.first_token['tg'])}")
    print(
        f"RSS: start {rss_start:.1f} MB, end {rss_end:.1f} MB, "
        f"max {max(stats.rss or [rss_end]):.1f} MB (each minute: {', '.join(per_minute)} MB)"
    )
    if len(stats.rss) > 60:
        warm = stats.rss[60]
        print(
            f"RSS growth after warm-up: {(stats.rss[-1] - warm) / warm * 100:.1f} % "
            f"({warm:.1f} MB after 1 min, {stats.rss[-1]:.1f} MB at the last sample under load)"
        )
        print(
            f"  of which SQLite's own memory: {stats.sqlite[60]:.1f} MB after 1 min, "
            f"{stats.sqlite[-1]:.1f} MB at the end; Python allocated blocks: "
            f"{stats.blocks[60]:,.0f} after 1 min, {stats.blocks[-1]:,.0f} at the end"
        )
    print(f"answers left in progress: {left}")
    report_by_minute(stats)
    report_memory(stats)
    if stats.telegram_records:
        print(f"Telegram emulator (in this process) at the end: {stats.telegram_records}")
    if telegram_users:
        report_event_rows(args, stats)
    print(
        f"CPU during the load: this process {stats.cpu[0] / ran * 100:.0f}% of a core, "
        f"Moonshot emulator {stats.cpu[1] / ran * 100:.0f}% of a core "
        f"({os.cpu_count()} cores); event-loop lag {percentiles(stats.loop_lag)}"
    )
    pauses = stats.pauses
    print(
        "garbage collections during the load: "
        + ", ".join(
            f"generation {g} {pauses.count[g]} x, {pauses.seconds[g] * 1000:.0f} ms in all"
            for g in range(3)
        )
        + f"; longest {pauses.longest * 1000:.1f} ms"
    )


def report_by_minute(stats: Stats) -> None:
    """First-token p50 and RSS per minute of load, and minute 5 against the last whole minute
    (issue #18's targets: first token within 1.5x, RSS within 10 %)."""
    minutes: dict[int, list[float]] = {}
    for at, seconds in zip(stats.first_at, stats.first_any, strict=True):
        minutes.setdefault(int(at), []).append(seconds)
    if not minutes:
        return
    p50 = {m: sorted(v)[len(v) // 2] * 1000 for m, v in sorted(minutes.items())}
    shown = ", ".join(f"m{m + 1} {v:.0f}" for m, v in p50.items())
    print(f"first token p50 by minute (ms): {shown}")
    last = max((m for m in p50 if m < len(stats.rss) // 60), default=None)
    if last is None or last < 5 or 4 not in p50:
        return
    rss5 = stats.rss[min(len(stats.rss) - 1, 5 * 60 - 1)]
    rss_last = stats.rss[min(len(stats.rss) - 1, (last + 1) * 60 - 1)]
    print(
        f"minute {last + 1} vs minute 5: first token p50 {p50[last]:.0f} vs {p50[4]:.0f} ms "
        f"(x{p50[last] / p50[4]:.2f}, target <= 1.5); RSS {rss_last:.1f} vs {rss5:.1f} MB "
        f"({(rss_last - rss5) / rss5 * 100:+.1f} %, target within 10 %)"
    )
    at5, at_last = (
        min(len(stats.heap_used) - 1, 5 * 60 - 1),
        min(len(stats.heap_used) - 1, (last + 1) * 60 - 1),
    )
    print(
        f"  malloc heap in use {stats.heap_used[at_last]:.1f} vs {stats.heap_used[at5]:.1f} MB, "
        f"free but kept {stats.heap_free[at_last]:.1f} vs {stats.heap_free[at5]:.1f} MB; "
        f"Python allocated blocks {stats.blocks[at_last]:,.0f} vs {stats.blocks[at5]:,.0f}"
    )
    if len(stats.resident) > last and stats.resident[4]:
        then, now = stats.resident[4], stats.resident[min(last, len(stats.resident) - 1)]
        print(
            "  resident by kind, MB (minute 5 -> last): "
            + ", ".join(
                f"{kind} {then.get(kind, 0):.1f} -> {now.get(kind, 0):.1f}"
                for kind in ("heap", "arenas", "anonymous", "stacks", "files")
            )
        )


def report_event_rows(args: argparse.Namespace, stats: Stats) -> None:
    """The processed_events table: its row count after 1 minute, at the end of the load (users
    stop asking at ``--minutes``; the run then waits for their last turns), and its maximum."""
    counted = [
        (t, n)
        for t, n in zip(stats.event_at, stats.event_rows, strict=True)
        if t < args.minutes * 60
    ]
    after_minute = next((f"{n:.0f}" for t, n in counted if t >= 60), "n/a")
    at_end = f"{counted[-1][1]:.0f}" if counted else "n/a"
    peaks: dict[int, float] = {}
    for t, n in counted:
        peaks[int(t // 60)] = max(n, peaks.get(int(t // 60), 0))
    trimming = (
        f"claims older than {args.event_retention:g} s deleted every {args.event_retention / 4:g} s"
        if args.event_retention
        else "no retention"
    )
    print(
        f"processed_events rows under load: after 1 min {after_minute}, at the end {at_end}, "
        f"max {max((n for _, n in counted), default=0):.0f} (peak of each minute: "
        f"{', '.join(f'{n:.0f}' for n in peaks.values())}); {stats.event_rows_end} after the "
        f"load; {stats.updates} updates processed; {trimming}"
        + (f"; {stats.event_samples_lost} counts failed" if stats.event_samples_lost else "")
    )
    if not counted or counted[-1][0] - 60 < 120 - EVENT_SAMPLE_EVERY:
        return  # no whole minute after the second one to compare with
    second = [n for t, n in counted if 60 <= t < 120]
    last = [n for t, n in counted if t > counted[-1][0] - 60]
    early, late = sum(second) / len(second), sum(last) / len(last)
    growth = (late - early) / early * 100 if early else float("inf")
    print(
        f"processed_events growth after warm-up: {growth:.1f} % (mean {early:.0f} rows over "
        f"minute 2, {late:.0f} over the load's last minute: "
        f"{'flat' if growth <= FLAT else 'growing'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--telegram", type=float, default=0.1, help="share through Telegram")
    parser.add_argument("--token-delay", type=float, default=0.02, help="seconds per token")
    parser.add_argument("--tokens-min", type=int, default=100)
    parser.add_argument("--tokens-max", type=int, default=400)
    parser.add_argument("--think-min", type=float, default=15.0)
    parser.add_argument("--think-max", type=float, default=60.0)
    parser.add_argument("--database", help="database URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--event-retention",
        type=float,
        metavar="SECONDS",
        help="trim processed_events claims older than this, every SECONDS/4 (default: never)",
    )
    parser.add_argument(
        "--loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="this process's event loop, as EVENT_LOOP for kimi-bot run (default: auto)",
    )
    args = parser.parse_args()
    if not 0 <= args.telegram <= 1 or args.conversations < 1 or args.minutes <= 0:
        parser.error("need --conversations >= 1, --minutes > 0 and 0 <= --telegram <= 1")
    if args.event_retention is not None and args.event_retention <= 0:
        parser.error("need --event-retention > 0")
    limit_malloc_arenas()  # as `kimi-bot run` does
    mmap_large_blocks()
    raise SystemExit(event_loop.run(run(args), args.loop))


if __name__ == "__main__":
    main()
