"""What a log line is about, carried in contextvars so every record of a turn says so.

The assistant binds the conversation for the duration of a turn (tasks it starts inherit it); the
runner binds the worker id once at start. :class:`ContextFilter` copies both onto each record,
where the JSON formatter (``LOG_FORMAT=json``) and the text format can show them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from core.vocabulary import ConversationKey

conversation_var: ContextVar[ConversationKey | None] = ContextVar("conversation", default=None)
worker_var: ContextVar[str | None] = ContextVar("worker", default=None)
_process_worker: str | None = None  # for records from tasks started outside any bound context


@contextmanager
def conversation_scope(key: ConversationKey) -> Iterator[None]:
    """Records logged inside (and in tasks started inside) name this conversation."""
    token = conversation_var.set(key)
    try:
        yield
    finally:
        conversation_var.reset(token)


def bind_worker(worker_id: str | None) -> None:
    """This process's worker id, for every later record (contextvar plus a process default)."""
    global _process_worker
    _process_worker = worker_id
    worker_var.set(worker_id)


class ContextFilter(logging.Filter):
    """Adds ``worker``, ``conversation`` (label) and ``conversation_key`` (parts) to records."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = worker_var.get() or _process_worker
        key = conversation_var.get()
        record.conversation = key.label() if key is not None else None
        record.conversation_key = (
            {
                "platform": key.platform,
                "workspace": key.workspace,
                "chat": key.chat,
                "thread": key.thread,
            }
            if key is not None
            else None
        )
        return True
