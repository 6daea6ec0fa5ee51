"""The allocator cap `kimi-bot run` applies at start-up, and the watchdog over its exit."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.runtime import (
    collect_young_less_often,
    limit_malloc_arenas,
    mmap_large_blocks,
    release_free_memory,
    release_free_memory_every,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_arena_cap_is_applied_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True


def test_an_operators_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


def test_an_operators_mmap_threshold_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert mmap_large_blocks() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_large_blocks_get_their_own_mappings() -> None:
    """A 40 KB block (below glibc's default 128 KB threshold) that the heap has no room for is
    mapped on its own once the threshold is set, instead of growing the heap; run in a fresh
    interpreter so this test process's allocator keeps its settings."""
    script = textwrap.dedent(
        """
        import ctypes, ctypes.util, os, sys
        sys.path.insert(0, os.getcwd())
        from core.runtime import mmap_large_blocks

        class Info(ctypes.Structure):
            _fields_ = [(n, ctypes.c_size_t) for n in (
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks "
                "keepcost").split()]

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = Info
        kept = []

        def mapped_when_the_heap_is_full() -> bool:
            top = libc.mallinfo2().keepcost  # the free space at the heap's end
            if top > 8192:
                kept.append(bytearray(top - 4096))  # fill it
            before = libc.mallinfo2().hblkhd
            kept.append(bytearray(40_000))
            return libc.mallinfo2().hblkhd - before >= 40_000

        print(mapped_when_the_heap_is_full(), mmap_large_blocks(), mapped_when_the_heap_is_full())
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    assert result.stdout.split() == ["False", "True", "True"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_memory_is_handed_back() -> None:
    """Many small blocks freed at once stay with glibc until trimmed."""
    blocks = [bytearray(4000) for _ in range(20_000)]  # ~80 MB on the heap, not mmapped
    del blocks[:-1]  # keep the last one so the heap top cannot shrink on its own
    before = rss_mb()
    assert release_free_memory() is True
    assert rss_mb() < before - 20, "most of the freed 80 MB went back to the system"


async def test_periodic_release_turned_off_returns_at_once() -> None:
    await asyncio.wait_for(release_free_memory_every(0), 1)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def test_a_process_stuck_at_exit_prints_its_stacks_and_ends() -> None:
    """A non-daemon thread that never ends would keep the interpreter from exiting for good."""
    stuck = textwrap.dedent(
        """
        import threading
        from core.runtime import watch_the_exit
        never = threading.Event()
        threading.Thread(target=never.wait, name="never-ends").start()
        watch_the_exit(0.5)
        """
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", stuck], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert result.returncode == 1
    assert time.monotonic() - started < 20
    assert "Timeout (0:00:00.500000)!" in result.stderr
    assert "in wait" in result.stderr, result.stderr  # the stuck thread's stack


def test_startup_objects_are_frozen_and_startup_garbage_is_collected_first() -> None:
    """After the freeze a full collection no longer walks what start-up left alive, and a
    reference cycle start-up dropped was collected, not frozen."""
    script = textwrap.dedent(
        """
        import gc, weakref
        from core.runtime import freeze_startup_objects

        class Node:
            pass

        kept = [[i] for i in range(100_000)]  # alive for the process's lifetime
        cycle = Node(); cycle.me = cycle
        dropped = weakref.ref(cycle)
        del cycle
        tracked_before = len(gc.get_objects())
        frozen = freeze_startup_objects()
        print(frozen, tracked_before, len(gc.get_objects()), dropped() is None)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    frozen, tracked_before, tracked_after, cycle_collected = done.stdout.split()
    assert int(frozen) >= 100_000
    assert int(tracked_after) < int(tracked_before) - 100_000
    assert cycle_collected == "True"


def test_young_collections_run_every_threshold_allocations() -> None:
    """10,000 allocations between young collections instead of 700: 50,000 live containers
    cost at most 6 young collections instead of about 70; 0 leaves the thresholds alone."""
    before = gc.get_threshold()
    young: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            young.append(1)

    def allocations() -> int:
        young.clear()
        gc.callbacks.append(count)
        try:
            kept = [[i] for i in range(50_000)]
        finally:
            gc.callbacks.remove(count)
        assert len(kept) == 50_000
        return len(young)

    try:
        gc.set_threshold(700, before[1], before[2])
        assert allocations() >= 50  # 50,000 / 700 = 71, less what the interpreter freed
        assert collect_young_less_often(10_000) == (10_000, before[1], before[2])
        assert allocations() <= 6
        assert collect_young_less_often(0) == (10_000, before[1], before[2]), "0: left alone"
    finally:
        gc.set_threshold(*before)
