"""Plain records handed to the core, so no ORM object or session leaks out of ``storage``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.vocabulary import ConversationKey

__all__ = [
    "ConversationContents",
    "ConversationKey",
    "ConversationRecord",
    "StoredMessage",
    "UsageEntry",
    "UsageTotals",
]


@dataclass(frozen=True, slots=True)
class ConversationContents:
    """What a conversation holds besides its messages, read in the same statement as the
    conversation: a plain chat's turn then skips the lookups it would find empty (each is a
    round trip through the database driver, a few milliseconds of a turn's overhead)."""

    documents: bool  # any library entry
    images: bool  # any image linked to one of its messages
    summary_id: int | None  # the summary in use (the newest), None before the first


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    id: int
    key: ConversationKey
    generation: int
    is_group: bool
    model: str | None
    system_prompt: str | None
    options: dict[str, Any] = field(default_factory=dict)
    # None: not read with the conversation (a record built elsewhere): look everything up.
    contents: ConversationContents | None = None

    # "Known to have none": False also when the contents are unknown, so callers look them up.
    @property
    def known_without_documents(self) -> bool:
        return self.contents is not None and not self.contents.documents

    @property
    def known_without_images(self) -> bool:
        return self.contents is not None and not self.contents.images

    @property
    def known_without_summary(self) -> bool:
        return self.contents is not None and self.contents.summary_id is None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    role: str
    content: str
    token_estimate: int
    status: str
    author_id: str | None = None
    author_name: str | None = None
    created_at: datetime | None = None
    reply_to_id: int | None = None

    @property
    def turn_order(self) -> tuple[int, int]:
        """Sort key that puts each answer right after the message it answers."""
        if self.role == "assistant" and self.reply_to_id is not None:
            return (self.reply_to_id, 1)
        return (self.id, 0)


@dataclass(frozen=True, slots=True)
class UsageEntry:
    """One Moonshot call to write to the ledger. ``cost`` is in ``currency`` (the catalog's,
    so the account's) and includes ``tool_fees``: what its ``web_searches`` cost on top of the
    tokens."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: float
    currency: str
    latency_ms: int
    first_token_ms: int | None
    user_id: str
    platform: str
    chat_key: str
    conversation_id: int | None
    message_id: int | None
    tool_fees: float = 0.0
    web_searches: int = 0


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Sums over ledger rows. Money is kept per currency (``{"CNY": 1.25}``): a ledger written
    while the bot used api.moonshot.cn and then api.moonshot.ai holds both, and CNY and USD are
    never added together."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    costs: Mapping[str, float] = field(default_factory=dict)  # tokens + tool fees
    tool_fees: Mapping[str, float] = field(default_factory=dict)  # the tool-fee part
    web_searches: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def cost(self, currency: str) -> float:
        """What was spent in ``currency`` (0 when nothing was)."""
        return self.costs.get(currency, 0.0)
