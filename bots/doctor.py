"""``kimi-bot doctor``: check the configuration and every dependency, one line each, and say what
to fix. Exit status 1 when anything failed, so it can gate a deploy (``kimi-bot doctor && …``).

Each check talks to the real service the way the bot will: the database through our storage layer (and
its migration head), Redis with PING, Moonshot with ``GET /v1/models`` through the openai SDK,
Telegram with ``getMe``, Slack with ``auth.test`` and the speech-to-text endpoint
(``STT_BASE_URL``) with ``GET /models``. Nothing secret is printed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

from bots.errors import DatabaseUnavailable, reach_database, safe_url, sqlite_file
from bots.errors import why as _why
from core.config import ConfigError, Settings, default_database_url, load_settings

OK, FAIL, SKIP, INFO = "OK", "FAIL", "SKIP", "INFO"
CHECK_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<5} {self.name}: {self.detail}"


# -- the checks ------------------------------------------------------------------------------------


def check_configuration(settings: Settings) -> Result:
    """Settings loaded (validation passed); notes on the deployment shape they describe."""
    notes = []
    backend = "PostgreSQL" if settings.database_url.startswith("postgresql") else "SQLite"
    notes.append(f"database {backend}")
    notes.append("Redis for limits and locks" if settings.redis_url else "in-process limits")
    platforms = [
        name
        for name, enabled in (
            ("Telegram", settings.telegram_enabled),
            ("Slack", settings.slack_enabled),
        )
        if enabled
    ]
    notes.append("platforms: " + (", ".join(platforms) if platforms else "none (web chat only)"))
    if settings.redis_url and backend == "SQLite":
        notes.append("several workers need PostgreSQL: set DATABASE_URL=postgresql://…")
    if settings.redis_url and settings.telegram_enabled and not settings.telegram_webhook_url:
        notes.append("Telegram polls from one worker only: set TELEGRAM_WEBHOOK_URL to scale out")
    if settings.slack_enabled and settings.slack_app_token and settings.redis_url:
        notes.append(
            "Slack Socket Mode: use HTTP events (unset SLACK_APP_TOKEN) behind a load balancer"
        )
    return Result("configuration", OK, "; ".join(notes))


def data_location(settings: Settings) -> Result:
    """Where conversations, documents and usage are kept (the password hidden)."""
    url = settings.database_url
    path = sqlite_file(url)
    where = f"SQLite file {path} ({safe_url(url)})" if path else safe_url(url)
    if url == default_database_url():
        return Result("data", INFO, f"{where}, the default: set DATABASE_URL to keep it elsewhere")
    return Result("data", INFO, f"{where}, from DATABASE_URL")


def web_chat_state(settings: Settings) -> Result:
    """Whether ``kimi-bot run`` serves the web chat, where, and behind what."""
    from bots.web.sessions import is_loopback

    url = f"http://{settings.host}:{settings.port}/"
    if not settings.web_chat:
        return Result("web chat", INFO, "off (WEB_CHAT=false)")
    if settings.web_token is not None:
        return Result("web chat", INFO, f"{url}, behind a login (WEB_TOKEN)")
    if is_loopback(settings.host):
        return Result("web chat", INFO, f"{url}, open to this machine only (loopback HOST)")
    return Result(
        "web chat",
        INFO,
        f"off: HOST={settings.host} is not loopback and WEB_TOKEN is not set "
        "(set WEB_TOKEN to serve it behind a login, or WEB_CHAT=false)",
    )


async def check_database(settings: Settings) -> Result:
    from core.database import schema_state

    where = safe_url(settings.database_url)
    try:
        await reach_database(settings.database_url, timeout=CHECK_TIMEOUT - 3)
    except DatabaseUnavailable as exc:
        return Result("database", FAIL, exc.message)
    schema = await schema_state(settings.database_url)
    current, head = schema.current, schema.head
    if schema.up_to_date:
        return Result("database", OK, f"{where} reachable, schema at the head ({head})")
    if current is None:
        # Not a failure: run, ask and chat apply the migrations before anything else.
        return Result(
            "database",
            OK,
            f"{where} reachable, empty: the first `kimi-bot run` (or `kimi-bot migrate`) "
            "creates the tables",
        )
    if not schema.known:
        return Result(
            "database",
            FAIL,
            f"{where} is at revision {current}, newer than this release ({head}): "
            "deploy the newer release here too",
        )
    return Result(
        "database",
        FAIL,
        f"{where} is at revision {current}, code at {head}: run `kimi-bot migrate`",
    )


async def check_redis(settings: Settings) -> Result:
    if not settings.redis_url:
        return Result("redis", SKIP, "REDIS_URL not set (fine for one worker)")
    import redis.asyncio as redis

    client = redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=5)
    where = safe_url(settings.redis_url)
    try:
        await client.ping()
    except Exception as exc:
        return Result(
            "redis",
            FAIL,
            f"cannot reach {where} ({_why(exc)}): is Redis running, is REDIS_URL right?",
        )
    finally:
        await client.aclose()
    return Result("redis", OK, f"{where} answers PING")


async def check_moonshot(settings: Settings) -> Result:
    """The key, the models it is served (KIMI_MODEL must be one) and the balance, the way
    ``kimi-bot run`` asks (core.account)."""
    from core.account import (
        AccountFacts,
        AccountUnavailable,
        not_in_catalog,
        not_in_catalog_line,
        not_served_line,
    )
    from core.kimi import KimiClient

    if settings.moonshot_api_key is None or not settings.moonshot_api_key.get_secret_value():
        return Result(
            "moonshot",
            FAIL,
            "MOONSHOT_API_KEY is not set: get a key in the Moonshot console (or run "
            "`kimi-bot emulator` and point MOONSHOT_BASE_URL at it)",
        )
    kimi = KimiClient(
        api_key=settings.moonshot_api_key.get_secret_value(),
        base_url=settings.moonshot_base_url,
        timeout=10.0,
    )
    catalog = settings.catalog
    account = AccountFacts(kimi.sdk, currency=catalog.currency)
    base = settings.moonshot_base_url
    try:
        ids = await account.served_models()
        if settings.kimi_model not in ids:
            return Result("moonshot", FAIL, not_served_line(settings.kimi_model, ids))
        try:
            balance = f"balance {(await account.balance()).describe()}"
        except AccountUnavailable as exc:
            balance = f"balance unknown ({exc})"
    except AccountUnavailable as exc:
        return Result("moonshot", FAIL, _moonshot_problem(base, exc))
    finally:
        await kimi.close()
    served = f"serves {len(ids)} models, {settings.kimi_model} included"
    notes = [f"key accepted by {base}", served]
    unknown = not_in_catalog(ids, catalog)
    if unknown:
        notes.append(not_in_catalog_line(unknown))
    notes.append(balance)
    return Result("moonshot", OK, "; ".join(notes))


def _moonshot_problem(base: str, exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status == 401:
        return (
            f"{base} rejected MOONSHOT_API_KEY (401): copy the key again from the Moonshot "
            "console; keys from platform.moonshot.cn need api.moonshot.cn, keys from "
            "platform.moonshot.ai need api.moonshot.ai (MOONSHOT_BASE_URL)"
        )
    if status is None:
        return f"{exc}: check MOONSHOT_BASE_URL"
    return str(exc)


async def check_telegram(settings: Settings) -> Result:
    if settings.telegram_bot_token is None:
        return Result("telegram", SKIP, "TELEGRAM_BOT_TOKEN not set")
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError

    api = settings.telegram_api_url
    bot = Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=f"{api}/bot",
        base_file_url=f"{api}/file/bot",
    )
    try:
        me = await bot.get_me()
        mode = "webhook" if settings.telegram_webhook_url else "long polling"
        detail = f"token accepted: @{me.username} ({mode})"
        if settings.telegram_webhook_url:
            info = await bot.get_webhook_info()
            if info.last_error_message:
                detail += f"; Telegram's last webhook error: {info.last_error_message}"
    except InvalidToken:
        return Result(
            "telegram",
            FAIL,
            "Telegram rejected TELEGRAM_BOT_TOKEN: copy it again from @BotFather (/token)",
        )
    except NetworkError as exc:
        return Result(
            "telegram", FAIL, f"cannot reach {api} ({type(exc).__name__}): check TELEGRAM_API_URL"
        )
    except TelegramError as exc:
        return Result("telegram", FAIL, f"getMe failed: {type(exc).__name__}: {exc}")
    finally:
        try:
            await bot.shutdown()
        except Exception:
            pass
    return Result("telegram", OK, detail)


async def check_slack(settings: Settings) -> Result:
    if settings.slack_bot_token is None:
        return Result("slack", SKIP, "SLACK_BOT_TOKEN not set")
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    try:
        identity = await client.auth_test()
    except SlackApiError as exc:
        code = str(exc.response.get("error") or "error")
        hint = (
            "copy the Bot User OAuth Token (xoxb-…) again from the app's OAuth & Permissions page"
            if code in ("invalid_auth", "not_authed", "token_revoked", "account_inactive")
            else "see https://api.slack.com/methods/auth.test#errors"
        )
        return Result("slack", FAIL, f"Slack rejected SLACK_BOT_TOKEN ({code}): {hint}")
    except Exception as exc:
        return Result(
            "slack",
            FAIL,
            f"cannot reach {settings.slack_api_url} ({_why(exc)}): check SLACK_API_URL",
        )
    mode = "Socket Mode" if settings.slack_app_token else "HTTP events"
    return Result(
        "slack",
        OK,
        f"token accepted: {identity.get('user')} in {identity.get('team')} ({mode})",
    )


async def check_speech(settings: Settings) -> Result:
    """Voice messages: off without STT_BASE_URL; else the endpoint answers ``GET /models``
    (no audio sent, nothing billed) and accepts STT_API_KEY."""
    from core.speech import Transcriber, TranscriptionFailed
    from core.speech.transcriber import file_size

    transcriber = Transcriber.from_settings(settings)
    if transcriber is None:
        return Result(
            "speech",
            SKIP,
            "STT_BASE_URL not set: voice messages get a reply that they are not enabled",
        )
    transcriber.timeout = min(transcriber.timeout, CHECK_TIMEOUT - 3)
    try:
        ids = await transcriber.probe()
    except TranscriptionFailed as exc:
        return Result("speech", FAIL, f"{exc.reason}: check STT_BASE_URL and STT_API_KEY")
    finally:
        await transcriber.close()
    base, model = settings.stt_base_url, settings.stt_model
    if ids is None:
        listed = f"reachable (lists no models; {model} assumed)"
    elif model in ids:
        listed = f"reachable, serves {model}"
    else:
        listed = f"reachable, but {model} is not among its models (STT_MODEL?)"
    limits = f"voice up to {settings.stt_max_seconds:g}s and {file_size(settings.stt_max_bytes)}"
    return Result("speech", OK, f"{base} {listed}; {limits}")


# -- running them ----------------------------------------------------------------------------------

Check = Callable[[Settings], Awaitable[Result]]
CHECKS: list[tuple[str, Check]] = [
    ("database", check_database),
    ("redis", check_redis),
    ("moonshot", check_moonshot),
    ("telegram", check_telegram),
    ("slack", check_slack),
    ("speech", check_speech),
]


async def _guarded(name: str, check: Check, settings: Settings) -> Result:
    try:
        return await asyncio.wait_for(check(settings), CHECK_TIMEOUT)
    except TimeoutError:
        return Result(name, FAIL, f"no answer within {CHECK_TIMEOUT:.0f}s")
    except Exception as exc:  # a check must never crash the report
        return Result(name, FAIL, f"check failed unexpectedly: {_why(exc)}")


async def diagnose(settings: Settings) -> list[Result]:
    """Every check, in a fixed order (configuration and where the data lives first); they run
    concurrently."""
    config = check_configuration(settings)
    results = await asyncio.gather(*(_guarded(name, check, settings) for name, check in CHECKS))
    return [config, data_location(settings), web_chat_state(settings), *results]


def run_doctor(out: TextIO = sys.stdout) -> int:
    """Load the settings and print one line per check; 1 if anything failed, else 0."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(Result("configuration", FAIL, str(exc)).line(), file=out)
        return 1
    results = asyncio.run(diagnose(settings))
    for result in results:
        print(result.line(), file=out)
    failed = [r.name for r in results if r.status == FAIL]
    print(
        f"{len(failed)} problem(s): {', '.join(failed)}" if failed else "all checks passed",
        file=out,
    )
    return 1 if failed else 0
