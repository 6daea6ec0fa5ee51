"""The model catalog: every Moonshot fact that can change (ids, windows, prices, limits,
capabilities, fees, the billing currency) as data.

The built-in catalog is ``core/catalog_data/builtin.toml`` (CNY, api.moonshot.cn) with
``builtin_usd.toml``'s prices on top when the account bills in USD (api.moonshot.ai).
``KIMI_MODELS_FILE`` points to a TOML file in the same format that adds models or overrides single
keys of built-in ones, so an operator can match their own account without a code change.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CURRENCIES = ("CNY", "USD")
CURRENCY_SIGNS = {"CNY": "¥", "USD": "$"}
# Tool-fee keys of the [tools] table and the tool call each one is charged for.
TOOL_FEE_KEYS = {"web_search_fee": "$web_search"}


class CatalogError(ValueError):
    """A models file that cannot be used; the message names the key and the reason."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Requests per minute, tokens per minute (prompt + max_tokens) and requests in flight."""

    rpm: int
    tpm: int
    concurrency: int


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model as the catalog knows it. Prices are per million tokens, in the catalog's
    currency. ``thinking``: streams ``reasoning_content`` before its answer; ``vision``: accepts
    images; ``tpd``: the account's tokens per day for it, if known."""

    id: str
    context_window: int
    max_output: int
    input_price: float
    output_price: float
    rpm: int
    tpm: int
    concurrency: int
    cached_input_price: float | None = None
    send_temperature: bool = True
    fixed_temperature: float | None = None
    description: str = ""
    thinking: bool = False
    vision: bool = False
    tpd: int | None = None

    @property
    def limits(self) -> Limits:
        return Limits(self.rpm, self.tpm, self.concurrency)

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """Tokens' cost of one call in the catalog's currency; cached prompt tokens use the
        cache-hit price where there is one."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cached_price = (
            self.input_price if self.cached_input_price is None else self.cached_input_price
        )
        fresh = prompt_tokens - cached
        return (
            fresh * self.input_price + cached * cached_price + completion_tokens * self.output_price
        ) / 1_000_000


_INT_KEYS = {"context_window", "max_output", "rpm", "tpm", "concurrency"}
_FLOAT_KEYS = {"input_price", "output_price", "cached_input_price", "fixed_temperature"}
_OPTIONAL_INT_KEYS = {"tpd"}
_BOOL_KEYS = {"send_temperature", "thinking", "vision"}
_STR_KEYS = {"description"}
_MODEL_KEYS = _INT_KEYS | _OPTIONAL_INT_KEYS | _FLOAT_KEYS | _BOOL_KEYS | _STR_KEYS
_TOP_LEVEL = {"models", "user_limits", "tools", "currency", "day_timezone"}
_USER_LIMIT_KEYS = {"rpm", "tpm", "concurrency"}


@dataclass(frozen=True, slots=True)
class Catalog:
    """The models this service may use, the optional per-user limits, the currency every price
    is in, per-call tool fees (keyed by the tool call's name) and the day a daily limit counts."""

    models: Mapping[str, ModelSpec]
    user_limits: Mapping[str, int]
    currency: str = "CNY"
    tool_fees: Mapping[str, float] = field(default_factory=dict)
    day_timezone: str = "Asia/Shanghai"

    @property
    def currency_sign(self) -> str:
        return CURRENCY_SIGNS.get(self.currency, self.currency + " ")

    def fee_for(self, tool_name: str) -> float:
        """What one call of ``tool_name`` costs on top of its tokens (0 for most tools)."""
        return self.tool_fees.get(tool_name, 0.0)

    def only(self, model_ids: Iterable[str]) -> Catalog:
        """The catalog narrowed to ``model_ids`` (e.g. what the account serves), order kept."""
        keep = set(model_ids)
        return replace(self, models={k: v for k, v in self.models.items() if k in keep})

    def __contains__(self, model_id: object) -> bool:
        return model_id in self.models

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.models.values())

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self.models[model_id]
        except KeyError:
            raise KeyError(f"unknown model {model_id!r}; known: {', '.join(self.ids())}") from None

    def ids(self) -> list[str]:
        return list(self.models)

    def user_limits_for(self, model_id: str) -> Limits:
        """Per-user limits of a model: each key defaults to the model's own account value."""
        spec = self.get(model_id)
        return Limits(
            rpm=self.user_limits.get("rpm", spec.rpm),
            tpm=self.user_limits.get("tpm", spec.tpm),
            concurrency=self.user_limits.get("concurrency", spec.concurrency),
        )

    def by_window(self) -> list[ModelSpec]:
        """Models from the smallest context window to the largest (for switching up)."""
        return sorted(self.models.values(), key=lambda m: (m.context_window, m.input_price))


def currency_for(base_url: str | None) -> str:
    """Moonshot bills api.moonshot.ai accounts in USD and api.moonshot.cn ones in CNY."""
    host = urlsplit(base_url or "").hostname or ""
    return "USD" if host.endswith(".ai") else "CNY"


@cache
def _builtin_data(name: str) -> dict[str, Any]:
    text = resources.files("core.catalog_data").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def builtin_catalog(currency: str = "CNY") -> Catalog:
    """The built-in models with the prices of ``currency``."""
    empty = Catalog(models={}, user_limits={}, currency=currency)
    catalog = apply_overrides(empty, _builtin_data("builtin.toml"), source="built-in catalog")
    if currency == "USD":
        catalog = apply_overrides(catalog, _builtin_data("builtin_usd.toml"), "built-in USD prices")
    return replace(catalog, currency=currency)


def load_catalog(path: str | Path | None, *, base_url: str | None = None) -> Catalog:
    """The built-in catalog, with the TOML file at ``path`` (if any) applied on top. The
    currency is the file's ``currency`` key, else the one ``base_url`` bills in."""
    currency = currency_for(base_url)
    if path is None or str(path) == "":
        return builtin_catalog(currency)
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"KIMI_MODELS_FILE: {file} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"KIMI_MODELS_FILE: cannot read {file}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"KIMI_MODELS_FILE: {file} is not valid TOML: {exc}") from None
    source = f"KIMI_MODELS_FILE ({file})"
    if "currency" in data:
        currency = _currency(data["currency"], source)
    return apply_overrides(builtin_catalog(currency), data, source=source)


def apply_overrides(base: Catalog, data: Mapping[str, Any], source: str = "models file") -> Catalog:
    unknown_sections = set(data) - _TOP_LEVEL
    if unknown_sections:
        key = sorted(unknown_sections)[0]
        raise CatalogError(
            f"{source}: unknown key {key!r} (expected currency, day_timezone, [tools], "
            "[models.*] or [user_limits])"
        )
    models = dict(base.models)
    raw_models = data.get("models", {})
    if not isinstance(raw_models, Mapping):
        raise CatalogError(f"{source}: 'models' must be a table of [models.\"<id>\"] sections")
    for model_id, values in raw_models.items():
        models[model_id] = _model_from_toml(model_id, values, models.get(model_id), source)
    user_limits = dict(base.user_limits)
    raw_limits = data.get("user_limits", {})
    if not isinstance(raw_limits, Mapping):
        raise CatalogError(f"{source}: 'user_limits' must be a table")
    for key, value in raw_limits.items():
        if key not in _USER_LIMIT_KEYS:
            raise CatalogError(f"{source}: user_limits.{key}: unknown key (rpm, tpm, concurrency)")
        user_limits[key] = _positive_int(f"user_limits.{key}", value, source)
    tool_fees = dict(base.tool_fees)
    raw_tools = data.get("tools", {})
    if not isinstance(raw_tools, Mapping):
        raise CatalogError(f"{source}: 'tools' must be a table")
    for key, value in raw_tools.items():
        if key not in TOOL_FEE_KEYS:
            known = ", ".join(sorted(TOOL_FEE_KEYS))
            raise CatalogError(f"{source}: tools.{key}: unknown key ({known})")
        tool_fees[TOOL_FEE_KEYS[key]] = _non_negative_float(f"tools.{key}", value, source)
    currency = _currency(data["currency"], source) if "currency" in data else base.currency
    day_timezone = base.day_timezone
    if "day_timezone" in data:
        day_timezone = _timezone(data["day_timezone"], source)
    return Catalog(
        models=models,
        user_limits=user_limits,
        currency=currency,
        tool_fees=tool_fees,
        day_timezone=day_timezone,
    )


def _currency(value: Any, source: str) -> str:
    if value not in CURRENCIES:
        raise CatalogError(f'{source}: currency: must be "CNY" or "USD", got {value!r}')
    return str(value)


def _timezone(value: Any, source: str) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise CatalogError(f"{source}: day_timezone: unknown time zone {value!r}") from None
    return str(value)


def _model_from_toml(
    model_id: str, values: Any, existing: ModelSpec | None, source: str
) -> ModelSpec:
    where = f"models.{model_id}"
    if not isinstance(values, Mapping):
        raise CatalogError(f"{source}: {where} must be a table")
    parsed: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{where}.{key}"
        if key not in _MODEL_KEYS:
            raise CatalogError(f"{source}: {name}: unknown key")
        if key in _INT_KEYS | _OPTIONAL_INT_KEYS:
            parsed[key] = _positive_int(name, value, source)
        elif key in _FLOAT_KEYS:
            parsed[key] = _non_negative_float(name, value, source)
        elif key in _BOOL_KEYS:
            if not isinstance(value, bool):
                raise CatalogError(f"{source}: {name}: must be true or false")
            parsed[key] = value
        else:
            if not isinstance(value, str):
                raise CatalogError(f"{source}: {name}: must be a string")
            parsed[key] = value
    if existing is not None:
        spec = replace(existing, **parsed)
    else:
        required = [
            f.name
            for f in fields(ModelSpec)
            if f.name in _INT_KEYS | {"input_price", "output_price"}
        ]
        missing = [k for k in required if k not in parsed]
        if missing:
            raise CatalogError(f"{source}: {where}.{missing[0]}: required for a new model")
        spec = ModelSpec(id=model_id, **parsed)
    if spec.max_output > spec.context_window:
        raise CatalogError(f"{source}: {where}.max_output: larger than context_window")
    return spec


def _positive_int(name: str, value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CatalogError(f"{source}: {name}: must be a positive whole number, got {value!r}")
    return value


def _non_negative_float(name: str, value: Any, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CatalogError(f"{source}: {name}: must be a number >= 0, got {value!r}")
    return float(value)
