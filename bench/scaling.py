"""Scaling out: answers per second with 1 and with N workers, and the latency each turn adds.

Real ``kimi-bot run`` processes on PostgreSQL and Redis answer Slack DMs (HTTP events, signed
like Slack's) against a zero-latency Moonshot emulator (``kimi-bot emulator --no-limits
--token-delay 0``, its own process). The Slack emulator and the load generator share this
process. Load is closed-loop: each of ``--users`` users sends a DM, waits until the answer's
stream is stopped, and sends the next one; deliveries go to the workers in turn, as a load
balancer would. Since Moonshot answers instantly, a turn's latency (event POSTed to answer
finished) is all added by us: Slack calls, database writes, locks and limits.

Each turn commits about seven small transactions (event claim, conversation, question,
fencing token, answer placeholder, answer with usage, participant); with PostgreSQL's default
``synchronous_commit=on`` each waits for a WAL flush, so on a slow disk the database's fsync rate
caps every worker count alike. ``--async-commit`` turns that off for the benchmark's database only,
to measure the workers themselves.

The bot's own limits are lifted with a models file (the catalog's kimi-k2 allows 10 RPM), so
the limiter still runs every admission through Redis but never makes a call wait.

    python -m bench.scaling [--workers 3] [--users 24] [--seconds 15] [--async-commit]
                            [--postgres URL] [--redis URL]

Needs PostgreSQL (a database is created and dropped per configuration) and Redis (the given
database is flushed). Defaults: ``TEST_POSTGRES_URL`` / ``TEST_REDIS_URL`` or local servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import EMULATOR_KEY, free_port, moonshot_subprocess
from emulators.slack import SlackEmulator
from emulators.slack.api_stream import stop_stream
from emulators.slack.payloads import event_callback, user_message_event

SLACK_TOKEN = "xoxb-bench-scaling"
SLACK_SECRET = "bench-scaling-secret"
KIMI_BOT = str(Path(sys.executable).with_name("kimi-bot"))
UNLIMITED = """
[models."kimi-k2"]
rpm = 1000000
tpm = 1000000000
concurrency = 100000
"""


@dataclass
class Result:
    workers: int
    answers: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    machine_busy: float = 0.0  # share of all cores busy while measuring
    worker_cpu: float = 0.0  # CPU seconds the workers used while measuring

    @property
    def rate(self) -> float:
        return self.answers / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Answers:
    """Wakes the sender of a DM when its answer's stream stops (hooked into chat.stopStream)."""

    def __init__(self, slack: SlackEmulator) -> None:
        self._slack = slack
        self._waiting: dict[str, asyncio.Future[float]] = {}
        slack.api.register({"chat.stopStream": self._stop_stream})

    def expect(self, channel: str) -> asyncio.Future[float]:
        future = asyncio.get_running_loop().create_future()
        self._waiting[channel] = future
        return future

    def _stop_stream(self, api: Any, params: dict[str, Any]) -> dict[str, Any]:
        result = stop_stream(api, params)
        stopped = time.monotonic()
        channel = str(params.get("channel"))
        # Keep the emulator's lists short, so its lookups cost the same at the end as at start.
        workspace = self._slack.workspace
        workspace.messages[:] = [m for m in workspace.messages if m.channel != channel]
        self._slack.api.calls.clear()
        future = self._waiting.pop(channel, None)
        if future is not None and not future.done():
            future.set_result(stopped)
        return result


async def sql(admin_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str, async_commit: bool = False) -> AsyncIterator[str]:
    name = f"kimi_bench_{uuid.uuid4().hex[:8]}"
    await sql(admin_url, f'CREATE DATABASE "{name}"')
    if async_commit:  # commits stop waiting for the WAL flush (the disk), see the docstring
        await sql(admin_url, f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        await sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def flush_redis(url: str) -> None:
    import redis.asyncio as redis

    client = redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def workers(
    count: int, env: dict[str, str], workdir: Path
) -> AsyncIterator[tuple[list[str], list[int]]]:
    """``count`` workers; yields their /slack/events URLs and pids once each answers /readyz."""
    import aiohttp

    processes, logs, ports = [], [], []
    for i in range(count):
        log, port = workdir / f"worker{i}.log", free_port()
        logs.append(log)
        ports.append(port)
        with log.open("wb") as out:
            processes.append(
                await asyncio.create_subprocess_exec(
                    KIMI_BOT,
                    "run",
                    env={**env, "PORT": str(port)},
                    cwd=workdir,
                    stdout=out,
                    stderr=out,
                )
            )
    try:
        async with aiohttp.ClientSession() as http:
            for process, log, port in zip(processes, logs, ports, strict=True):
                for _ in range(600):
                    if process.returncode is not None:
                        raise RuntimeError(f"a worker exited:\n{log.read_text()[-2000:]}")
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                            if response.status == 200:
                                break
                    await asyncio.sleep(0.05)
                else:
                    raise RuntimeError(f"a worker did not start:\n{log.read_text()[-2000:]}")
        yield (
            [f"http://127.0.0.1:{port}/slack/events" for port in ports],
            [p.pid for p in processes],
        )
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        await asyncio.gather(*(p.wait() for p in processes))


def dm(slack: SlackEmulator, channel: str, user: str, text: str) -> dict[str, Any]:
    event = user_message_event(
        channel=slack.workspace.channels[channel],
        user=user,
        text=text,
        ts=slack.clock.next(),
        team_id=slack.team_id,
    )
    return event_callback(
        event, team_id=slack.team_id, app_id=slack.workspace.app_id, bot_user_id=slack.bot_user_id
    )


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (float(stat[11]) + float(stat[12])) / ticks
    return total


async def load(
    slack: SlackEmulator,
    answers: Answers,
    urls: list[str],
    users: int,
    seconds: float,
    pids: list[int],
) -> Result:
    """Closed-loop load; the first ``seconds / 5`` are warm-up and not counted."""
    turn = 0
    started = time.monotonic()
    warm_until = started + seconds / 5
    deadline = warm_until + seconds
    counted: list[float] = []
    done = 0
    marks: dict[str, Any] = {}

    async def meter() -> None:
        await asyncio.sleep(max(0.0, warm_until - time.monotonic()))
        marks["start"] = (machine_busy(), process_cpu(pids))
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        marks["end"] = (machine_busy(), process_cpu(pids))

    async def user(n: int) -> None:
        nonlocal turn, done
        channel, user_id = f"D{n}", f"U{n}"
        while time.monotonic() < deadline:
            url = urls[turn % len(urls)]
            turn += 1
            answered = answers.expect(channel)
            sent = time.monotonic()
            status, _ = await slack.post_event(dm(slack, channel, user_id, f"q{turn}"), url=url)
            if status != 200:
                raise RuntimeError(f"a worker answered {status}")
            finished = await asyncio.wait_for(answered, 60)
            if sent >= warm_until and finished <= deadline:
                counted.append(finished - sent)
                done += 1

    await asyncio.gather(meter(), *(user(n) for n in range(1, users + 1)))
    (busy0, total0), cpu0 = marks["start"]
    (busy1, total1), cpu1 = marks["end"]
    result = Result(len(urls), done, seconds, counted)
    result.machine_busy = (busy1 - busy0) / max(1.0, total1 - total0)
    result.worker_cpu = cpu1 - cpu0
    return result


async def measure(
    count: int, users: int, seconds: float, moonshot_url: str, args: argparse.Namespace
) -> Result:
    await flush_redis(args.redis)
    async with (
        SlackEmulator(bot_token=SLACK_TOKEN, signing_secret=SLACK_SECRET) as slack,
        fresh_database(args.postgres, args.async_commit) as database_url,
    ):
        for n in range(1, users + 1):
            slack.add_user(f"U{n}", name=f"user{n}")
            slack.add_channel(f"D{n}", is_im=True, user=f"U{n}")
        answers = Answers(slack)
        with tempfile.TemporaryDirectory(prefix="kimi-bench-") as tmp:
            workdir = Path(tmp)
            models = workdir / "models.toml"
            models.write_text(UNLIMITED)
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("MOONSHOT_", "KIMI_", "TELEGRAM_", "SLACK_", "DATABASE_"))
            }
            env.update(
                HOST="127.0.0.1",
                LOG_LEVEL="WARNING",
                DATABASE_URL=database_url,
                REDIS_URL=args.redis,
                MOONSHOT_BASE_URL=moonshot_url,
                MOONSHOT_API_KEY=EMULATOR_KEY,
                KIMI_MODELS_FILE=str(models),
                KIMI_TOOLS="false",
                KIMI_WEB_SEARCH="false",
                SLACK_BOT_TOKEN=SLACK_TOKEN,
                SLACK_SIGNING_SECRET=SLACK_SECRET,
                SLACK_API_URL=slack.api_url,
            )
            # Migrate once up front, so several workers starting do not queue on the lock.
            migrate = await asyncio.create_subprocess_exec(
                KIMI_BOT, "migrate", env=env, stdout=asyncio.subprocess.DEVNULL
            )
            await migrate.wait()
            async with workers(count, env, workdir) as (urls, pids):
                return await load(slack, answers, urls, users, seconds, pids)


async def main(args: argparse.Namespace) -> None:
    commit = "synchronous_commit=off" if args.async_commit else "synchronous_commit=on"
    print(
        f"bench.scaling: {args.users} users in a closed loop, {args.seconds:.0f} s measured per "
        f"configuration, {os.cpu_count()} CPU cores shared by everything, PostgreSQL {commit}"
    )
    async with moonshot_subprocess("--no-limits", "--token-delay", "0") as moonshot_url:
        idle = await measure(1, 1, min(args.seconds, 5.0), moonshot_url, args)
        print(
            f"unloaded (1 worker, 1 user):  {idle.rate:6.1f} answers/s   "
            f"p50 {idle.percentile(0.5):6.1f} ms   p99 {idle.percentile(0.99):6.1f} ms"
        )
        results = []
        for count in sorted({1, args.workers}):
            result = await measure(count, args.users, args.seconds, moonshot_url, args)
            results.append(result)
            print(
                f"{count} worker(s), {args.users} users: {result.rate:6.1f} answers/s   "
                f"p50 {result.percentile(0.5):6.1f} ms   p99 {result.percentile(0.99):6.1f} ms   "
                f"(n={result.answers}, mean {statistics.mean(result.latencies) * 1000:.1f} ms)"
            )
            print(
                f"    machine CPU busy {result.machine_busy * 100:.0f}%, workers' CPU per answer "
                f"{result.worker_cpu / max(1, result.answers) * 1000:.1f} ms"
            )
    if len(results) == 2:
        print(
            f"scaling factor {args.workers} vs 1 worker: {results[1].rate / results[0].rate:.2f}x"
        )


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
        help="an existing database on the server to create the benchmark's databases from",
    )
    parser.add_argument(
        "--redis", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="run the benchmark's database with synchronous_commit=off (measures the workers, "
        "not the disk's fsync rate)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_args()))
