"""The web chat fixture for the media tests (Telegram and Slack have their own folders)."""

from tests.web.conftest import web_chat  # noqa: F401 (fixture)
