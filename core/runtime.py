"""Process-level tuning: fewer glibc malloc arenas, large blocks mapped on their own, free
memory handed back, start-up objects kept out of garbage collections, and a watchdog over the
exit.

Measured with ``bench.soak`` (1,000 conversations): the Python heap stays flat under load
while RSS creeps upward, because glibc keeps freed memory in its arenas; ``malloc_trim`` gave
back 45 MB of 186 MB after a 2.5-minute run. No library does this for asyncio services, hence
these few lines.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import faulthandler
import functools
import gc
import logging
import os
import sys

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
DEFAULT_ARENAS = 2
MMAP_THRESHOLD = 16 * 1024


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas, as ``MALLOC_ARENA_MAX`` would.

    glibc gives threads their own arenas (up to 8 per core) and rarely gives their memory back,
    so a service whose database driver and resolver run in threads (aiosqlite keeps one per
    connection) creeps upward in RSS while its Python heap stays flat; measured with
    ``bench.soak`` (1,000 conversations): the growth after warm-up halved. An operator's own
    ``MALLOC_ARENA_MAX`` wins; other C libraries are left alone. True if the cap was applied.
    """
    return _mallopt(M_ARENA_MAX, arenas, unless_set="MALLOC_ARENA_MAX")


def _mallopt(parameter: int, value: int, *, unless_set: str) -> bool:
    """glibc's ``mallopt``, unless the operator set the same thing in the environment
    (``unless_set``, read by glibc at start-up); False where there is no glibc."""
    libc = _libc()
    if os.environ.get(unless_set) or libc is None:
        return False
    try:
        mallopt = libc.mallopt
    except AttributeError:  # musl and others: no mallopt
        return False
    applied = bool(mallopt(ctypes.c_int(parameter), ctypes.c_int(value)))
    if not applied:
        log.debug("mallopt(%d, %d) was refused", parameter, value)
    return applied


def mmap_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes, as ``MALLOC_MMAP_THRESHOLD_`` would.

    By default glibc raises its threshold (128 KB at first) to the size of any mapped block
    freed, and its trim threshold with it (up to 32 and 64 MB): after that, a turn's large
    short-lived blocks (the request body, a history page, a summary's transcript; tens of KB,
    growing with the prompt) grow the heap, and the free space at its end is no longer given
    back. Fixed, a block of ``threshold`` bytes or more that the heap has no free room for is
    mapped on its own and unmapped when freed, and the heap's free end is trimmed past 128 KB.
    Measured with ``bench.soak`` (333 conversations, 16 minutes, thinking 5-20 s): memory glibc
    kept free grew 3.5 MB instead of 7, RSS +6.9 % instead of +10.5 % from minute 5 to 16, at
    the same CPU; in the 40-minute soak (1,000 conversations) it kept 16.1 MB free at minute 40
    against 25.7 MB before. An operator's own ``MALLOC_MMAP_THRESHOLD_`` wins. True if applied."""
    return _mallopt(M_MMAP_THRESHOLD, threshold, unless_set="MALLOC_MMAP_THRESHOLD_")


def release_free_memory() -> bool:
    """Hand memory that glibc keeps after ``free`` back to the system (``malloc_trim(0)``)."""
    libc = _libc()
    try:
        return bool(libc is not None and libc.malloc_trim(0))
    except AttributeError:  # not glibc
        return False


async def release_free_memory_every(seconds: float) -> None:
    """Run :func:`release_free_memory` every ``seconds`` (in a thread: it walks the heap);
    returns at once for 0 (turned off)."""
    while seconds > 0:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(release_free_memory)


def freeze_startup_objects() -> int:
    """Move every object alive now (imported modules, the catalog, compiled statements, the
    adapters) out of the garbage collector's reach: a full collection then walks only what
    the service allocated since, not the ~200,000 objects of its libraries.

    Measured on the service's own start-up: a full collection took ~120 ms before and under
    1 ms after, and it pauses every answer streaming in this process while it runs. Start-up
    objects live as long as the process anyway. The standard library's ``gc.freeze`` exists
    for this; returns how many objects were frozen.
    """
    gc.collect()  # what start-up left behind goes first, not into the frozen set
    gc.freeze()
    return gc.get_freeze_count()


def collect_young_less_often(threshold: int) -> tuple[int, int, int]:
    """Run a young garbage collection every ``threshold`` container allocations instead of
    Python's 700 (0 leaves Python's own); returns the collector's thresholds now.

    Why: under ``bench.soak`` (1,000 conversations, 41 minutes) young collections ran 13 times
    a second, 33,107 of them taking 48.6 s, and the middle and full ones they trigger 37.9 s
    more. Each walks the turns in flight (coroutines, frames, stream chunks), which are alive,
    so it frees almost nothing: what a turn drops is freed by reference counting, and a run
    with ``DEBUG_SAVEALL`` found 10-14 objects of cyclic garbage per 100 turns. The standard
    library's ``gc.set_threshold`` is the knob; the older generations keep Python's ratios.
    With 10,000 (and uvloop) the same soak ran 240 young, 21 middle and 1 full collection;
    the price is that cyclic garbage waits longer, so a finished answer must not be in a
    reference cycle (``tests/*/test_no_cycles.py``): before those were broken, Python's
    allocated blocks grew 7 % over the 40 minutes; after, they fell 5 % (bench/NOTES.md).
    """
    if threshold > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(threshold, middle, old)
    return gc.get_threshold()


EXIT_ALLOWANCE = 15.0  # seconds a shutdown may take beyond the answers it lets finish


def watch_the_exit(seconds: float) -> None:
    """If the process has not ended ``seconds`` from now, print every thread's stack to stderr
    and exit with status 1.

    Armed when a signal starts the shutdown. A close that never returns, or a thread that
    never ends (interpreter exit waits for every non-daemon thread), would otherwise leave a
    process that says nothing until a supervisor kills it; this way the operator gets the
    stacks that show where it stuck. The standard library's ``faulthandler`` runs the timer
    in its own C thread, so it fires even when the event loop is blocked.
    """
    log.debug("shutting down; stacks are printed if the process has not ended in %.0fs", seconds)
    faulthandler.dump_traceback_later(seconds, exit=True)
