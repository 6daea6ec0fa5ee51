"""One line for every start-up failure a user can fix: exception → message and exit status.

``kimi-bot`` (:mod:`bots.cli`) hands whatever a command raised to :func:`explain`, prints the
line it gives on stderr and exits with its status: 2 when the configuration is wrong (a setting,
a folder that does not exist), 1 when a dependency is down or busy (the database server, the
port). An exception :func:`explain` does not know keeps its traceback: that is a bug to report.
``kimi-bot doctor`` words the same problems the same way. Nothing secret is printed.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

CONFIGURATION = 2  # exit status: fix a setting
UNAVAILABLE = 1  # exit status: a dependency is down or busy
DATABASE_TIMEOUT = 30.0


def safe_url(url: str) -> str:
    """The URL with any password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def why(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 200 characters)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


class DatabaseUnavailable(Exception):
    """The database in ``DATABASE_URL`` cannot be opened; the message says what to do."""

    def __init__(self, message: str, status: int = UNAVAILABLE) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapper around the driver's error
        current = (
            orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
        )


def sqlite_file(url: str) -> Path | None:
    """The absolute path of a SQLite database file (None for PostgreSQL or in-memory SQLite)."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or "mode=memory" in url or database.startswith("file:"):
        return None
    return Path(os.path.abspath(os.path.expanduser(database)))


def database_problem(url: str, exc: BaseException) -> DatabaseUnavailable:
    """What went wrong opening the database at ``url``, and what to do about it (one line)."""
    path = sqlite_file(url)
    if path is not None:
        if not path.parent.is_dir():
            return DatabaseUnavailable(
                f"cannot open the SQLite database {path}: the folder {path.parent} does not "
                f"exist: create it (mkdir -p {path.parent}) or set DATABASE_URL to a file in an "
                "existing folder",
                CONFIGURATION,
            )
        return DatabaseUnavailable(
            f"cannot open the SQLite database {path} ({why(exc)}): check that the file and its "
            "folder are readable and writable, or set DATABASE_URL to another file",
            UNAVAILABLE,
        )
    where = safe_url(url)
    sqlstate = next((str(e.sqlstate) for e in _chain(exc) if getattr(e, "sqlstate", None)), "")
    if sqlstate.startswith("28") or sqlstate == "3D000":  # authorization; unknown database
        return DatabaseUnavailable(
            f"the database server refused the connection to {where} ({why(exc)}): "
            "are DATABASE_URL's user, password and database name right?",
            CONFIGURATION,
        )
    return DatabaseUnavailable(
        f"cannot connect to the database at {where} ({why(exc)}): is the server running, "
        "and are DATABASE_URL's host, user, password and database name right?",
        UNAVAILABLE,
    )


async def reach_database(url: str, timeout: float = DATABASE_TIMEOUT) -> None:  # noqa: ASYNC109
    """Open one connection and close it again; :class:`DatabaseUnavailable` when that fails.

    The default database's folder is created here, on first use.
    """
    from core.config import prepare_default_database
    from core.database import ping_database

    prepare_default_database(url)
    path = sqlite_file(url)
    if path is not None and not path.parent.is_dir():
        raise database_problem(url, FileNotFoundError(path.parent))
    try:
        await ping_database(url, timeout)
    except TimeoutError:
        raise database_problem(url, TimeoutError(f"no answer within {timeout:.0f}s")) from None
    except Exception as exc:
        if path is not None:
            await _let_sqlite_threads_end()
        raise database_problem(url, exc) from exc


async def _let_sqlite_threads_end(limit: float = 1.0) -> None:
    """aiosqlite stops the thread of a connection that failed to open without waiting for it; the
    thread then reports back to the event loop, and prints a traceback if the loop has closed."""
    for _ in range(int(limit / 0.01)):
        if not any(
            thread.is_alive() and thread.name.endswith("(_connection_worker_thread)")
            for thread in threading.enumerate()
        ):
            return
        await asyncio.sleep(0.01)


def explain(exc: BaseException) -> tuple[str, int] | None:
    """The one line to print and the exit status, or None for an exception we do not know."""
    from core.config import ConfigError

    if isinstance(exc, ConfigError):
        return str(exc), CONFIGURATION
    if isinstance(exc, DatabaseUnavailable):
        return exc.message, exc.status
    if isinstance(exc, OSError):
        from bots.http import CannotListen, PortInUse

        if isinstance(exc, PortInUse):
            return (
                f"port {exc.port} is in use on {exc.host}: another program (another kimi-bot "
                "run?) is listening there; stop it, or set PORT to a free port",
                UNAVAILABLE,
            )
        if isinstance(exc, CannotListen):
            reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror
            return (
                f"cannot listen on {exc.host}:{exc.port} ({reason}): set HOST to an address of "
                "this machine (127.0.0.1, or 0.0.0.0 for all) and PORT to one you may use "
                "(1024 or above)",
                CONFIGURATION,
            )
    try:
        from sqlalchemy.exc import InterfaceError, OperationalError
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return None
    if isinstance(exc, OperationalError | InterfaceError):
        return (
            f"the database failed ({why(exc)}): run `kimi-bot doctor` to check DATABASE_URL",
            UNAVAILABLE,
        )
    return None
