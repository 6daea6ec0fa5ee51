"""Run every benchmark, print one table of numbers against their targets, write RESULTS.md.

Each benchmark runs as its own process (``python -m bench.<name>``), so one that fails does
not stop the others; its numbers are read from what it prints.

    bench/run [--quick] [--only overhead,history,...]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Metric:
    label: str
    pattern: str  # one group: the number
    target: str = "—"
    ok: str = ""  # e.g. "<=1.10", ">=95", "==0"; empty: no target
    unit: str = ""

    def judge(self, value: float) -> str:
        if not self.ok:
            return ""
        op, bound = re.match(r"(<=|>=|==)(.+)", self.ok).groups()  # type: ignore[union-attr]
        limit = float(bound)
        passed = {"<=": value <= limit, ">=": value >= limit, "==": value == limit}[op]
        return "ok" if passed else "BELOW TARGET"


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    args: tuple[str, ...]
    quick_args: tuple[str, ...]
    metrics: tuple[Metric, ...]
    timeout: float = 1800


@dataclass(slots=True)
class Row:
    bench: str
    metric: Metric
    value: float | None
    status: str = ""


@dataclass(slots=True)
class Run:
    rows: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


BENCHMARKS = (
    Benchmark(
        "overhead",
        ("--turns", "40"),
        ("--turns", "15"),
        (
            Metric(
                "per-turn overhead ratio (engine / bare SDK)",
                r"overhead ratio\s*:\s*([\d.]+)",
                "≤ 1.03",
                "<=1.03",
            ),
        ),
    ),
    Benchmark(
        "history",
        (),
        ("--messages", "20000", "--repeat", "50"),
        (
            Metric(
                "history scaling ratio (10 vs 100,000 stored)",
                r"history ratio\s*:\s*([\d.]+)",
                "≤ 1.5",
                "<=1.5",
            ),
        ),
    ),
    Benchmark(
        "telegram_stream",
        (),
        (),
        (
            Metric(
                "Telegram private: first token → first visible text",
                r"private chat.*?visible text: median (\d+) ms",
                unit="ms",
            ),
            Metric(
                "Telegram private: Bot API calls per answer",
                r"private chat.*?Bot API calls per answer: ([\d.]+)",
            ),
            Metric(
                "Telegram group: first token → first visible text",
                r"group chat.*?visible text: median (\d+) ms",
                unit="ms",
            ),
            Metric(
                "Telegram group: Bot API calls per answer",
                r"group chat.*?Bot API calls per answer: ([\d.]+)",
            ),
            Metric(
                "Telegram flood-control violations",
                r"group chat.*?flood-control violations so far: (\d+)",
                "0",
                "==0",
            ),
        ),
    ),
    Benchmark(
        "slack_stream",
        (),
        (),
        (
            Metric(
                "Slack streaming: Web API calls per answer", r"native streaming\s+([\d.]+) Web API"
            ),
            Metric(
                "Slack streaming: first token → first visible text",
                r"native streaming.*?median ([\d.]+) ms",
                unit="ms",
            ),
            Metric(
                "Slack fallback: Web API calls per answer",
                r"post \+ update fallback\s+([\d.]+) Web API",
            ),
            Metric(
                "Slack fallback: first token → first visible text",
                r"post \+ update fallback.*?median ([\d.]+) ms",
                unit="ms",
            ),
        ),
    ),
    Benchmark(
        "long_answer",
        (),
        ("--quick",),
        tuple(
            metric
            for platform, name in (("telegram", "Telegram"), ("slack", "Slack"))
            for metric in (
                Metric(
                    f"{name} 30,000 chars: first token → last visible, continued − plain",
                    rf"^{platform}: first token -> last visible:.*?\(([+-]?\d+) ms",
                    unit="ms",
                ),
                Metric(
                    f"{name} 30,000 chars: pause a continuation adds",
                    rf"^{platform}: longest pause at a continuation.*?so (-?\d+) ms added",
                    unit="ms",
                ),
                Metric(
                    f"{name} 30,000 chars: that pause ÷ one round trip",
                    rf"^{platform}: .*?added/round trip (-?[\d.]+)",
                    "≤ 1.5",
                    "<=1.5",
                ),
                Metric(
                    f"{name} 30,000 chars: flood-control violations",
                    rf"^{platform}: longest gap.*?flood-control violations (\d+)",
                    "0",
                    "==0",
                ),
            )
        ),
    ),
    Benchmark(
        "limiter",
        (),
        ("--sim-minutes", "10"),
        (
            Metric(
                "limiter overhead per admission (in-process)", r"in-process: ([\d.]+) µs", unit="µs"
            ),
            Metric(
                "limiter goodput (share of RPM, simulated flood)",
                r"= ([\d.]+)% of RPM",
                "≥ 95%",
                ">=95",
                "%",
            ),
            Metric(
                "limiter fairness (Jain's index)",
                r"Jain's fairness over \d+ users: ([\d.]+)",
                "≥ 0.9",
                ">=0.9",
            ),
        ),
    ),
    Benchmark(
        "documents",
        (),
        (),
        (
            Metric("ingestion, 300-page PDF (ours)", r"300-page PDF.*?ours (\d+) ms", unit="ms"),
            Metric("ingestion, 5 MB PDF (ours)", r"5 MB PDF.*?ours (\d+) ms", unit="ms"),
            Metric(
                "retrieval per question, 1,000 sections",
                r"retrieval\s*: median ([\d.]+) ms",
                unit="ms",
            ),
        ),
    ),
    Benchmark(
        "scaling",
        (),
        (),
        (
            Metric("added latency, unloaded p50", r"unloaded[^\n]*?p50\s+([\d.]+) ms", unit="ms"),
            Metric("added latency, unloaded p99", r"unloaded[^\n]*?p99\s+([\d.]+) ms", unit="ms"),
            Metric("throughput, 1 worker", r"^1 worker\(s\)[^\n]*?([\d.]+) answers/s", unit="/s"),
            Metric("throughput, 3 workers", r"^3 worker\(s\)[^\n]*?([\d.]+) answers/s", unit="/s"),
            Metric("scaling factor (3 vs 1 worker)", r"scaling factor 3 vs 1 worker: ([\d.]+)x"),
        ),
    ),
    Benchmark(
        "longconv",
        (),
        ("--conversations", "4"),
        (
            Metric(
                "long conversation: CPU ms per turn at exchange 1 (compaction on)",
                r"^\[on\][^\n]*CPU ms per turn: ex1 ([\d.]+)",
                unit="ms",
            ),
            Metric(
                "long conversation: CPU ms per turn at exchange 50 (compaction on)",
                r"^\[on\][^\n]*CPU ms per turn:[^\n]* ex50 ([\d.]+)",
                unit="ms",
            ),
            Metric(
                "long conversation: CPU per turn, exchange 50 ÷ exchange 1",
                r"CPU ratio exchange 50 / exchange 1 \(compaction on\): ([\d.]+)",
                "≤ 1.3",
                "<=1.3",
            ),
            *(
                Metric(
                    f"long conversation: prompt tokens billed per turn, exchange {e}, {mode}",
                    rf"^\[{key}\] exchange {e}: (\d+) prompt tokens",
                )
                for e in (10, 30, 60)
                for key, mode in (("on", "compaction on"), ("off", "off"))
            ),
            *(
                Metric(
                    f"long conversation: CNY per turn, exchange {e}, {mode}",
                    rf"^\[{key}\] exchange {e}: [^\n]*, ([\d.]+) CNY per turn",
                    unit="¥",
                )
                for e in (10, 30, 60)
                for key, mode in (("on", "compaction on"), ("off", "off"))
            ),
            Metric(
                "long conversation: cheaper at exchange 59 with compaction",
                r"compaction on vs off: (-?[\d.]+) % cheaper",
                "≥ 50 %",
                ">=50",
                "%",
            ),
            Metric(
                "long conversation: cheaper over exchanges 51-60 (mean) with compaction",
                r"mean cost over exchanges [\d-]+, compaction on vs off: (-?[\d.]+) % cheaper",
                unit="%",
            ),
            Metric(
                "long conversation: cached share of prompt tokens (compaction on)",
                r"^\[on\] cached share of prompt tokens: ([\d.]+) %",
                unit="%",
            ),
            Metric(
                "long conversation: conversations that forgot the exchange-1 fact",
                r"conversations that forgot the fact: (\d+)",
                "0",
                "==0",
            ),
        ),
    ),
    Benchmark(
        "soak",
        (),
        ("--conversations", "200", "--minutes", "2"),
        (
            Metric("soak: errors", r"^errors: (\d+)", "0", "==0"),
            Metric("soak: turns completed per second", r"turns completed :[^\n]*?([\d.]+) turns/s"),
            Metric("soak: turn time p50", r"turn time \(all\)\s*: p50 ([\d.]+) ms", unit="ms"),
            Metric("soak: turn time p99", r"turn time \(all\)[^\n]*p99 ([\d.]+) ms", unit="ms"),
            Metric("soak: first token p50", r"first token \(all\)\s*: p50 ([\d.]+) ms", unit="ms"),
            Metric("soak: first token p95", r"first token \(all\)[^\n]*p95 ([\d.]+) ms", unit="ms"),
            Metric("soak: RSS at start", r"^RSS: start ([\d.]+) MB", unit="MB"),
            Metric("soak: RSS after 1 min of load", r"\(([\d.]+) MB after 1 min", unit="MB"),
            Metric("soak: RSS at end", r"^RSS: start [\d.]+ MB, end ([\d.]+) MB", unit="MB"),
            Metric(
                "soak: RSS growth after warm-up (1 min → end)",
                r"RSS growth after warm-up: (-?[\d.]+) %",
                "≤ 10 %",
                "<=10",
                "%",
            ),
            Metric(
                "soak: answers left in progress", r"answers left in progress: (\d+)", "0", "==0"
            ),
            Metric(
                "soak: first token p50, last minute ÷ minute 5",
                r"vs minute 5: first token p50 [\d.]+ vs [\d.]+ ms \(x([\d.]+)",
                "≤ 1.5",
                "<=1.5",
            ),
            Metric(
                "soak: RSS, last minute vs minute 5",
                r"vs minute 5: [^\n]*RSS [\d.]+ vs [\d.]+ MB \(([+-]?[\d.]+) %",
                "≤ 10 %",
                "<=10",
                "%",
            ),
        ),
        timeout=2400,
    ),
)


def run_one(bench: Benchmark, quick: bool) -> tuple[str, str | None]:
    if not (ROOT / "bench" / f"{bench.name}.py").exists():
        return "", f"{bench.name}: not present"
    args = bench.quick_args if quick else bench.args
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", f"bench.{bench.name}", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=bench.timeout,
        )
    except subprocess.TimeoutExpired:
        return "", f"{bench.name}: timed out after {bench.timeout:.0f} s"
    output = done.stdout + done.stderr
    print(
        f"--- {bench.name} ({time.monotonic() - started:.0f} s)\n{done.stdout.rstrip()}", flush=True
    )
    if done.returncode != 0:
        return output, f"{bench.name}: exit {done.returncode}: {output.strip().splitlines()[-1:]}"
    return output, None


def from_log(log: str, name: str) -> tuple[str, str | None]:
    """A benchmark's output from an earlier ``bench/run`` log (to re-read numbers)."""
    match = re.search(rf"^--- {name} \(.*?\n(.*?)(?=^--- |\n\| benchmark)", log, flags=re.S | re.M)
    return (match.group(1), None) if match else ("", f"{name}: not in the log")


def collect(selected: list[Benchmark], quick: bool, log: str | None = None) -> Run:
    run = Run()
    for bench in selected:
        output, failure = from_log(log, bench.name) if log is not None else run_one(bench, quick)
        if failure:
            run.failures.append(failure)
        for metric in bench.metrics:
            match = re.search(metric.pattern, output, flags=re.S | re.M)
            value = float(match.group(1)) if match else None
            status = metric.judge(value) if value is not None else ("no number" if output else "")
            run.rows.append(Row(bench.name, metric, value, status))
    return run


def table(run: Run) -> str:
    lines = ["| benchmark | measure | value | target | status |", "|---|---|---|---|---|"]
    for row in run.rows:
        value = "—" if row.value is None else f"{row.value:g} {row.metric.unit}".strip()
        lines.append(
            f"| {row.bench} | {row.metric.label} | {value} | {row.metric.target} | {row.status} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (minutes, not an hour)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--from-log", help="re-read the numbers from a saved bench/run output")
    args = parser.parse_args(argv)
    wanted = {n for n in args.only.split(",") if n}
    selected = [b for b in BENCHMARKS if not wanted or b.name in wanted]
    log = Path(args.from_log).read_text(encoding="utf-8") if args.from_log else None
    run = collect(selected, args.quick, log)
    rendered = table(run)
    print("\n" + rendered)
    for failure in run.failures:
        print(f"! {failure}")
    notes_file = ROOT / "bench" / "NOTES.md"
    notes = notes_file.read_text(encoding="utf-8") if notes_file.exists() else ""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "quick run" if args.quick else "full run"
    if args.from_log:
        mode += f"; numbers re-read from its saved output `{Path(args.from_log).name}`"
    failures = "".join(f"- {f}\n" for f in run.failures)
    (ROOT / "bench" / "RESULTS.md").write_text(
        f"# Benchmark results\n\nMeasured by `bench/run` ({mode}) on {stamp}, on this project's "
        f"2-core machine, against the local emulators.\n\n{rendered}\n\n"
        + (f"## Benchmarks that did not finish\n\n{failures}\n" if failures else "")
        + notes,
        encoding="utf-8",
    )
    return 1 if run.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
