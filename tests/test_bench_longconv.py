"""bench.longconv: a small run prints every number bench/run reads, the two runs are what they
claim (compaction on with the default budget, off with HISTORY_MAX_TOKENS=0), and the fact given
at exchange 1 is recalled at the last one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.report import BENCHMARKS

ROOT = Path(__file__).resolve().parents[1]


def test_a_small_longconv_run_prints_every_number_the_report_reads() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.longconv",
            *("--conversations", "1", "--exchanges", "60", "--answer-tokens", "20"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    bench = next(b for b in BENCHMARKS if b.name == "longconv")
    found = {m.label: re.search(m.pattern, out, flags=re.S | re.M) for m in bench.metrics}
    assert all(found.values()), ({label: bool(m) for label, m in found.items()}, out)
    assert re.search(r"^\[on\] HISTORY_MAX_TOKENS=[1-9]\d*: ", out, re.M), out
    assert re.search(r"^\[off\] HISTORY_MAX_TOKENS=0: ", out, re.M), out
    assert "failed turns 0" in out and "failed turns 1" not in out
    assert re.search(r"^\[on\] early-fact recall at exchange 60: pass \(1/1\)", out, re.M), out
    assert "conversations that forgot the fact: 0" in out
    # the emulator's prefix cache serves a growing conversation's history
    share = float(re.search(r"^\[off\] cached share of prompt tokens: ([\d.]+) %", out, re.M)[1])
    assert share > 50, out
