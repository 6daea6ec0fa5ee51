"""Run the emulator in the foreground: ``python -m emulators.moonshot`` / ``kimi-bot emulator``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from core import event_loop
from core.catalog import CatalogError, load_catalog
from emulators.moonshot.server import MoonshotEmulator

KEEP_REQUESTS = 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moonshot-emulator", description="A local Moonshot (Kimi) API emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--api-key", default="sk-emulator", help="the accepted Bearer key")
    parser.add_argument("--any-key", action="store_true", help="accept any non-empty key")
    parser.add_argument("--models-file", default=None, help="TOML catalog overrides")
    parser.add_argument(
        "--no-limits", action="store_true", help="do not enforce RPM/TPM/concurrency"
    )
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument(
        "--keep-requests",
        type=int,
        default=KEEP_REQUESTS,
        help="how many of the newest requests /_emulator/requests keeps (0: all; a long soak keeping "
        "every request grew this process to ~1 GB and slowed it)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted; 0 on a clean stop, 2 on a bad models file or busy port."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        catalog = load_catalog(args.models_file)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    emulator = MoonshotEmulator(
        api_key=args.api_key,
        catalog=catalog,
        enforce_limits=not args.no_limits,
        token_delay=args.token_delay,
        accept_any_key=args.any_key,
        access_log=True,
        keep_requests=args.keep_requests or None,
    )
    try:
        # uvloop where installed, as the bot itself: a benchmark's emulator costs less CPU.
        event_loop.run(
            _serve(emulator, args.host, args.port, "any" if args.any_key else args.api_key)
        )
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(emulator: MoonshotEmulator, host: str, port: int, key_shown: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await emulator.start(host, port)
    print(f"Moonshot emulator on {emulator.base_url} (key: {key_shown})", flush=True)
    try:
        await stop.wait()
    finally:
        await emulator.stop()
