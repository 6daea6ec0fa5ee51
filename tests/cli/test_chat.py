"""``kimi-bot chat`` at a real terminal (a pty): Ctrl-C, over-long lines, and replies worded right."""

from __future__ import annotations

import fcntl
import os
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.assistant import MAX_MESSAGE_CHARS
from tests.cli.common import KIMI_BOT, clean_env, kimi_bot

PROMPT = "> "


class PtyChat:
    """``kimi-bot chat --emulator`` with a pty as its controlling terminal and stdin.

    Echo is off, so what the test types is not mixed into what the program says; stdout and
    stderr are pipes, read by threads as they arrive.
    """

    def __init__(self, tmp_path: Path) -> None:
        master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO  # canonical mode and signals (ISIG) stay on, as in a shell
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.master = master
        self.process = subprocess.Popen(
            [KIMI_BOT, "chat", "--emulator"],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(tmp_path),
            cwd=tmp_path,
            start_new_session=True,  # its own session, so the pty can be its terminal
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # Ctrl-C → SIGINT
        )
        os.close(slave)
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stdout, self._out), daemon=True),
            threading.Thread(target=self._pump, args=(self.process.stderr, self._err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream, into: list[bytes]) -> None:  # type: ignore[no-untyped-def]
        for chunk in iter(lambda: stream.read1(65536), b""):
            into.append(chunk)

    @property
    def out(self) -> str:
        return b"".join(self._out).decode(errors="replace")

    @property
    def err(self) -> str:
        return b"".join(self._err).decode(errors="replace")

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}\nout: {self.out}\nerr: {self.err}"
                )
            if self.process.poll() is not None and not condition():
                time.sleep(0.2)  # let the readers catch up with what it printed last
                if not condition():
                    raise AssertionError(f"exited ({self.process.returncode}) before {what}")
            time.sleep(0.02)

    def wait_for_prompt(self, count: int) -> None:
        """Until the prompt was shown ``count`` times: idle, waiting for a line."""
        self.wait_until(lambda: self.err.count(PROMPT) >= count, f"prompt #{count}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for reader in self._readers:
            reader.join(5)
        os.close(self.master)


@pytest.fixture
def pty_chat(tmp_path: Path) -> Iterator[PtyChat]:
    chat = PtyChat(tmp_path)
    try:
        yield chat
    finally:
        chat.close()


def test_ctrl_c_at_the_idle_prompt_exits_at_once(pty_chat: PtyChat) -> None:
    pty_chat.wait_for_prompt(1)
    pty_chat.type(b"hello\n")
    pty_chat.wait_for_prompt(2)  # the answer is complete, the chat is idle again
    assert "Echo (kimi-k2): hello" in pty_chat.out
    time.sleep(0.3)
    started = time.monotonic()
    pty_chat.type(b"\x03")  # the terminal turns it into SIGINT
    # A hang at exit ends after core.runtime.EXIT_ALLOWANCE with every thread's stack on stderr
    status = pty_chat.process.wait(30)
    elapsed = time.monotonic() - started
    assert status == 130, f"exit status {status} after {elapsed:.1f}s\nerr: {pty_chat.err}"
    assert elapsed < 3, f"did not wait for a line that will never come: {elapsed:.1f}s"
    time.sleep(0.2)
    assert "Traceback" not in pty_chat.err + pty_chat.out, pty_chat.err
    assert "KeyboardInterrupt" not in pty_chat.err


def test_a_line_cut_by_the_terminal_is_not_sent(pty_chat: PtyChat) -> None:
    pty_chat.wait_for_prompt(1)
    pty_chat.type(b"x" * 5000 + b"\n")  # Linux keeps 4095 characters of a line, drops the rest
    pty_chat.wait_until(lambda: "limit of 4095 characters" in pty_chat.err, "the warning")
    pty_chat.wait_for_prompt(2)
    warning = next(line for line in pty_chat.err.splitlines() if "4095" in line)
    assert "was not sent" in warning and 'kimi-bot ask "$(cat file.txt)"' in warning
    pty_chat.type(b"still here\n")  # the session goes on, and nothing of the cut line was sent
    pty_chat.wait_until(lambda: "Echo (kimi-k2): still here" in pty_chat.out, "the next answer")
    assert "xxx" not in pty_chat.out, "the cut text went to Kimi"
    assert pty_chat.out.count("Echo (") == 1
    pty_chat.wait_for_prompt(3)
    pty_chat.type(b"\x04")  # Ctrl-D quits
    assert pty_chat.process.wait(10) == 0
    assert "Traceback" not in pty_chat.err


def test_forget_all_without_documents_says_there_are_none(tmp_path: Path) -> None:
    script = "/forget all\nhello\n/forget all\n"
    result = kimi_bot("chat", "--emulator", env=clean_env(tmp_path), cwd=tmp_path, stdin=script)
    assert result.returncode == 0, result.stderr
    assert "Echo (kimi-k2): hello" in result.stdout
    # before the first message (no conversation yet) and after it (a conversation, no documents)
    assert result.stdout.count("There are no documents in this conversation to remove.") == 2
    assert "#all" not in result.stdout


def test_a_too_long_message_is_counted_in_characters(tmp_path: Path) -> None:
    """Piped (not a terminal), so nothing cuts the line: the bot itself refuses it."""
    question = "y" * (MAX_MESSAGE_CHARS + 1)
    result = kimi_bot(
        "chat", "--emulator", env=clean_env(tmp_path), cwd=tmp_path, stdin=question + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert f"too long ({MAX_MESSAGE_CHARS + 1:,} characters; the limit is " in result.stdout
    assert "tokens" not in result.stdout
    assert "Echo (" not in result.stdout
