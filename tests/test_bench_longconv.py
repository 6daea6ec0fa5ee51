"""bench.longconv: a small run prints every number bench/run reads, the two runs are what they
claim (compaction on with the default budget, off with HISTORY_MAX_TOKENS=0), and the fact given
at exchange 1 is recalled at the last one."""

from __future__ import annotations

import re

from tests.support.bench_runs import run_bench


def test_a_small_longconv_run_prints_every_number_the_report_reads() -> None:
    out = run_bench(
        "longconv", "--conversations", "1", "--exchanges", "60", "--answer-tokens", "20"
    )
    assert re.search(r"^\[on\] HISTORY_MAX_TOKENS=[1-9]\d*: ", out, re.M), out
    assert re.search(r"^\[off\] HISTORY_MAX_TOKENS=0: ", out, re.M), out
    assert "failed turns 0" in out and "failed turns 1" not in out
    assert re.search(r"^\[on\] early-fact recall at exchange 60: pass \(1/1\)", out, re.M), out
    assert "conversations that forgot the fact: 0" in out
    # the emulator's prefix cache serves a growing conversation's history
    share = float(re.search(r"^\[off\] cached share of prompt tokens: ([\d.]+) %", out, re.M)[1])
    assert share > 50, out
