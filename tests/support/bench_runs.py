"""A bench module run as a smoke test: a small run must finish and print every number
``bench/report`` reads (the checks of what the numbers say stay in each test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.report import BENCHMARKS

ROOT = Path(__file__).resolve().parents[2]


def run_bench(name: str, *args: str) -> str:
    """``python -m bench.<name> <args>`` from the project root; its output, once it exited 0
    and every metric of the ``name`` benchmark was found in it."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    bench = next(b for b in BENCHMARKS if b.name == name)
    found = {m.label: re.search(m.pattern, out, flags=re.S | re.M) for m in bench.metrics}
    assert all(found.values()), ({label: bool(m) for label, m in found.items()}, out)
    return out
