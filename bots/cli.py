"""The ``kimi-bot`` command: run, migrate, doctor, ask, chat, emulator, usage."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pydantic import SecretStr

from core.config import ConfigError, Settings, load_settings
from core.logs import configure_logging
from core.runtime import limit_malloc_arenas
from core.service import Services, start_services

EMULATOR_KEY = "sk-emulator"


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

    chat = sub.add_parser("chat", help="interactive chat in the terminal")
    chat.add_argument("--conversation", "-c", default="default", help="conversation name")
    chat.add_argument("--emulator", action="store_true", help="use a built-in Moonshot emulator")

    from core.usage_cli import add_usage_parser

    add_usage_parser(sub)

    emulator = sub.add_parser("emulator", help="run the Moonshot API emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8090)
    emulator.add_argument("--api-key", default=EMULATOR_KEY)
    emulator.add_argument("--models-file")
    emulator.add_argument("--no-limits", action="store_true")
    emulator.add_argument("--token-delay", type=float, default=0.02)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "emulator":
        return _run_emulator(args)
    if args.command == "doctor":
        from bots.doctor import run_doctor

        configure_logging("ERROR")  # the report is the output; library chatter is not
        return run_doctor()
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"kimi-bot: {exc}\n")
        return 2
    configure_logging(settings.log_level, _secrets(settings), settings.log_format)
    limit_malloc_arenas()
    try:
        return asyncio.run(_dispatch(args, settings))
    except ConfigError as exc:
        sys.stderr.write(f"kimi-bot: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        from storage import Database

        db = Database(settings.database_url)
        try:
            await db.migrate()
        finally:
            await db.close()
        print(f"database is up to date ({db.backend})")
        return 0
    if args.command == "usage":
        from core.usage_cli import run_usage_command

        return await run_usage_command(settings, args)
    async with _maybe_emulator(settings, getattr(args, "emulator", False)) as settings:
        if args.command == "run":
            from bots.runner import serve

            await serve(settings)
            return 0
        if args.command == "ask":
            from bots.terminal import ask

            return await _with_services(
                settings, lambda s: ask(s.engine, args.text, args.conversation, args.model)
            )
        if args.command == "chat":
            from bots.terminal import chat

            return await _with_services(settings, lambda s: chat(s.engine, args.conversation))
    raise AssertionError(f"unhandled command {args.command}")


async def _with_services(settings: Settings, body: Callable[[Services], Awaitable[int]]) -> int:
    services = await start_services(settings)
    try:
        return await body(services)
    finally:
        await services.close()


@contextlib.asynccontextmanager
async def _maybe_emulator(settings: Settings, enabled: bool) -> AsyncIterator[Settings]:
    """With ``--emulator``, start the Moonshot emulator in-process and point the settings at it."""
    if not enabled:
        yield settings
        return
    from emulators.moonshot import MoonshotEmulator

    emulator = MoonshotEmulator(api_key=EMULATOR_KEY, token_delay=0.02)
    await emulator.start(host="127.0.0.1", port=0)
    try:
        yield settings.model_copy(
            update={
                "moonshot_base_url": emulator.base_url,
                "moonshot_api_key": SecretStr(EMULATOR_KEY),
            }
        )
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
    return emulator_main(argv)


def _secrets(settings: Settings) -> list[str]:
    values: list[Any] = [
        settings.moonshot_api_key,
        settings.telegram_bot_token,
        settings.telegram_webhook_secret,
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
    ]
    secrets = [v.get_secret_value() for v in values if v is not None]
    if settings.telegram_bot_token is not None and settings.telegram_webhook_secret is None:
        from bots.telegram.webhook import derive_secret

        secrets.append(derive_secret(settings.telegram_bot_token.get_secret_value()))
    return secrets


if __name__ == "__main__":
    raise SystemExit(main())
