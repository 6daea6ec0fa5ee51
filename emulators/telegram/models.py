"""In-memory state of the fake Telegram: chats, messages, files, recorded calls and faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class ApiCall(NamedTuple):
    """One Bot API request as received (``timestamp`` is ``time.monotonic()``)."""

    method: str
    params: dict[str, Any]
    timestamp: float


class ApiFailure(NamedTuple):
    """A call the emulator refused, so tests can see what the bot was told."""

    method: str
    error_code: int
    description: str
    timestamp: float


@dataclass
class SentMessage:
    """A message the bot sent, with its life afterwards (edits, deletion)."""

    chat_id: int
    message_id: int
    text: str | None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    source_text: str | None = None
    edits: list[str] = field(default_factory=list)
    reply_to_message_id: int | None = None
    thread_id: int | None = None
    deleted: bool = False
    date: int = 0
    edit_date: int | None = None
    reply_markup: dict[str, Any] | None = None
    disable_notification: bool = False
    link_preview_options: dict[str, Any] | None = None
    kind: str = "text"
    caption: str | None = None
    file_id: str | None = None
    file_name: str | None = None
    data: bytes | None = None


@dataclass
class StoredFile:
    """A file Telegram holds: ``file_size`` may be declared larger than ``data``."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_size: int
    kind: str
    file_name: str | None = None
    mime_type: str | None = None
    file_path: str | None = None


@dataclass
class Chat:
    """A chat the bot is in; ``messages`` holds every message dict (user and bot) by id."""

    id: int
    type: str
    title: str | None = None
    is_forum: bool = False
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    admins: list[int] = field(default_factory=list)
    owner_id: int | None = None
    members: set[int] = field(default_factory=set)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    topics: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_message_id: int = 1
    blocked: bool = False

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")

    def allocate_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class Fault:
    """An injected failure for the next ``remaining`` calls of ``method`` (``*`` = any)."""

    method: str
    error_code: int
    description: str
    retry_after: int | None
    remaining: int
    kind: str = "error"
    delay: float = 0.0

    def matches(self, method: str) -> bool:
        return self.remaining > 0 and self.method in ("*", method.lower())
