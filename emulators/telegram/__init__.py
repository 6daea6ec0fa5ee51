"""Local Telegram Bot API emulator: run the real python-telegram-bot against it in tests."""

from .emulator import TelegramEmulator
from .errors import ApiError
from .flood import FloodLimits
from .formatting import parse_html, utf16_len
from .models import ApiCall, ApiFailure, Chat, SentMessage, StoredFile
from .updates import WebhookAttempt

__all__ = [
    "ApiCall",
    "ApiError",
    "ApiFailure",
    "Chat",
    "FloodLimits",
    "SentMessage",
    "StoredFile",
    "TelegramEmulator",
    "WebhookAttempt",
    "parse_html",
    "utf16_len",
]
