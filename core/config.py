"""Settings from the environment (and an optional ``.env``), validated once at start-up.

A missing or invalid setting stops start-up with one line that names it; secret values are
``SecretStr`` so they never appear in reprs, logs or error messages.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.catalog import Catalog, CatalogError, load_catalog


class ConfigError(Exception):
    """Start-up configuration problem, with a message safe to print."""


APP_NAME = "kimi-bot"
DATABASE_FILE = "kimi_bot.db"


def default_database_path() -> Path:
    """Where the data lives when ``DATABASE_URL`` is unset: the user's data directory
    (``~/.local/share/kimi-bot`` on Linux, honouring ``XDG_DATA_HOME``), not the current folder."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False)) / DATABASE_FILE


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{default_database_path()}"


def prepare_default_database(database_url: str) -> None:
    """Create the default database's folder on first use. A folder named in ``DATABASE_URL``
    is never created: a typo there must be reported, not silently become a new database."""
    if database_url == default_database_url():
        default_database_path().parent.mkdir(parents=True, exist_ok=True)


class Settings(BaseSettings):
    """Everything an operator can set. Names match the README's configuration table."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=False)

    moonshot_api_key: SecretStr | None = None
    moonshot_base_url: str = "https://api.moonshot.cn/v1"
    kimi_model: str = "kimi-k2"
    kimi_models_file: str | None = None
    # An operator's cap on max_tokens; unset = each model's catalog max_output (clamped to what
    # the window leaves after the prompt). Answers that reach it are continued (Partial Mode).
    kimi_max_output: int | None = Field(default=None, gt=0)
    # Partial Mode continuations of an answer cut at max_tokens, before it is reported as cut.
    kimi_max_continuations: int = Field(default=4, ge=0, le=50)
    kimi_temperature: float = Field(default=0.3, ge=0.0, le=1.0)
    kimi_system_prompt: str = (
        "You are Kimi, a helpful assistant made by Moonshot AI. Answer in the language of the user."
    )
    kimi_request_timeout: float = Field(default=300.0, gt=0)
    kimi_max_retries: int = Field(default=4, ge=0, le=10)
    # The openai SDK's HTTP transport: aiohttp (the SDK's DefaultAioHttpClient; half the CPU
    # per streamed chunk, bench/NOTES.md) or httpx (the SDK's default).
    kimi_http_client: Literal["aiohttp", "httpx"] = "aiohttp"
    kimi_timezone: str = "UTC"
    kimi_web_search: bool = True
    kimi_tools: bool = True
    kimi_tool_max_rounds: int = Field(default=5, ge=1, le=20)
    answer_checkpoint_every: float = Field(default=5.0, gt=0)
    # An edit to a message the bot already answered (Telegram edited_message, Slack
    # message_changed) gets a fresh answer; off: edits are ignored.
    answer_edits: bool = False
    # The compacting memory (core.memory): history since the last summary that starts a
    # compaction (0: off; the history then fills the model's window), what a compaction keeps
    # verbatim, the longest summary, the model that writes it (unset: the cheapest suitable
    # catalog model), and how many summaries this process writes at once (the rest queue).
    history_max_tokens: int = Field(default=8_000, ge=0)
    history_keep_tokens: int = Field(default=3_000, ge=0)
    history_summary_tokens: int = Field(default=1_200, ge=100)
    summary_model: str | None = None
    compaction_concurrency: int = Field(default=8, ge=1, le=1000)

    # Unset: a SQLite file in the user's data directory, whatever the current folder.
    database_url: str = Field(default_factory=default_database_url)
    db_pool_size: int = Field(default=5, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=500)
    # PostgreSQL without Redis: connections a worker may open to wait for a conversation that
    # another worker is answering (uncontended locks all share one connection).
    db_lock_wait_connections: int = Field(default=10, ge=1, le=500)
    redis_url: str | None = None
    lock_lease: float = Field(default=30.0, gt=0)
    worker_dead_after: float = Field(default=45.0, gt=0)
    log_format: str = "text"
    limit_max_wait: float = Field(default=60.0, ge=0)
    # Spending caps in the catalog's currency; the *_CNY names of earlier releases still work.
    budget_user_daily: float | None = Field(
        default=None,
        gt=0,
        validation_alias=AliasChoices("budget_user_daily", "budget_user_daily_cny"),
    )
    budget_user_monthly: float | None = Field(
        default=None,
        gt=0,
        validation_alias=AliasChoices("budget_user_monthly", "budget_user_monthly_cny"),
    )
    budget_global_monthly: float | None = Field(
        default=None,
        gt=0,
        validation_alias=AliasChoices("budget_global_monthly", "budget_global_monthly_cny"),
    )
    # The Moonshot balance (catalog currency) under which ADMINS get a direct message, once a day.
    balance_alert_below: float | None = None
    balance_check_every: float = Field(default=900.0, ge=0)  # seconds; 0: never checked
    host: str = "127.0.0.1"
    web_chat: bool = True
    web_token: SecretStr | None = None
    # The operator console (/admin) may list and read conversations (every view is audited).
    admin_can_read: bool = False
    # The operator console's login token (the form at /admin/login); ADMINS may instead get a
    # one-time link with /admin in a private chat. Neither set: the console is off.
    admin_token: SecretStr | None = None
    admin_session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    # The address users reach this server at (links the bot sends, e.g. /admin's one-time link);
    # unset: http://HOST:PORT.
    public_url: str | None = None
    port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"
    shutdown_grace: float = Field(default=20.0, ge=0)
    memory_trim_every: float = Field(default=60.0, ge=0)  # 0: never (see core.runtime)
    # container allocations between young garbage collections (core.runtime); 0: Python's 700
    gc_young_threshold: int = Field(default=10_000, ge=0)
    # uvloop where installed (core.event_loop); "asyncio" for the standard library's loop
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    # Bookkeeping rows that would grow forever (see core.retention); 0: never trimmed.
    retention_every: float = Field(default=3600.0, ge=0)
    # At least a day: Telegram keeps an undelivered update for 24 hours.
    event_retention_days: float = Field(default=7.0, ge=1)
    document_retention_days: float = Field(default=30.0, gt=0)
    # Images (core.images): the largest accepted, and the tokens the images of a turn's context
    # may take (the current message's images always go; older ones drop first).
    image_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    image_context_tokens: int = Field(default=16_000, ge=0)

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_group_context: bool = False
    telegram_edit_interval_private: float = Field(default=1.0, gt=0)
    telegram_edit_interval_group: float = Field(default=3.0, gt=0)
    # Seconds to wait for the rest of an album (updates sharing a media_group_id) after its last
    # item arrived; the album is then one turn.
    telegram_album_wait: float = Field(default=1.0, gt=0, le=30)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_update_interval: float = Field(default=1.0, gt=0)
    # Tokens of a thread (or, in the assistant panel, a channel) read as context the first time
    # the bot is addressed there; the newest messages are kept.
    slack_thread_context_tokens: int = Field(default=8000, ge=0)
    # The assistant panel's suggested prompts, separated by "|"; empty = core/phrases' defaults.
    slack_suggested_prompts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Voice messages: an OpenAI-compatible /audio/transcriptions endpoint (core.speech); unset =
    # voice messages get a clear "not enabled" reply.
    stt_base_url: str | None = None
    stt_api_key: SecretStr | None = None
    stt_model: str = "whisper-1"
    stt_max_seconds: float = Field(default=600.0, gt=0)
    stt_max_bytes: int = Field(default=25_000_000, gt=0)  # OpenAI's documented cap: 25 MB
    stt_timeout: float = Field(default=60.0, gt=0)

    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_users: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_chats: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("admins", "allowed_users", "allowed_chats", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        """Comma-separated platform-qualified ids, e.g. ``telegram:123,slack:U42``."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("slack_suggested_prompts", mode="before")
    @classmethod
    def _split_prompts(cls, value: object) -> object:
        """``|``-separated, since a prompt may well contain a comma."""
        if isinstance(value, str):
            return [part.strip() for part in value.split("|") if part.strip()]
        return value

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("text", "json"):
            raise ValueError("use text or json")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use redis://host:6379/0 (or rediss:// for TLS)")
        return value

    @field_validator("kimi_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use e.g. UTC or Asia/Shanghai)"
            ) from None
        return value

    @field_validator("moonshot_base_url", "telegram_api_url")
    @classmethod
    def _url_without_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value or not value.strip():  # PUBLIC_URL= (empty) means unset
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("stt_base_url")
    @classmethod
    def _stt_url(cls, value: str | None) -> str | None:
        if not value or not value.strip():  # STT_BASE_URL= (empty) means off, as if unset
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url_with_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.strip():  # DATABASE_URL= (empty) means the default, as if unset
            return default_database_url()
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value[len("sqlite:///") :]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db")
        return value

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog(self.kimi_models_file, base_url=self.moonshot_base_url)

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def platform_configured(self) -> bool:
        """A chat platform token is set: this is a real deployment, never a demo."""
        return self.telegram_enabled or self.slack_enabled


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; raise ConfigError with one clear line on any problem."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first.get("loc") else "setting"
        raise ConfigError(f"invalid setting {name}: {first['msg']}") from None
    try:
        catalog = settings.catalog
    except CatalogError as exc:
        raise ConfigError(str(exc)) from None
    if settings.kimi_model not in catalog:
        raise ConfigError(
            f"invalid setting KIMI_MODEL: {settings.kimi_model!r} is not in the catalog "
            f"({', '.join(catalog.ids())}); add it with KIMI_MODELS_FILE"
        )
    if (
        settings.slack_enabled
        and not settings.slack_app_token
        and not settings.slack_signing_secret
    ):
        raise ConfigError(
            "invalid setting SLACK_SIGNING_SECRET: required for HTTP events "
            "(or set SLACK_APP_TOKEN for Socket Mode)"
        )
    return settings


def require_api_key(settings: Settings) -> str:
    """The Moonshot key, or a ConfigError naming the variable (the value is never printed)."""
    if settings.moonshot_api_key is None or not settings.moonshot_api_key.get_secret_value():
        raise ConfigError(
            "missing setting MOONSHOT_API_KEY: get a key at the Moonshot platform console, "
            "or run `kimi-bot emulator` and point MOONSHOT_BASE_URL at it"
        )
    return settings.moonshot_api_key.get_secret_value()
