"""A local Slack for tests: Web API, Events API sender and Socket Mode, driven by real clients.

Usage::

    emu = SlackEmulator(bot_token="xoxb-test", app_token="xapp-test", signing_secret="secret")
    await emu.start()
    client = AsyncWebClient(token="xoxb-test", base_url=f"{emu.url}/api/")
"""

from .delivery import Delivery
from .emulator import SentUserMessage, SlackEmulator
from .errors import ApiError
from .limits import RateLimitViolation, RateRule
from .state import ApiCall, Channel, PostedMessage, StatusUpdate, User

__all__ = [
    "ApiCall",
    "ApiError",
    "Channel",
    "Delivery",
    "PostedMessage",
    "RateLimitViolation",
    "RateRule",
    "SentUserMessage",
    "SlackEmulator",
    "StatusUpdate",
    "User",
]
