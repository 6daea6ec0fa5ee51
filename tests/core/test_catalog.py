"""The model catalog: the product brief's four models, the 2026 built-ins, the currency (CNY on
api.moonshot.cn, USD prices on api.moonshot.ai), tool fees, the TPD day, TOML overrides and
their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.catalog import (
    Catalog,
    CatalogError,
    Limits,
    builtin_catalog,
    currency_for,
    load_catalog,
)
from core.config import Settings

BRIEF = ["kimi-k2", "moonshot-v1-128k", "moonshot-v1-32k", "moonshot-v1-8k"]
NEW_BUILTINS = [
    "kimi-k2-0905-preview",
    "kimi-k2-turbo-preview",
    "kimi-k2-thinking",
    "kimi-k2-thinking-turbo",
    "kimi-k2.5",
    "kimi-k2.6",
    "kimi-latest",
    "moonshot-v1-8k-vision-preview",
    "moonshot-v1-32k-vision-preview",
    "moonshot-v1-128k-vision-preview",
]
NEW_MODEL = """
[models.tiny]
context_window = 4096
max_output = 1024
input_price = 1.0
output_price = 2.0
rpm = 1
tpm = 1000
concurrency = 1
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- built-in values (the product brief's table) -------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "window", "max_output", "price_in", "price_out", "rpm", "tpm", "concurrency"),
    [
        ("kimi-k2", 131072, 8192, 12.0, 36.0, 10, 300_000, 3),
        ("moonshot-v1-128k", 131072, 8192, 14.0, 42.0, 10, 300_000, 3),
        ("moonshot-v1-32k", 32768, 8192, 6.0, 18.0, 30, 300_000, 5),
        ("moonshot-v1-8k", 8192, 8192, 4.0, 12.0, 30, 300_000, 5),
    ],
)
def test_builtin_models_match_the_brief(
    model_id: str,
    window: int,
    max_output: int,
    price_in: float,
    price_out: float,
    rpm: int,
    tpm: int,
    concurrency: int,
) -> None:
    spec = builtin_catalog().get(model_id)
    assert spec.id == model_id
    assert spec.context_window == window
    assert spec.max_output == max_output
    assert spec.input_price == price_in
    assert spec.output_price == price_out
    assert spec.limits == Limits(rpm=rpm, tpm=tpm, concurrency=concurrency)
    assert spec.cached_input_price is None
    assert spec.send_temperature is True
    assert spec.fixed_temperature is None


def test_builtin_catalog_has_the_brief_first_then_the_2026_models_and_no_user_limits() -> None:
    catalog = builtin_catalog()
    assert catalog.ids() == BRIEF + NEW_BUILTINS
    assert catalog.ids()[0] == "kimi-k2"
    assert dict(catalog.user_limits) == {}
    assert "kimi-k2" in catalog
    assert "gpt-4" not in catalog
    assert [m.id for m in catalog] == catalog.ids()


def test_get_unknown_model_raises_key_error_listing_known_ids() -> None:
    with pytest.raises(KeyError) as info:
        builtin_catalog().get("gpt-4")
    message = str(info.value)
    assert "gpt-4" in message
    assert "kimi-k2" in message


def test_load_catalog_without_a_path_is_the_builtin_catalog() -> None:
    assert load_catalog(None) == builtin_catalog()
    assert load_catalog("") == builtin_catalog()


# --- cost ----------------------------------------------------------------------------------------


def test_cost_of_a_million_tokens_each_way_is_the_table_price() -> None:
    catalog = builtin_catalog()
    assert catalog.get("kimi-k2").cost(1_000_000, 1_000_000) == pytest.approx(48.0)
    assert catalog.get("moonshot-v1-128k").cost(1_000_000, 0) == pytest.approx(14.0)
    assert catalog.get("moonshot-v1-128k").cost(0, 1_000_000) == pytest.approx(42.0)
    assert catalog.get("moonshot-v1-8k").cost(2_000, 500) == pytest.approx(
        (2_000 * 4 + 500 * 12) / 1_000_000
    )


def test_cached_tokens_without_a_cache_price_cost_the_input_price() -> None:
    spec = builtin_catalog().get("kimi-k2")
    assert spec.cost(1000, 100, cached_tokens=600) == pytest.approx(spec.cost(1000, 100))


def test_cached_tokens_use_the_cache_hit_price(tmp_path: Path) -> None:
    path = write(tmp_path, '[models."kimi-k2"]\ncached_input_price = 1.2\n')
    spec = load_catalog(path).get("kimi-k2")
    assert spec.cached_input_price == 1.2
    expected = (600 * 12.0 + 400 * 1.2 + 100 * 36.0) / 1_000_000
    assert spec.cost(1000, 100, cached_tokens=400) == pytest.approx(expected)
    # More cached than prompt tokens is clamped; negative cached counts as none.
    all_cached = (1000 * 1.2 + 100 * 36.0) / 1_000_000
    assert spec.cost(1000, 100, cached_tokens=5000) == pytest.approx(all_cached)
    assert spec.cost(1000, 100, cached_tokens=-5) == pytest.approx(spec.cost(1000, 100))


def test_zero_tokens_cost_nothing() -> None:
    assert builtin_catalog().get("kimi-k2").cost(0, 0) == 0.0


# --- overrides -----------------------------------------------------------------------------------


def test_overriding_one_key_keeps_the_other_values(tmp_path: Path) -> None:
    path = write(tmp_path, '[models."kimi-k2"]\nrpm = 200\n')
    catalog = load_catalog(path)
    spec = catalog.get("kimi-k2")
    builtin = builtin_catalog().get("kimi-k2")
    assert spec.rpm == 200
    assert spec.tpm == builtin.tpm
    assert spec.concurrency == builtin.concurrency
    assert spec.context_window == builtin.context_window
    assert spec.max_output == builtin.max_output
    assert spec.input_price == builtin.input_price
    assert spec.output_price == builtin.output_price
    assert spec.description == builtin.description
    # The other models are untouched.
    for other in catalog.ids()[1:]:
        assert catalog.get(other) == builtin_catalog().get(other)


def test_integer_prices_are_accepted_as_floats(tmp_path: Path) -> None:
    path = write(tmp_path, '[models."moonshot-v1-8k"]\ninput_price = 2\noutput_price = 10\n')
    spec = load_catalog(path).get("moonshot-v1-8k")
    assert spec.input_price == 2.0
    assert isinstance(spec.input_price, float)
    assert spec.output_price == 10.0


def test_adding_a_new_model(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[models."my-thinker"]
context_window = 262144
max_output = 32768
input_price = 4
output_price = 16
cached_input_price = 1
rpm = 200
tpm = 2000000
concurrency = 50
send_temperature = false
description = "thinking model"
""",
    )
    catalog = load_catalog(path)
    spec = catalog.get("my-thinker")
    assert spec.id == "my-thinker"
    assert spec.context_window == 262144
    assert spec.max_output == 32768
    assert spec.input_price == 4.0
    assert spec.output_price == 16.0
    assert spec.cached_input_price == 1.0
    assert spec.limits == Limits(rpm=200, tpm=2_000_000, concurrency=50)
    assert spec.send_temperature is False
    assert spec.description == "thinking model"
    assert catalog.ids() == [*builtin_catalog().ids(), "my-thinker"]
    assert "kimi-k2" in catalog


def test_new_model_with_only_required_keys_gets_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[models.tiny]
context_window = 4096
max_output = 1024
input_price = 1.0
output_price = 2.0
rpm = 1
tpm = 1000
concurrency = 1
""",
    )
    spec = load_catalog(path).get("tiny")
    assert spec.cached_input_price is None
    assert spec.send_temperature is True
    assert spec.fixed_temperature is None
    assert spec.description == ""
    assert (spec.thinking, spec.vision, spec.tpd) == (False, False, None)


def test_fixed_temperature_can_be_set(tmp_path: Path) -> None:
    path = write(tmp_path, '[models."kimi-k2"]\nfixed_temperature = 0.6\nsend_temperature = true\n')
    spec = load_catalog(path).get("kimi-k2")
    assert spec.fixed_temperature == 0.6


# --- user limits ---------------------------------------------------------------------------------


def test_user_limits_default_to_the_model_values() -> None:
    catalog = builtin_catalog()
    assert catalog.user_limits_for("kimi-k2") == Limits(10, 300_000, 3)
    assert catalog.user_limits_for("moonshot-v1-32k") == Limits(30, 300_000, 5)


def test_user_limits_override_per_key_and_default_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, "[user_limits]\nrpm = 2\n")
    catalog = load_catalog(path)
    assert dict(catalog.user_limits) == {"rpm": 2}
    assert catalog.user_limits_for("kimi-k2") == Limits(rpm=2, tpm=300_000, concurrency=3)
    assert catalog.user_limits_for("moonshot-v1-8k") == Limits(rpm=2, tpm=300_000, concurrency=5)


def test_all_user_limit_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "[user_limits]\nrpm = 3\ntpm = 50000\nconcurrency = 1\n")
    catalog = load_catalog(path)
    assert catalog.user_limits_for("moonshot-v1-32k") == Limits(3, 50_000, 1)


def test_user_limits_of_unknown_model_raise_key_error() -> None:
    with pytest.raises(KeyError):
        builtin_catalog().user_limits_for("nope")


# --- invalid files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('[models."kimi-k2"]\nprice = 3\n', "models.kimi-k2.price"),
        ('[models."kimi-k2"]\nrpm = -1\n', "models.kimi-k2.rpm"),
        ('[models."kimi-k2"]\nrpm = 0\n', "models.kimi-k2.rpm"),
        ('[models."kimi-k2"]\ntpm = true\n', "models.kimi-k2.tpm"),
        ('[models."kimi-k2"]\nconcurrency = 1.5\n', "models.kimi-k2.concurrency"),
        ('[models."kimi-k2"]\ncontext_window = "128k"\n', "models.kimi-k2.context_window"),
        ('[models."kimi-k2"]\ninput_price = -0.5\n', "models.kimi-k2.input_price"),
        ('[models."kimi-k2"]\noutput_price = false\n', "models.kimi-k2.output_price"),
        ('[models."kimi-k2"]\nsend_temperature = "no"\n', "models.kimi-k2.send_temperature"),
        ('[models."kimi-k2"]\ndescription = 5\n', "models.kimi-k2.description"),
        ('[models."kimi-k2"]\nmax_output = 200000\n', "models.kimi-k2.max_output"),
        # Shrinking the window below the existing max_output is caught too.
        ('[models."moonshot-v1-8k"]\ncontext_window = 4096\n', "models.moonshot-v1-8k.max_output"),
        ("[user_limits]\nrequests = 3\n", "user_limits.requests"),
        ("[user_limits]\nrpm = -3\n", "user_limits.rpm"),
        ("[user_limits]\nrpm = true\n", "user_limits.rpm"),
        ("[limits]\nrpm = 3\n", "limits"),
        ("models = 3\n", "models"),
        ("user_limits = 3\n", "user_limits"),
        ('[models]\n"kimi-k2" = 5\n', "models.kimi-k2"),
        ('[models."kimi-k2"]\nthinking = "yes"\n', "models.kimi-k2.thinking"),
        ('[models."kimi-k2"]\nvision = 1\n', "models.kimi-k2.vision"),
        ('[models."kimi-k2"]\ntpd = 0\n', "models.kimi-k2.tpd"),
        ('[models."kimi-k2"]\ntpd = -5\n', "models.kimi-k2.tpd"),
        ('[models."kimi-k2"]\ntpd = 1.5\n', "models.kimi-k2.tpd"),
        ("[tools]\nweb_search_fee = -0.01\n", "tools.web_search_fee"),
        ('[tools]\nweb_search_fee = "cheap"\n', "tools.web_search_fee"),
        ("[tools]\nimage_fee = 1\n", "tools.image_fee"),
        ("tools = 3\n", "tools"),
        ('currency = "EUR"\n', "currency"),
        ("currency = 1\n", "currency"),
        ('day_timezone = "Mars/Olympus"\n', "day_timezone"),
    ],
)
def test_invalid_values_raise_catalog_error_naming_the_key(
    tmp_path: Path, text: str, names: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert names in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "missing",
    [
        "context_window",
        "max_output",
        "input_price",
        "output_price",
        "rpm",
        "tpm",
        "concurrency",
    ],
)
def test_new_model_missing_a_required_key(tmp_path: Path, missing: str) -> None:
    values = {
        "context_window": "4096",
        "max_output": "1024",
        "input_price": "1.0",
        "output_price": "2.0",
        "rpm": "1",
        "tpm": "1000",
        "concurrency": "1",
    }
    del values[missing]
    body = "\n".join(f"{k} = {v}" for k, v in values.items())
    path = write(tmp_path, f"[models.tiny]\n{body}\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert f"models.tiny.{missing}" in message
    assert "required" in message


def test_new_model_with_max_output_over_window(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[models.tiny]
context_window = 1024
max_output = 4096
input_price = 1.0
output_price = 2.0
rpm = 1
tpm = 1000
concurrency = 1
""",
    )
    with pytest.raises(CatalogError, match=r"models\.tiny\.max_output"):
        load_catalog(path)


def test_bad_toml_raises_catalog_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[models."kimi-k2"\nrpm = = 3\n')
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert "KIMI_MODELS_FILE" in str(info.value)
    assert "TOML" in str(info.value)


def test_missing_file_raises_catalog_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(CatalogError) as info:
        load_catalog(missing)
    assert "KIMI_MODELS_FILE" in str(info.value)
    assert str(missing) in str(info.value)


def test_catalog_error_is_a_value_error() -> None:
    assert issubclass(CatalogError, ValueError)


def test_failed_load_does_not_change_the_builtin_catalog(tmp_path: Path) -> None:
    path = write(tmp_path, '[models."kimi-k2"]\nrpm = 99\n[models."moonshot-v1-8k"]\nrpm = -1\n')
    with pytest.raises(CatalogError):
        load_catalog(path)
    assert builtin_catalog().get("kimi-k2").rpm == 10


# --- ordering ------------------------------------------------------------------------------------


def _assert_by_window(catalog: Catalog) -> list[str]:
    ordered = catalog.by_window()
    keys = [(m.context_window, m.input_price) for m in ordered]
    assert keys == sorted(keys)
    assert sorted(m.id for m in ordered) == sorted(catalog.ids())
    return [m.id for m in ordered]


def test_by_window_orders_smallest_window_first_then_cheapest() -> None:
    ordered = _assert_by_window(builtin_catalog())
    assert [i for i in ordered if i in BRIEF] == [
        "moonshot-v1-8k",
        "moonshot-v1-32k",
        "kimi-k2",
        "moonshot-v1-128k",
    ]
    # Same window: the cheaper model first (the vision preview of v1-8k costs less).
    assert ordered.index("moonshot-v1-8k-vision-preview") < ordered.index("moonshot-v1-8k")
    assert ordered[-1] in ("kimi-k2-turbo-preview", "kimi-k2-thinking-turbo")


def test_by_window_includes_added_models(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[models.huge]
context_window = 262144
max_output = 8192
input_price = 1.0
output_price = 2.0
rpm = 1
tpm = 1000
concurrency = 1

[models.small]
context_window = 16384
max_output = 4096
input_price = 0.5
output_price = 1.0
rpm = 1
tpm = 1000
concurrency = 1
""",
    )
    catalog: Catalog = load_catalog(path)
    ordered = _assert_by_window(catalog)
    assert [i for i in ordered if i in {*BRIEF, "small", "huge"}] == [
        "moonshot-v1-8k",
        "small",
        "moonshot-v1-32k",
        "kimi-k2",
        "moonshot-v1-128k",
        "huge",
    ]
    # 256K like the K2 generation, but the cheapest of them: first of that window.
    assert ordered.index("huge") < ordered.index("kimi-k2-0905-preview")


# --- the 2026 built-ins: capabilities --------------------------------------------------------------


def test_new_builtins_know_thinking_vision_and_their_temperature() -> None:
    catalog = builtin_catalog()
    for model_id in BRIEF:
        spec = catalog.get(model_id)
        assert (spec.thinking, spec.vision, spec.tpd) == (False, False, None), model_id
    thinker = catalog.get("kimi-k2-thinking")
    assert thinker.thinking and not thinker.vision
    assert thinker.fixed_temperature == 1.0
    assert thinker.context_window == 262144
    for model_id in ("kimi-k2.5", "kimi-k2.6"):
        spec = catalog.get(model_id)
        assert spec.thinking and spec.vision, model_id
        assert spec.send_temperature is False, "K2.5/K2.6 refuse another temperature"
    for model_id in NEW_BUILTINS:
        spec = catalog.get(model_id)
        assert spec.max_output <= spec.context_window
        assert spec.input_price > 0 and spec.output_price > 0
    assert all(catalog.get(i).vision for i in NEW_BUILTINS if i.endswith("vision-preview"))
    assert catalog.get("kimi-k2-0905-preview").cached_input_price == 1.0


def test_thinking_vision_and_tpd_can_be_set(tmp_path: Path) -> None:
    path = write(tmp_path, '[models."kimi-k2"]\nthinking = true\nvision = true\ntpd = 1500000\n')
    spec = load_catalog(path).get("kimi-k2")
    assert (spec.thinking, spec.vision, spec.tpd) == (True, True, 1_500_000)
    assert spec.input_price == 12.0, "the other keys stay"


def test_only_narrows_to_the_served_ids_in_catalog_order() -> None:
    catalog = builtin_catalog("USD")
    served = catalog.only(["kimi-k2.5", "moonshot-v1-8k", "not-in-catalog"])
    assert served.ids() == ["moonshot-v1-8k", "kimi-k2.5"]
    assert served.currency == "USD"
    assert served.fee_for("$web_search") == catalog.fee_for("$web_search")
    assert served.day_timezone == catalog.day_timezone


# --- currency: CNY on api.moonshot.cn, USD on api.moonshot.ai ----------------------------------------


@pytest.mark.parametrize(
    ("base_url", "currency"),
    [
        ("https://api.moonshot.ai/v1", "USD"),
        ("https://api.moonshot.cn/v1", "CNY"),
        ("http://127.0.0.1:8000/v1", "CNY"),
        ("", "CNY"),
        (None, "CNY"),
    ],
)
def test_the_base_url_decides_the_currency(base_url: str | None, currency: str) -> None:
    assert currency_for(base_url) == currency
    assert load_catalog(None, base_url=base_url).currency == currency


def test_the_builtin_catalog_is_in_cny_with_the_yuan_sign() -> None:
    catalog = builtin_catalog()
    assert (catalog.currency, catalog.currency_sign) == ("CNY", "¥")
    assert load_catalog(None) == catalog


def test_the_usd_overlay_changes_prices_only() -> None:
    cny, usd = builtin_catalog(), builtin_catalog("USD")
    assert (usd.currency, usd.currency_sign) == ("USD", "$")
    assert usd.ids() == cny.ids()
    k2 = usd.get("kimi-k2")
    assert (k2.input_price, k2.output_price) == (0.6, 2.5)
    assert usd.get("moonshot-v1-8k").input_price == 0.2
    assert usd.get("kimi-k2.5").cached_input_price == 0.1
    for spec in cny:
        other = usd.get(spec.id)
        assert (other.context_window, other.max_output, other.limits) == (
            spec.context_window,
            spec.max_output,
            spec.limits,
        )
        assert (other.thinking, other.vision, other.send_temperature) == (
            spec.thinking,
            spec.vision,
            spec.send_temperature,
        )
        assert other.input_price < spec.input_price, f"{spec.id}: USD prices are the lower numbers"
    assert usd.get("kimi-k2").cost(1_000_000, 1_000_000) == pytest.approx(3.1)


def test_settings_on_moonshot_ai_bill_in_usd() -> None:
    ai = Settings(moonshot_base_url="https://api.moonshot.ai/v1", _env_file=None)  # type: ignore[call-arg]
    assert ai.catalog.currency == "USD"
    assert ai.catalog.get("kimi-k2").cost(2_000_000, 0) == pytest.approx(1.2)
    cn = Settings(moonshot_base_url="https://api.moonshot.cn/v1", _env_file=None)  # type: ignore[call-arg]
    assert cn.catalog.currency == "CNY"
    assert cn.catalog.get("kimi-k2").cost(2_000_000, 0) == pytest.approx(24.0)


def test_a_models_file_can_name_the_currency(tmp_path: Path) -> None:
    # An operator behind a proxy URL whose account bills in USD.
    path = write(tmp_path, 'currency = "USD"\n[models."kimi-k2"]\noutput_price = 3.0\n')
    catalog = load_catalog(path, base_url="https://proxy.example.com/v1")
    assert catalog.currency == "USD"
    assert catalog.get("kimi-k2").input_price == 0.6, "USD built-in price"
    assert catalog.get("kimi-k2").output_price == 3.0, "the file's own price wins"
    assert catalog.fee_for("$web_search") == 0.005
    back = write(tmp_path, 'currency = "CNY"\n')
    assert load_catalog(back, base_url="https://api.moonshot.ai/v1") == builtin_catalog()


# --- tool fees and the day of a daily limit --------------------------------------------------------


def test_web_search_has_a_fee_per_call_in_each_currency() -> None:
    assert builtin_catalog().fee_for("$web_search") == 0.03
    assert builtin_catalog("USD").fee_for("$web_search") == 0.005
    assert builtin_catalog().fee_for("read_url") == 0.0
    assert dict(builtin_catalog().tool_fees) == {"$web_search": 0.03}


def test_a_models_file_sets_the_web_search_fee(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, "[tools]\nweb_search_fee = 0\n"))
    assert catalog.fee_for("$web_search") == 0.0
    catalog = load_catalog(write(tmp_path, "[tools]\nweb_search_fee = 1\n"))
    assert catalog.fee_for("$web_search") == 1.0
    assert isinstance(catalog.fee_for("$web_search"), float)


def test_the_tpd_day_is_beijing_time_unless_the_file_says_otherwise(tmp_path: Path) -> None:
    assert builtin_catalog().day_timezone == "Asia/Shanghai"
    assert builtin_catalog("USD").day_timezone == "Asia/Shanghai"
    catalog = load_catalog(write(tmp_path, 'day_timezone = "UTC"\n'))
    assert catalog.day_timezone == "UTC"
    assert catalog.ids() == builtin_catalog().ids()


def test_a_new_model_in_usd_needs_its_own_prices(tmp_path: Path) -> None:
    path = write(tmp_path, 'currency = "USD"\n' + NEW_MODEL)
    catalog = load_catalog(path)
    assert catalog.get("tiny").cost(1_000_000, 1_000_000) == pytest.approx(3.0)
    assert catalog.currency == "USD"
