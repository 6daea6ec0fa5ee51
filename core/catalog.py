"""The model catalog: every Moonshot fact that can change (ids, windows, prices, limits) as data.

The built-in defaults are the product brief's table. ``KIMI_MODELS_FILE`` points to a TOML file that
adds models or overrides single keys of built-in ones, so an operator can match their own account
without a code change.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


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
    """One model as the catalog knows it. Prices are CNY per million tokens."""

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

    @property
    def limits(self) -> Limits:
        return Limits(self.rpm, self.tpm, self.concurrency)

    def cost_cny(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """Cost of one call; cached prompt tokens use the cache-hit price where there is one."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cached_price = (
            self.input_price if self.cached_input_price is None else self.cached_input_price
        )
        fresh = prompt_tokens - cached
        return (
            fresh * self.input_price + cached * cached_price + completion_tokens * self.output_price
        ) / 1_000_000


_BUILTIN: tuple[ModelSpec, ...] = (
    ModelSpec("kimi-k2", 131072, 8192, 12.0, 36.0, 10, 300_000, 3, description="current flagship"),
    ModelSpec(
        "moonshot-v1-128k",
        131072,
        8192,
        14.0,
        42.0,
        10,
        300_000,
        3,
        description="previous flagship",
    ),
    ModelSpec("moonshot-v1-32k", 32768, 8192, 6.0, 18.0, 30, 300_000, 5, description="standard"),
    ModelSpec("moonshot-v1-8k", 8192, 8192, 4.0, 12.0, 30, 300_000, 5, description="basic"),
)

_INT_KEYS = {"context_window", "max_output", "rpm", "tpm", "concurrency"}
_FLOAT_KEYS = {"input_price", "output_price", "cached_input_price", "fixed_temperature"}
_BOOL_KEYS = {"send_temperature"}
_STR_KEYS = {"description"}
_MODEL_KEYS = _INT_KEYS | _FLOAT_KEYS | _BOOL_KEYS | _STR_KEYS
_USER_LIMIT_KEYS = {"rpm", "tpm", "concurrency"}


@dataclass(frozen=True, slots=True)
class Catalog:
    """The models this service may use, and the optional per-user limits."""

    models: Mapping[str, ModelSpec]
    user_limits: Mapping[str, int]

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


def builtin_catalog() -> Catalog:
    return Catalog(models={m.id: m for m in _BUILTIN}, user_limits={})


def load_catalog(path: str | Path | None) -> Catalog:
    """The built-in catalog, with the TOML file at ``path`` (if any) applied on top."""
    base = builtin_catalog()
    if path is None or str(path) == "":
        return base
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"KIMI_MODELS_FILE: {file} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"KIMI_MODELS_FILE: cannot read {file}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"KIMI_MODELS_FILE: {file} is not valid TOML: {exc}") from None
    return apply_overrides(base, data, source=f"KIMI_MODELS_FILE ({file})")


def apply_overrides(base: Catalog, data: Mapping[str, Any], source: str = "models file") -> Catalog:
    unknown_sections = set(data) - {"models", "user_limits"}
    if unknown_sections:
        key = sorted(unknown_sections)[0]
        raise CatalogError(
            f"{source}: unknown section {key!r} (expected [models.*] or [user_limits])"
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
    return Catalog(models=models, user_limits=user_limits)


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
        if key in _INT_KEYS:
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
