"""A finished turn is freed at once, not left for the cycle collector: after a plain answer,
a retried call, an answer cut mid-stream and a refused one."""

from __future__ import annotations

import asyncio

import pytest

from core.types import CollectingSink
from emulators.moonshot import Fault
from tests.e2e.test_assistant import incoming
from tests.support.garbage import cyclic_garbage

FAULTS = {
    "plain": None,
    "retried": Fault(kind="server_error", times=1),
    "cut mid-stream": Fault(kind="drop_stream", times=1, after_chunks=3),
    "refused": Fault(kind="auth", times=1),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_a_turn_leaves_no_reference_cycles(services, moonshot, fault):
    await services.assistant.handle(incoming("warm up"), CollectingSink())
    with cyclic_garbage() as leftovers:
        if fault is not None:
            moonshot.inject(fault)
        sink = CollectingSink()
        await services.assistant.handle(incoming("hello"), sink)
        await asyncio.sleep(0.1)
    assert sink.final or sink.aborted, "the turn ended visibly"
    assert leftovers == {}
