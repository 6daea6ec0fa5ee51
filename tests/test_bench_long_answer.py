"""bench.long_answer: a short run prints every number bench/run reads, and the runs are what
they claim (one stream vs Partial Mode rounds, the whole answer shown, no 429s)."""

from __future__ import annotations

import re

from tests.support.bench_runs import run_bench


def test_a_short_long_answer_run_prints_every_number_the_report_reads() -> None:
    out = run_bench("long_answer", "--length", "9000", "--token-delay", "0.001", "--repeat", "1")
    for platform in ("telegram", "slack"):
        # 9,000 characters are ~2,250 tokens: one stream at 16,384, two rounds at 2,048.
        assert re.search(rf"^{platform}: first token .*?; 2 vs 1 model calls\)", out, re.M), out
        assert f"{platform}: longest gap" in out
        assert re.search(
            rf"^{platform}: .*flood-control violations 0; complete answers 2/2", out, re.M
        )
    rows = [line for line in out.splitlines() if line.startswith(("telegram ", "slack "))]
    assert len(rows) == 4 and all(" yes " in r for r in rows), out
    assert out.splitlines()[-1].startswith("verdict: ")
