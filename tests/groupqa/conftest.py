"""Fixtures of the group Q&A tests: the platforms' end-to-end fixtures (emulator, running bot)."""

from tests.telegram.conftest import start_bot, tg  # noqa: F401 (fixtures)
