"""Cyclic garbage a piece of work leaves behind, for tests that keep long-running services lean.

The service collects young objects rarely (``GC_YOUNG_THRESHOLD``) and full collections rarely
happen at all under load, so an object graph a turn leaves in a reference cycle (a sink, its
answer, the text) waits in memory for minutes: the 40-minute soak found hundreds piled up. A
test runs the work inside :func:`cyclic_garbage` and asserts that nothing of ours is in it.
"""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import Iterator

OURS = ("bots.", "core.", "storage.")


@contextlib.contextmanager
def cyclic_garbage() -> Iterator[Counter[str]]:
    """Counts, by class, the project's objects that only the cycle collector could free among
    what the block allocated (filled in when the block ends)."""
    found: Counter[str] = Counter()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield found
        gc.collect()
        for obj in gc.garbage:
            kind = type(obj)
            if kind.__module__.startswith(OURS):
                found[f"{kind.__module__}.{kind.__qualname__}"] += 1
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.collect()  # what was saved is cyclic trash again: free it now
