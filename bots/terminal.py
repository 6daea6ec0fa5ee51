"""The terminal adapter: ``kimi-bot ask`` and ``kimi-bot chat`` stream answers to stdout."""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import TextIO

from core.engine import Engine
from core.types import Author, ConversationKey, Incoming


class TerminalSink:
    """Prints deltas as they arrive; notices and errors go to stderr so stdout is the answer."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self.final: str | None = None
        self.failed = False
        self._printed = False

    async def begin(self) -> None:
        self._printed = False

    async def append(self, delta: str) -> None:
        self._out.write(delta)
        self._out.flush()
        self._printed = True

    async def notice(self, text: str) -> None:
        self._err.write(f"[{text}]\n")
        self._err.flush()

    async def complete(self, text: str) -> None:
        self.final = text
        if not self._printed:
            self._out.write(text)
        self._out.write("\n")
        self._out.flush()

    async def abort(self, partial_text: str, reason: str) -> None:
        self.failed = True
        if self._printed:
            self._out.write("\n")
            self._out.flush()
        self._err.write(f"{reason}\n")
        self._err.flush()

    async def reply(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()


def terminal_incoming(text: str, conversation: str, user: str | None = None) -> Incoming:
    name = user or getpass.getuser() or "local"
    return Incoming(
        key=ConversationKey(platform="cli", chat=conversation),
        author=Author(id=f"cli:{name}", name=name),
        text=text,
    )


async def ask(engine: Engine, text: str, conversation: str, model: str | None = None) -> int:
    """One question; exit status 0 when a complete answer was printed."""
    if model is not None:
        if model not in engine.catalog:
            sys.stderr.write(
                f"unknown model {model!r}; choose one of: {', '.join(engine.catalog.ids())}\n"
            )
            return 2
        record = await engine.db.conversations.get_or_create(
            ConversationKey(platform="cli", chat=conversation), is_group=False
        )
        await engine.db.conversations.update_settings(record.id, model=model)
    sink = TerminalSink()
    await engine.handle(terminal_incoming(text, conversation), sink)
    return 1 if sink.failed else 0


async def chat(engine: Engine, conversation: str) -> int:
    """An interactive session; the same /commands as every other adapter. Ctrl-D quits."""
    sys.stderr.write(
        f"kimi-bot chat — conversation {conversation!r}. /help for commands, Ctrl-D to quit.\n"
    )
    loop = asyncio.get_running_loop()
    while True:
        sys.stderr.write("> ")
        sys.stderr.flush()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            sys.stderr.write("\n")
            return 0
        text = line.rstrip("\n")
        if not text.strip():
            continue
        if text.strip() in {"/quit", "/exit"}:
            return 0
        await engine.handle(terminal_incoming(text, conversation), TerminalSink())
