"""The Telegram adapter: python-telegram-bot in, the shared assistant, streamed answers out.

Modules, one job each: ``adapter`` (PTB lifecycle, polling or webhook), ``webhook`` (secret
check, update queue), ``updates`` (one update → one assistant call), ``addressing`` (is it for us,
conversation key), ``attachments`` (files as lazy Attachments), ``admins`` (group admin check),
``sink`` (the ReplySink: drafts, edits, splitting), ``delivery`` (send/edit with retries),
``flood`` (flood-control floor), ``formatting`` (Markdown → Telegram HTML), ``chat_action``
(typing indicator), ``commands`` (the command menu).
"""

from bots.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
