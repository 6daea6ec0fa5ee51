"""Tables: conversations, participants, messages, usage records, processed platform events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    """One memory. ``generation`` grows on ``reset``: the old conversation stays, a new one starts."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint(
            "platform", "workspace", "chat", "thread", "generation", name="uq_conv_key"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128), default="")
    chat: Mapped[str] = mapped_column(String(128))
    thread: Mapped[str] = mapped_column(String(128), default="")
    generation: Mapped[int] = mapped_column(Integer, default=0)
    is_group: Mapped[bool] = mapped_column(default=False)
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    system_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The fencing token of the newest turn that started here (see core.redis_locks).
    turn_fence: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Participant(Base):
    """Who has spoken in a conversation, with the display name last seen."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("conversation_id", "user_id", name="uq_participant"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(String(160))
    display_name: Mapped[str] = mapped_column(String(256), default="")
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Message(Base):
    """A turn. Users' turns are stored before anything can fail; answers carry a status."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_id_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[str | None] = mapped_column(String(160), nullable=True)
    author_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    content: Mapped[str] = mapped_column(Text, default="")
    # Uncalibrated estimate (core.tokens.raw_estimate), scaled by the learnt factor when read.
    token_estimate: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="complete", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A thinking model's reasoning for this answer (never part of ``content``).
    reasoning: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    platform_message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # An answer points at the user message it answers, so history reads in turn order even when
    # a second message was stored while the first answer was still streaming.
    reply_to_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # The worker streaming an in-progress answer, so a survivor can close a dead worker's turns.
    worker_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class UsageRecord(Base):
    """One Moonshot call: tokens, cost (in ``currency``, the account's) and timings, by user,
    conversation and model. ``cost`` includes ``tool_fees``, the per-call fees of its
    ``web_searches``."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_user_created", "user_id", "created_at"),
        Index("ix_usage_conversation", "conversation_id"),
        Index("ix_usage_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True
    )
    message_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    user_id: Mapped[str] = mapped_column(String(160), default="")
    platform: Mapped[str] = mapped_column(String(32), default="")
    chat_key: Mapped[str] = mapped_column(String(400), default="")
    model: Mapped[str] = mapped_column(String(128))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    # The column keeps its first name so workers of the previous release, which write
    # ``cost_cny``, go on storing answers during a rolling deploy (their rows are CNY, the
    # ``currency`` default). It holds the amount in ``currency``.
    cost: Mapped[float] = mapped_column("cost_cny", Float, default=0.0)
    currency: Mapped[str] = mapped_column(String(3), default="CNY", server_default="CNY")
    tool_fees: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    web_searches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    first_token_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProcessedEvent(Base):
    """Platform events already taken (Telegram ``update_id``, Slack ``event_id``): exactly once."""

    __tablename__ = "processed_events"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class Document(Base):
    """Extracted text of one file, shared by content hash; reached only through a library entry."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(512))
    mime_type: Mapped[str] = mapped_column(String(160), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    file_type: Mapped[str] = mapped_column(String(160), default="")
    content: Mapped[str] = mapped_column(Text, default="")
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DocumentSection(Base):
    """A retrievable part of a document; ``search_terms`` feeds the full-text index."""

    __tablename__ = "document_sections"
    __table_args__ = (Index("ix_sections_document_ordinal", "document_id", "ordinal"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300), default="")
    content: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    search_terms: Mapped[str] = mapped_column(Text, default="")


class LibraryEntry(Base):
    """A document in one conversation's library (numbered; removed by ``forget``)."""

    __tablename__ = "library_entries"
    __table_args__ = (
        UniqueConstraint("conversation_id", "document_id", name="uq_library_document"),
        Index("ix_library_conversation", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(512))
    added_by: Mapped[str] = mapped_column(String(160), default="")
    added_by_name: Mapped[str] = mapped_column(String(256), default="")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Image(Base):
    """One image's bytes (our own copy), shared by content hash; reached through a link."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    format: Mapped[str] = mapped_column(String(16))  # png, jpeg, webp, gif
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # Moonshot's count for this image (or the 14x14 tile rule when it could not be asked).
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConversationImage(Base):
    """An image a user message carried (numbered per conversation; removed by ``forget``)."""

    __tablename__ = "conversation_images"
    __table_args__ = (
        Index("ix_conversation_images_conversation", "conversation_id", "message_id"),
        Index("ix_conversation_images_image", "image_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)  # order within its message
    name: Mapped[str] = mapped_column(String(512), default="")
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    added_by: Mapped[str] = mapped_column(String(160), default="")
    added_by_name: Mapped[str] = mapped_column(String(256), default="")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Worker(Base):
    """A running ``kimi-bot run`` process and its last heartbeat."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(256), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class InstanceSecret(Base):
    """A random value generated once per deployment (e.g. the key that signs web chat cookies).

    Kept in the database rather than a file so every worker and every restart sees the same one.
    """

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Transcription(Base):
    """One voice message's audio turned into text (core.speech): the seconds of audio, as the
    speech-to-text provider reported them (else the platform), for ``/usage``. Apart from the
    token ledger: no Moonshot call, no tokens, billed by the STT provider by time."""

    __tablename__ = "transcriptions"
    __table_args__ = (
        Index("ix_transcriptions_user_created", "user_id", "created_at"),
        Index("ix_transcriptions_chat_created", "chat_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True
    )
    message_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    user_id: Mapped[str] = mapped_column(String(160), default="")
    platform: Mapped[str] = mapped_column(String(32), default="")
    chat_key: Mapped[str] = mapped_column(String(400), default="")
    model: Mapped[str] = mapped_column(String(128))
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: nobody said
    elapsed_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Feedback(Base):
    """A user's 👍 (+1) or 👎 (-1) on one answer; a second rating by the same user replaces
    the first. ``model`` is the answer's, copied so reports group without a join."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("message_id", "user_id", name="uq_feedback_answer_user"),
        Index("ix_feedback_updated", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(160))
    platform: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    rating: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnswerPost(Base):
    """A platform message an answer was delivered as (a Telegram message id), so a reaction on
    it finds the answer. Keyed by chat: reactions carry no thread or topic."""

    __tablename__ = "answer_posts"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    chat: Mapped[str] = mapped_column(String(128), primary_key=True)
    post_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConversationSummary(Base):
    """What Kimi wrote of a conversation's older part: every exchange up to ``through_id`` (a
    user message id; its answers go with it). The newest row of a conversation is in use."""

    __tablename__ = "conversation_summaries"
    __table_args__ = (
        UniqueConstraint("conversation_id", "through_id", name="uq_summary_conversation_through"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    through_id: Mapped[int] = mapped_column(BigId)
    covered_messages: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    token_estimate: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(128))
    # When the first and last covered messages were written: the summary says what it spans.
    first_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AdminLink(Base):
    """A one-time sign-in link for the operator console (``/admin`` in a private chat). Only a
    hash of the token is kept; ``used_at`` set means spent, so a link works once on any worker."""

    __tablename__ = "admin_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_id: Mapped[str] = mapped_column(String(160))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserBudget(Base):
    """An operator's per-user budget (catalog currency), over ``BUDGET_USER_*`` for that user;
    a None column leaves the environment's default in force."""

    __tablename__ = "user_budgets"

    user_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    daily: Mapped[float | None] = mapped_column(Float, nullable=True)
    monthly: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(160), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AccessEntry(Base):
    """A user (``kind="user"``) or chat (``kind="chat"``) the console added to the allow-list,
    on top of ``ALLOWED_USERS``/``ALLOWED_CHATS``."""

    __tablename__ = "access_entries"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[str] = mapped_column(String(400), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(160), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AdminAudit(Base):
    """One operator action in the console: who, when, what (never a secret value)."""

    __tablename__ = "admin_audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    admin_id: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
