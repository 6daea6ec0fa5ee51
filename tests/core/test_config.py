"""Settings: defaults, environment variables, one-line errors that never leak secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, Settings, load_settings, require_api_key

SECRET = "sk-secret-value-xyz"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the machine running the tests."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


def load(**overrides: object) -> Settings:
    return load_settings(_env_file=None, **overrides)


def config_error(**overrides: object) -> str:
    with pytest.raises(ConfigError) as info:
        load(**overrides)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# --- defaults ------------------------------------------------------------------------------------


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = load()
    assert settings.moonshot_api_key is None
    assert settings.moonshot_base_url == "https://api.moonshot.cn/v1"
    assert settings.kimi_model == "kimi-k2"
    assert settings.kimi_models_file is None
    # the user's data folder, not the current one (created when first used, not by loading)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data/kimi-bot/kimi_bot.db'}"
    assert not (tmp_path / "data").exists()
    assert settings.redis_url is None
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.kimi_timezone == "UTC"
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.admins == []
    assert settings.allowed_users == []
    assert settings.allowed_chats == []
    assert settings.telegram_enabled is False
    assert settings.slack_enabled is False
    assert 0.0 <= settings.kimi_temperature <= 1.0
    assert settings.kimi_max_output is None, "each model's own max_output unless capped"
    assert settings.kimi_max_continuations == 4
    assert "kimi-k2" in settings.catalog
    assert settings.catalog.currency == "CNY", "api.moonshot.cn bills in CNY"


# --- environment ---------------------------------------------------------------------------------


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", SECRET)
    monkeypatch.setenv("MOONSHOT_BASE_URL", "http://127.0.0.1:9999/v1/")
    monkeypatch.setenv("KIMI_MODEL", "moonshot-v1-32k")
    monkeypatch.setenv("KIMI_TIMEZONE", "Asia/Shanghai")
    monkeypatch.setenv("KIMI_TEMPERATURE", "0.7")
    monkeypatch.setenv("KIMI_MAX_OUTPUT", "1000")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:////tmp/x.db")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:telegram-token-value")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-slack-token-value")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:8082/api")
    settings = load()
    assert settings.moonshot_api_key is not None
    assert settings.moonshot_api_key.get_secret_value() == SECRET
    assert settings.moonshot_base_url == "http://127.0.0.1:9999/v1"
    assert settings.kimi_model == "moonshot-v1-32k"
    assert settings.kimi_timezone == "Asia/Shanghai"
    assert settings.kimi_temperature == 0.7
    assert settings.kimi_max_output == 1000
    assert settings.host == "0.0.0.0"
    assert settings.port == 9000
    assert settings.database_url == "sqlite+aiosqlite:////tmp/x.db"
    assert settings.telegram_enabled is True
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert settings.slack_enabled is True
    assert settings.slack_api_url == "http://127.0.0.1:8082/api/"
    assert require_api_key(settings) == SECRET


def test_lower_case_environment_names_are_read_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("port", "8123")
    assert load().port == 8123


def test_comma_separated_id_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMINS", "telegram:1, slack:U42,,")
    monkeypatch.setenv("ALLOWED_USERS", " telegram:7 ,cli:alice")
    monkeypatch.setenv("ALLOWED_CHATS", "telegram:-100123")
    settings = load()
    assert settings.admins == ["telegram:1", "slack:U42"]
    assert settings.allowed_users == ["telegram:7", "cli:alice"]
    assert settings.allowed_chats == ["telegram:-100123"]


def test_empty_id_list_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMINS", "")
    assert load().admins == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://bot@db.example:5432/kimi", "postgresql+asyncpg://bot@db.example:5432/kimi"),
        ("postgresql://bot@db.example/kimi", "postgresql+asyncpg://bot@db.example/kimi"),
        ("postgresql+asyncpg://bot@db.example/kimi", "postgresql+asyncpg://bot@db.example/kimi"),
        ("sqlite:///./data.db", "sqlite+aiosqlite:///./data.db"),
        ("sqlite+aiosqlite:///./data.db", "sqlite+aiosqlite:///./data.db"),
    ],
)
def test_database_url_gets_an_async_driver(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load().database_url == expected


def test_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    assert load(port=9100).port == 9100


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "-1", "70000", "80.5"])
def test_invalid_port(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PORT", value)
    message = config_error()
    assert "PORT" in message
    assert message.startswith("invalid setting PORT")


def test_unknown_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMI_MODEL", "gpt-4o")
    message = config_error()
    assert "KIMI_MODEL" in message
    assert "gpt-4o" in message
    assert "kimi-k2" in message  # says what is known


def test_model_added_by_the_models_file_is_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        '[models."kimi-k2-turbo-preview"]\ncontext_window = 262144\nmax_output = 8192\n'
        "input_price = 8\noutput_price = 58\nrpm = 100\ntpm = 1000000\nconcurrency = 10\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("KIMI_MODELS_FILE", str(path))
    monkeypatch.setenv("KIMI_MODEL", "kimi-k2-turbo-preview")
    settings = load()
    assert settings.kimi_model == "kimi-k2-turbo-preview"
    assert settings.catalog.get("kimi-k2-turbo-preview").context_window == 262144


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (None, ["KIMI_MODELS_FILE"]),  # the file does not exist
        ("[models\n", ["KIMI_MODELS_FILE"]),  # not TOML
        ('[models."kimi-k2"]\nrpm = -5\n', ["KIMI_MODELS_FILE", "models.kimi-k2.rpm"]),
    ],
    ids=["missing", "bad-toml", "bad-value"],
)
def test_a_bad_models_file_names_the_variable_and_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None, named: list[str]
) -> None:
    path = tmp_path / "models.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setenv("KIMI_MODELS_FILE", str(path))
    message = config_error()
    for name in named:
        assert name in message


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "not a zone", "../etc/passwd"])
def test_unknown_timezone(monkeypatch: pytest.MonkeyPatch, zone: str) -> None:
    monkeypatch.setenv("KIMI_TIMEZONE", zone)
    message = config_error()
    assert "KIMI_TIMEZONE" in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KIMI_TEMPERATURE", "1.5"),
        ("KIMI_MAX_OUTPUT", "0"),
        ("KIMI_MAX_RETRIES", "11"),
        ("MOONSHOT_BASE_URL", "api.moonshot.cn/v1"),
        ("TELEGRAM_API_URL", "ftp://telegram"),
        ("SLACK_API_URL", "slack.com/api"),
        ("DATABASE_URL", "mysql://root@localhost/kimi"),
    ],
)
def test_other_invalid_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert variable in config_error()


def test_slack_without_signing_secret_or_app_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-abc-def")
    assert "SLACK_SIGNING_SECRET" in config_error()
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-abc")
    assert load().slack_enabled is True


# --- secrets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "not-a-port"),
        ("KIMI_MODEL", "unknown-model"),
        ("KIMI_TIMEZONE", "Nowhere/Never"),
        ("DATABASE_URL", "oracle://x"),
    ],
)
def test_secret_never_in_config_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", SECRET)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:secret-telegram-token-value")
    monkeypatch.setenv(variable, value)
    message = config_error()
    assert SECRET not in message
    assert "secret-telegram-token-value" not in message


def test_secret_never_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", SECRET)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:secret-telegram-token-value")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "secret-webhook-value")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-slack-value")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret-signing-value")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-secret-app-value")
    settings = load()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        for secret in (
            SECRET,
            "secret-telegram-token-value",
            "secret-webhook-value",
            "xoxb-secret-slack-value",
            "secret-signing-value",
            "xapp-secret-app-value",
        ):
            assert secret not in text


def test_require_api_key_names_the_variable() -> None:
    settings = load()
    with pytest.raises(ConfigError) as info:
        require_api_key(settings)
    assert "MOONSHOT_API_KEY" in str(info.value)


def test_require_api_key_rejects_an_empty_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "")
    with pytest.raises(ConfigError, match="MOONSHOT_API_KEY"):
        require_api_key(load())


def test_require_api_key_returns_the_value() -> None:
    assert require_api_key(load(moonshot_api_key=SECRET)) == SECRET
