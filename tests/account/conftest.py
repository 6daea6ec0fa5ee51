"""The Moonshot account as the bot asks about it: an emulator that serves a model the bot's
catalog does not know (``EXTRA``), besides the built-in ones, so "served, not in the catalog"
and the narrowing to served ∩ catalog can both be seen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.catalog import apply_overrides, builtin_catalog
from emulators.moonshot import MoonshotEmulator
from tests.conftest import EMULATOR_KEY

EXTRA = "kimi-k9-preview"  # served by the emulator, unknown to the bot's built-in catalog
EXTRA_MODEL = {
    "context_window": 131072,
    "max_output": 8192,
    "input_price": 1.0,
    "output_price": 2.0,
    "rpm": 100,
    "tpm": 100000,
    "concurrency": 10,
}


@pytest.fixture
async def account_moonshot() -> AsyncIterator[Any]:
    """A Moonshot emulator (limits off) whose account also has :data:`EXTRA`."""
    catalog = apply_overrides(builtin_catalog(), {"models": {EXTRA: EXTRA_MODEL}})
    emulator = MoonshotEmulator(api_key=EMULATOR_KEY, catalog=catalog, enforce_limits=False)
    await emulator.start(host="127.0.0.1", port=0)
    yield emulator
    await emulator.stop()
