"""The web chat adapter: a browser page on ``kimi-bot run``'s own HTTP server."""

from bots.web.adapter import WebChatAdapter

__all__ = ["WebChatAdapter"]
