"""The Telegram end-to-end fixtures (emulator, running adapter) for the media tests."""

from tests.telegram.conftest import start_bot, tg  # noqa: F401 (fixtures)
