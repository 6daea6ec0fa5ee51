"""The Slack end-to-end fixtures (emulator, running adapter) for the media tests."""

from tests.slack.conftest import bot, emu, start_bot  # noqa: F401 (fixtures)
