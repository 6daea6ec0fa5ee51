"""The ``kimi-bot`` command: run, migrate, doctor, ask, chat, emulator, usage."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core import event_loop
from core.config import ConfigError, Settings, load_settings
from core.logs import configure_logging
from core.runtime import limit_malloc_arenas, mmap_large_blocks
from core.service import Services, start_services

EMULATOR_KEY = "sk-emulator"
SHOW_THINKING_HELP = "print a thinking model's reasoning to stderr (dimmed) before its answer"

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kimi-bot", description="Kimi in Telegram, Slack and the terminal."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve the configured platforms and the HTTP server")
    run.add_argument(
        "--emulator", action="store_true", help="use a built-in Moonshot emulator (offline)"
    )

    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser(
        "doctor", help="check configuration, database, Redis, Moonshot key and platform tokens"
    )

    ask = sub.add_parser("ask", help="ask one question and stream the answer")
    ask.add_argument("text", help="the question")
    ask.add_argument("--conversation", "-c", default="default", help="conversation name")
    ask.add_argument("--model", "-m", help="model id (remembered for the conversation)")
    ask.add_argument("--emulator", action="store_true", help="use a built-in Moonshot emulator")
    ask.add_argument(
        "--file",
        "-f",
        action="append",
        default=[],
        metavar="PATH",
        help="attach a document to the question (repeatable); it stays in the conversation",
    )
    ask.add_argument(
        "--image",
        "-i",
        action="append",
        default=[],
        metavar="PATH",
        help="show Kimi an image (PNG, JPEG, WebP, GIF) with the question (repeatable)",
    )
    ask.add_argument("--show-thinking", action="store_true", help=SHOW_THINKING_HELP)

    chat = sub.add_parser("chat", help="interactive chat in the terminal")
    chat.add_argument("--conversation", "-c", default="default", help="conversation name")
    chat.add_argument("--emulator", action="store_true", help="use a built-in Moonshot emulator")
    chat.add_argument("--show-thinking", action="store_true", help=SHOW_THINKING_HELP)

    from core.usage_cli import add_usage_parser

    add_usage_parser(sub)

    emulator = sub.add_parser("emulator", help="run the Moonshot API emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8090)
    emulator.add_argument("--api-key", default=EMULATOR_KEY)
    emulator.add_argument("--models-file")
    emulator.add_argument("--no-limits", action="store_true")
    emulator.add_argument("--token-delay", type=float, default=0.02)
    emulator.add_argument(
        "--keep-requests",
        type=int,
        help="how many of the newest requests /_emulator/requests keeps (default 1000; 0: all)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "emulator":
        return _run_emulator(args)
    if args.command == "doctor":
        from bots.doctor import run_doctor

        configure_logging("ERROR")  # the report is the output; library chatter is not
        return run_doctor()
    if args.command == "ask" and not args.text.strip() and not args.file and not args.image:
        sys.stderr.write(
            'kimi-bot ask: the question is empty: ask something, e.g. kimi-bot ask "hello"\n'
        )
        return 2
    if args.command == "ask" and (
        missing := [f for f in [*args.file, *args.image] if not os.path.isfile(f)]
    ):
        sys.stderr.write(f"kimi-bot ask: no such file: {missing[0]}\n")
        return 2
    try:
        settings = load_settings()
        configure_logging(settings.log_level, _secrets(settings), settings.log_format)
        limit_malloc_arenas()
        mmap_large_blocks()
        return event_loop.run(_run_command(args, settings), settings.event_loop)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # One mapping for every command: a problem the user can fix is one line, not a traceback.
        from bots.errors import explain

        explained = explain(exc)
        if explained is None:
            raise
        message, status = explained
        log.debug("%s", message, exc_info=exc)  # LOG_LEVEL=DEBUG shows the traceback too
        sys.stderr.write(f"kimi-bot: {message}\n")
        return status


async def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Open the database once before anything else, so a wrong or unreachable DATABASE_URL is
    the same one line for every command (and the default data folder exists)."""
    from bots.errors import reach_database

    await reach_database(settings.database_url)
    return await _dispatch(args, settings)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        from bots.errors import safe_url
        from core.database import migrate_database

        backend = await migrate_database(settings.database_url)
        print(f"database is up to date ({backend}: {safe_url(settings.database_url)})")
        return 0
    if args.command == "usage":
        from core.usage_cli import run_usage_command

        return await run_usage_command(settings, args)
    demo = args.command == "run" and not args.emulator and _demo_mode(settings)
    emulated = getattr(args, "emulator", False) or demo
    async with _maybe_emulator(settings, emulated, demo=demo) as settings:
        if args.command == "run":
            from bots.runner import serve

            await serve(settings, demo=demo)
            return 0
        if args.command == "ask":
            from bots.terminal import ask

            return await _with_services(
                settings,
                lambda s: ask(
                    s.assistant,
                    s.conversations,
                    args.text,
                    args.conversation,
                    args.model,
                    files=[Path(f) for f in args.file],
                    images=[Path(f) for f in args.image],
                    show_thinking=args.show_thinking,
                ),
            )
        if args.command == "chat":
            from bots.terminal import chat

            return await _with_services(
                settings,
                lambda s: chat(s.assistant, args.conversation, show_thinking=args.show_thinking),
            )
    raise AssertionError(f"unhandled command {args.command}")


async def _with_services(settings: Settings, body: Callable[[Services], Awaitable[int]]) -> int:
    services = await start_services(settings)
    try:
        return await body(services)
    finally:
        await services.close()


def _demo_mode(settings: Settings) -> bool:
    """``run`` with no key and no platform token shows the product on the emulator.

    With a platform token but no key it refuses instead: a real deployment that forgot its key
    must never answer its users from an emulator.
    """
    if settings.moonshot_api_key is not None and settings.moonshot_api_key.get_secret_value():
        return False
    if settings.platform_configured:
        platforms = [
            name
            for name, on in (
                ("TELEGRAM_BOT_TOKEN", settings.telegram_enabled),
                ("SLACK_BOT_TOKEN", settings.slack_enabled),
            )
            if on
        ]
        raise ConfigError(
            f"missing setting MOONSHOT_API_KEY: {' and '.join(platforms)} set, so this is a real "
            "deployment and will not answer from the demo emulator; set MOONSHOT_API_KEY "
            "(or run `kimi-bot run --emulator` on purpose)"
        )
    return True


@contextlib.asynccontextmanager
async def _maybe_emulator(
    settings: Settings, enabled: bool, *, demo: bool = False
) -> AsyncIterator[Settings]:
    """Start the Moonshot emulator in-process (``--emulator``, or demo mode) and point the
    settings at it. It serves the configured catalog, so KIMI_MODELS_FILE's models exist, and,
    unless STT_BASE_URL names a real speech-to-text service, transcribes voice messages too."""
    if not enabled:
        yield settings
        return
    from emulators.moonshot import MoonshotEmulator

    emulator = MoonshotEmulator(
        api_key=EMULATOR_KEY,
        catalog=settings.catalog,
        token_delay=0.02,
        demo=demo,
        keep_requests=100,  # a demo may run for days: don't keep every request
    )
    await emulator.start(host="127.0.0.1", port=0)
    try:
        update: dict[str, object] = {
            "moonshot_base_url": emulator.base_url,
            "moonshot_api_key": SecretStr(EMULATOR_KEY),
        }
        if not settings.stt_base_url:
            update |= {"stt_base_url": emulator.base_url, "stt_api_key": SecretStr(EMULATOR_KEY)}
        yield settings.model_copy(update=update)
    finally:
        await emulator.stop()


def _run_emulator(args: argparse.Namespace) -> int:
    from emulators.moonshot.cli import main as emulator_main

    argv = ["--host", args.host, "--port", str(args.port), "--api-key", args.api_key]
    argv += ["--token-delay", str(args.token_delay)]
    if args.models_file:
        argv += ["--models-file", args.models_file]
    if args.no_limits:
        argv.append("--no-limits")
    if args.keep_requests is not None:  # else the emulator's own default
        argv += ["--keep-requests", str(args.keep_requests)]
    return emulator_main(argv)


def _secrets(settings: Settings) -> list[str]:
    values: list[Any] = [
        settings.moonshot_api_key,
        settings.telegram_bot_token,
        settings.telegram_webhook_secret,
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.web_token,
    ]
    secrets = [v.get_secret_value() for v in values if v is not None]
    if settings.telegram_bot_token is not None and settings.telegram_webhook_secret is None:
        from bots.telegram.webhook import derive_secret

        secrets.append(derive_secret(settings.telegram_bot_token.get_secret_value()))
    return secrets


if __name__ == "__main__":
    raise SystemExit(main())
