"""The allocator cap `kimi-bot run` applies at start-up."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from core.runtime import limit_malloc_arenas, release_free_memory, release_free_memory_every


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_arena_cap_is_applied_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True


def test_an_operators_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


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
