"""The model catalog: built-in values from the product brief, TOML overrides and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.catalog import Catalog, CatalogError, Limits, builtin_catalog, load_catalog


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


def test_builtin_catalog_has_exactly_the_four_models_and_no_user_limits() -> None:
    catalog = builtin_catalog()
    assert sorted(catalog.ids()) == [
        "kimi-k2",
        "moonshot-v1-128k",
        "moonshot-v1-32k",
        "moonshot-v1-8k",
    ]
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
    assert catalog.get("kimi-k2").cost_cny(1_000_000, 1_000_000) == pytest.approx(48.0)
    assert catalog.get("moonshot-v1-128k").cost_cny(1_000_000, 0) == pytest.approx(14.0)
    assert catalog.get("moonshot-v1-128k").cost_cny(0, 1_000_000) == pytest.approx(42.0)
    assert catalog.get("moonshot-v1-8k").cost_cny(2_000, 500) == pytest.approx(
        (2_000 * 4 + 500 * 12) / 1_000_000
    )


def test_cached_tokens_without_a_cache_price_cost_the_input_price() -> None:
    spec = builtin_catalog().get("kimi-k2")
    assert spec.cost_cny(1000, 100, cached_tokens=600) == pytest.approx(spec.cost_cny(1000, 100))


def test_cached_tokens_use_the_cache_hit_price(tmp_path: Path) -> None:
    path = write(tmp_path, '[models."kimi-k2"]\ncached_input_price = 1.2\n')
    spec = load_catalog(path).get("kimi-k2")
    assert spec.cached_input_price == 1.2
    expected = (600 * 12.0 + 400 * 1.2 + 100 * 36.0) / 1_000_000
    assert spec.cost_cny(1000, 100, cached_tokens=400) == pytest.approx(expected)
    # More cached than prompt tokens is clamped; negative cached counts as none.
    all_cached = (1000 * 1.2 + 100 * 36.0) / 1_000_000
    assert spec.cost_cny(1000, 100, cached_tokens=5000) == pytest.approx(all_cached)
    assert spec.cost_cny(1000, 100, cached_tokens=-5) == pytest.approx(spec.cost_cny(1000, 100))


def test_zero_tokens_cost_nothing() -> None:
    assert builtin_catalog().get("kimi-k2").cost_cny(0, 0) == 0.0


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
    for other in ("moonshot-v1-128k", "moonshot-v1-32k", "moonshot-v1-8k"):
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
[models."kimi-k2-thinking"]
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
    spec = catalog.get("kimi-k2-thinking")
    assert spec.id == "kimi-k2-thinking"
    assert spec.context_window == 262144
    assert spec.max_output == 32768
    assert spec.input_price == 4.0
    assert spec.output_price == 16.0
    assert spec.cached_input_price == 1.0
    assert spec.limits == Limits(rpm=200, tpm=2_000_000, concurrency=50)
    assert spec.send_temperature is False
    assert spec.description == "thinking model"
    assert len(catalog.ids()) == 5
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


def test_by_window_orders_smallest_window_first_then_cheapest() -> None:
    ordered = [m.id for m in builtin_catalog().by_window()]
    assert ordered == ["moonshot-v1-8k", "moonshot-v1-32k", "kimi-k2", "moonshot-v1-128k"]


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
    ordered = [m.id for m in catalog.by_window()]
    assert ordered == [
        "moonshot-v1-8k",
        "small",
        "moonshot-v1-32k",
        "kimi-k2",
        "moonshot-v1-128k",
        "huge",
    ]
    windows = [m.context_window for m in catalog.by_window()]
    assert windows == sorted(windows)
