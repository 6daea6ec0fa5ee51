"""bench/run reads numbers from what each benchmark prints: keep the two in step."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.report import BENCHMARKS, collect, from_log

ROOT = Path(__file__).resolve().parents[1]
NEEDS_A_MINUTE = {
    "soak: RSS after 1 min of load",
    "soak: RSS growth after warm-up (1 min → end)",
    "soak: first token p50, last minute ÷ minute 5",  # these two need 6 minutes
    "soak: RSS, last minute vs minute 5",
}


def test_a_short_soak_prints_every_number_the_report_reads() -> None:
    load = "--conversations 6 --minutes 0.15 --think-min 0.1 --think-max 0.3 --telegram 0.34"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.soak",
            *load.split(),
            "--tokens-min",
            "5",
            "--tokens-max",
            "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    soak = next(b for b in BENCHMARKS if b.name == "soak")
    found = {
        metric.label: re.search(metric.pattern, done.stdout, flags=re.S | re.M)
        for metric in soak.metrics
        if metric.label not in NEEDS_A_MINUTE
    }
    assert all(found.values()), {label: bool(m) for label, m in found.items()}
    assert found["soak: errors"].group(1) == "0", done.stdout
    assert found["soak: answers left in progress"].group(1) == "0"
    assert float(found["soak: turns completed per second"].group(1)) > 0
    assert "(2 through Telegram)" in done.stdout


def test_numbers_are_re_read_from_a_saved_run() -> None:
    log = (
        "--- overhead (22 s)\nbare openai SDK : median 225.8 ms\n"
        "overhead ratio  : 1.234 (target <= 1.10)\n"
        "--- history (2 s)\nhistory ratio  : 1.033 (target <= 1.5)\n"
        "\n| benchmark | measure | value | target | status |\n"
    )
    assert "1.033" in from_log(log, "history")[0]
    selected = [b for b in BENCHMARKS if b.name in ("overhead", "history")]
    rows = {row.metric.label: row for row in collect(selected, quick=False, log=log).rows}
    overhead = rows["per-turn overhead ratio (engine / bare SDK)"]
    assert (overhead.value, overhead.status) == (1.234, "BELOW TARGET")
    history = rows["history scaling ratio (10 vs 100,000 stored)"]
    assert (history.value, history.status) == (1.033, "ok")
