"""The terminal adapter: ``kimi-bot ask`` and ``kimi-bot chat`` stream answers to stdout."""

from __future__ import annotations

import asyncio
import getpass
import mimetypes
import os
import shlex
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from core.assistant import Assistant
from core.attachment_kinds import IMAGE
from core.conversations import Conversations
from core.runtime import EXIT_ALLOWANCE, watch_the_exit
from core.types import Attachment, Author, ConversationKey, Incoming
from core.vocabulary import COMPLETE

DIM, RESET = "\x1b[2m", "\x1b[0m"


class TerminalSink:
    """Prints deltas as they arrive; notices and errors go to stderr so stdout is the answer.

    A thinking model's reasoning goes to stderr too, dimmed on a terminal, with
    ``show_thinking``; without it, one "[thinking…]" line says why the answer is slow to start.
    """

    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, *, show_thinking: bool = False
    ) -> None:
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._show_thinking = show_thinking
        self.final: str | None = None
        self.failed = False
        self._printed = ""  # answer text already written to stdout
        self._thinking = False  # reasoning is being written to stderr
        self._said_thinking = False

    async def begin(self) -> None:
        self._printed = ""

    async def append(self, delta: str) -> None:
        self._end_thinking()
        self._out.write(delta)
        self._out.flush()
        self._printed += delta

    async def thinking(self, delta: str) -> None:
        if not self._show_thinking:
            if not self._said_thinking:
                self._said_thinking = True
                await self.notice("thinking…")
            return
        if not self._thinking:
            self._thinking = True
            self._err.write(DIM if self._err.isatty() else "")
        self._err.write(delta)
        self._err.flush()

    def _end_thinking(self) -> None:
        if self._thinking:
            self._thinking = False
            self._err.write((RESET if self._err.isatty() else "") + "\n")
            self._err.flush()

    async def notice(self, text: str) -> None:
        self._end_thinking()
        self._err.write(f"[{text}]\n")
        self._err.flush()

    async def complete(self, text: str) -> None:
        self._end_thinking()
        self.final = text
        # The final text is what streamed plus what the core adds at the end (a note that the
        # answer was cut, the documents' footer): print what has not been printed yet.
        if text.startswith(self._printed):
            self._out.write(text[len(self._printed) :])
        else:
            self._out.write("\n" + text)
        self._out.write("\n")
        self._out.flush()

    async def abort(self, partial_text: str, reason: str) -> None:
        self._end_thinking()
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


async def ask(
    assistant: Assistant,
    conversations: Conversations,
    text: str,
    conversation: str,
    model: str | None = None,
    *,
    files: Sequence[Path] = (),
    images: Sequence[Path] = (),
    show_thinking: bool = False,
) -> int:
    """One question (with documents or images, like files and photos sent on Telegram); exit
    status 0 when a complete answer was printed. ``--file`` lets the core decide what a file
    is (an audio file is transcribed); ``--image`` says it is a picture."""
    if model is not None:
        if model not in assistant.catalog:
            sys.stderr.write(
                f"unknown model {model!r}; choose one of: {', '.join(assistant.catalog.ids())}\n"
            )
            return 2
        key = ConversationKey(platform="cli", chat=conversation)
        await conversations.set_model(key, model, is_group=False)
    sink = TerminalSink(show_thinking=show_thinking)
    incoming = terminal_incoming(text, conversation)
    attachments = [file_attachment(f) for f in files]
    attachments += [file_attachment(f, kind=IMAGE) for f in images]
    if attachments:
        incoming = replace(incoming, attachments=tuple(attachments))
    outcome = await assistant.handle(incoming, sink)
    cut = outcome is not None and outcome.status != COMPLETE  # e.g. still cut after continuing
    return 1 if sink.failed or cut else 0


def file_attachment(path: Path, *, kind: str = "") -> Attachment:
    """A local file as an attachment; the core checks its size and type before reading it."""
    mime, _ = mimetypes.guess_type(path.name)

    async def fetch() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    return Attachment(
        name=path.name,
        mime_type=mime or "application/octet-stream",
        size=path.stat().st_size,
        fetch=fetch,
        kind=kind,
    )


@dataclass(frozen=True, slots=True)
class InputLine:
    text: str  # without the line break
    size: int  # bytes as read, without the line break (a terminal's line limit counts bytes)


class LineReader:
    """Lines from a file descriptor, read by a daemon thread and queued for the event loop.

    A daemon thread, so neither Ctrl-C nor the end of the program waits for a read that only
    returns when the user presses Enter (``run_in_executor`` would: ``asyncio.run`` joins its
    threads). It reads the raw descriptor with ``os.read``, so it never holds the lock of
    ``sys.stdin``'s buffer, which interpreter shutdown would otherwise wait for.
    """

    def __init__(self, fd: int, encoding: str = "utf-8") -> None:
        self._fd = fd
        self._encoding = encoding
        self._queue: asyncio.Queue[InputLine | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._pump, name="kimi-bot-stdin", daemon=True)
        self._thread.start()

    async def readline(self) -> InputLine | None:
        """The next line, or None at the end of the input (Ctrl-D)."""
        return await self._queue.get()

    def _deliver(self, line: InputLine | None) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
        except RuntimeError:  # the loop is closed: nobody is reading any more
            return False
        return True

    def _line(self, raw: bytes) -> InputLine:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        return InputLine(raw.decode(self._encoding, errors="replace"), len(raw))

    def _pump(self) -> None:
        pending = bytearray()
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                if pending:
                    self._deliver(self._line(bytes(pending)))
                self._deliver(None)
                return
            start = len(pending)
            pending += chunk
            while (end := pending.find(b"\n", start)) >= 0:
                if not self._deliver(self._line(bytes(pending[:end]))):
                    return
                del pending[: end + 1]
                start = 0


def tty_line_limit(fd: int) -> int | None:
    """How many bytes a terminal in canonical mode keeps of one line (None: not a terminal, or no
    such limit). Linux keeps 4095 and drops the rest without a word; BSD and macOS keep fewer."""
    try:
        if not os.isatty(fd):
            return None
        import termios

        if not termios.tcgetattr(fd)[3] & termios.ICANON:
            return None
    except (ImportError, OSError):
        return None
    if sys.platform.startswith("linux"):
        return 4095
    try:
        return max(int(os.fpathconf(fd, "PC_MAX_CANON")) - 1, 255)
    except (OSError, ValueError):
        return 1023


def cut_line_warning(limit: int, conversation: str) -> str:
    where = "" if conversation == "default" else f" -c {shlex.quote(conversation)}"
    return (
        f"kimi-bot: that line reached the terminal's limit of {limit} characters, so the rest "
        f"was cut off; it was not sent. For longer text use kimi-bot ask{where} "
        '"$(cat file.txt)"'
    )


async def chat(assistant: Assistant, conversation: str, *, show_thinking: bool = False) -> int:
    """An interactive session; the same /commands as every other adapter. Ctrl-D quits."""
    sys.stderr.write(
        f"kimi-bot chat — conversation {conversation!r}. /help for commands, Ctrl-D to quit.\n"
    )
    fd = sys.stdin.fileno()
    limit = tty_line_limit(fd)
    lines = LineReader(fd, getattr(sys.stdin, "encoding", None) or "utf-8")
    try:
        while True:
            sys.stderr.write("> ")
            sys.stderr.flush()
            line = await lines.readline()
            if line is None:
                sys.stderr.write("\n")
                return 0
            if limit is not None and line.size >= limit:
                sys.stderr.write(cut_line_warning(limit, conversation) + "\n")
                continue
            text = line.text
            if not text.strip():
                continue
            if text.strip() in {"/quit", "/exit"}:
                return 0
            sink = TerminalSink(show_thinking=show_thinking)
            await assistant.handle(terminal_incoming(text, conversation), sink)
    except asyncio.CancelledError:  # Ctrl-C: end the prompt's line, then exit (status 130)
        watch_the_exit(EXIT_ALLOWANCE)
        sys.stderr.write("\n")
        sys.stderr.flush()
        raise
