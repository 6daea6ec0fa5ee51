"""What Moonshot says about this account: the model ids its key may use, and its balance.

Neither is configuration: Moonshot decides which models an account is served (``GET /v1/models``)
and what is left to spend (``GET /v1/users/me/balance``), so the bot asks instead of assuming.
Both go through the openai SDK client the bot already has; a failure is :class:`AccountUnavailable`
with a message safe to print (it never contains the key).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from core.catalog import CURRENCY_SIGNS, Catalog
from core.config import ConfigError
from core.kimi import connection_failure

log = logging.getLogger(__name__)

BALANCE_PATH = "/users/me/balance"
MODELS_PATH = "/models"
BALANCE_KINDS = ("available", "voucher", "cash")


class AccountUnavailable(Exception):
    """Moonshot could not tell (unreachable, refused, or an answer we cannot read).
    ``status`` is the HTTP status of a refusal (401: the key), None when nothing answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ModelNotServed(ConfigError):
    """KIMI_MODEL is not among the ids Moonshot serves this key: nothing could be answered."""


@dataclass(frozen=True, slots=True)
class Balance:
    """The account's balance in ``currency``: ``available`` = ``voucher`` + ``cash`` (what
    requests draw on; it may go negative when spending overshoots)."""

    available: float
    voucher: float
    cash: float
    currency: str

    @property
    def sign(self) -> str:
        return CURRENCY_SIGNS.get(self.currency, self.currency + " ")

    def amounts(self) -> dict[str, float]:
        """``{"available": …, "voucher": …, "cash": …}`` (the metric's ``kind`` labels)."""
        return {"available": self.available, "voucher": self.voucher, "cash": self.cash}

    def money(self, amount: float) -> str:
        return f"-{self.sign}{-amount:,.2f}" if amount < 0 else f"{self.sign}{amount:,.2f}"

    def describe(self) -> str:
        """``¥49.58 available (voucher ¥46.58, cash ¥3.00)``: for logs and ``kimi-bot doctor``."""
        return (
            f"{self.money(self.available)} available (voucher {self.money(self.voucher)}, "
            f"cash {self.money(self.cash)})"
        )


def not_served_line(model: str, served: Sequence[str]) -> str:
    """The one line ``kimi-bot run`` stops with (and ``doctor`` fails with)."""
    offered = ", ".join(served) if served else "none"
    return (
        f"invalid setting KIMI_MODEL: {model} is not served to this Moonshot account "
        f"(served: {offered}); set KIMI_MODEL to one of them"
    )


def not_in_catalog(served: Iterable[str], catalog: Catalog) -> list[str]:
    """Served ids the catalog has no data for (no window, no prices), in the served order."""
    return [model for model in served if model not in catalog]


def not_in_catalog_line(ids: Sequence[str]) -> str:
    listed = ", ".join(ids)
    return f"served, not in the catalog (add them to KIMI_MODELS_FILE to use them): {listed}"


class AccountFacts:
    """Asks Moonshot about the account through ``sdk`` (the bot's own ``KimiClient.sdk``)."""

    def __init__(
        self, sdk: openai.AsyncOpenAI, *, currency: str = "CNY", timeout: float = 10.0
    ) -> None:
        self._sdk = sdk
        self.currency = currency
        self._timeout = timeout

    @property
    def where(self) -> str:
        return str(self._sdk.base_url).rstrip("/")

    async def served_models(self) -> list[str]:
        """The model ids this key may use, in Moonshot's order."""
        try:
            page = await self._sdk.models.list(timeout=self._timeout)
            return [str(model.id) for model in page.data]
        except openai.OpenAIError as exc:
            raise self._unavailable(MODELS_PATH, exc) from None

    async def balance(self) -> Balance:
        """The balance now, in the catalog's currency (Moonshot bills .cn in CNY, .ai in USD)."""
        try:
            body = await self._sdk.get(
                BALANCE_PATH, cast_to=object, options={"timeout": self._timeout}
            )
        except openai.OpenAIError as exc:
            raise self._unavailable(BALANCE_PATH, exc) from None
        return _balance_from(body, self.currency, f"GET {BALANCE_PATH}")

    def _unavailable(self, path: str, exc: openai.OpenAIError) -> AccountUnavailable:
        """One safe line: what was asked, of where, and what came back (never the key)."""
        asked = f"GET {path} at {self.where}"
        if isinstance(exc, openai.AuthenticationError):
            return AccountUnavailable(f"{asked}: MOONSHOT_API_KEY was rejected (401)", status=401)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = f"{asked}: HTTP {status} {_message(exc.body)}".rstrip()
            return AccountUnavailable(detail, status=status)
        if isinstance(exc, openai.APIConnectionError):
            failure = connection_failure(exc)
            if failure is None:
                return AccountUnavailable(f"{asked}: no answer within {self._timeout:.0f}s")
            return AccountUnavailable(f"{asked}: cannot connect ({failure})")
        return AccountUnavailable(f"{asked}: {type(exc).__name__}")


def _balance_from(body: object, currency: str, asked: str) -> Balance:
    """``{"code": 0, "data": {"available_balance", "voucher_balance", "cash_balance"}, …}``."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping):
        raise AccountUnavailable(f"{asked}: unexpected answer (no data object)", status=200)
    amounts: dict[str, float] = {}
    for kind in BALANCE_KINDS:
        value: Any = data.get(f"{kind}_balance")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise AccountUnavailable(f"{asked}: unexpected answer (no {kind}_balance)", status=200)
        try:
            amounts[kind] = float(value)
        except ValueError:
            raise AccountUnavailable(
                f"{asked}: unexpected answer ({kind}_balance)", status=200
            ) from None
    return Balance(currency=currency, **amounts)


def _message(body: object) -> str:
    """Moonshot's error message, if the body has one (short; bodies never echo the key)."""
    error = body.get("error", body) if isinstance(body, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    return f"({str(message)[:160]})" if message else ""


@dataclass(frozen=True, slots=True)
class ServedCatalog:
    """What start-up learnt about the served models: the catalog to offer, and what to tell the
    operator. :meth:`report` is the caller's to call once it listens, so that a start that fails
    later (a busy port) still ends with its one line."""

    catalog: Catalog
    served: tuple[str, ...] | None  # None: Moonshot could not be asked (``problem`` says why)
    unknown: tuple[str, ...] = ()  # served, but the catalog has no data for them
    problem: str = ""

    def report(self) -> None:
        if self.served is None:
            log.warning(
                "cannot ask Moonshot which models it serves (%s); using the whole catalog",
                self.problem,
            )
            return
        if self.unknown:
            log.info("%s", not_in_catalog_line(self.unknown))
        offered = ", ".join(self.catalog.ids())
        log.info("Moonshot serves %d models; offering %s", len(self.served), offered)


async def served_catalog(
    facts: AccountFacts, catalog: Catalog, default_model: str
) -> ServedCatalog:
    """The catalog narrowed to what the account is served (what ``/model`` offers and answers
    may switch up to). :class:`ModelNotServed` when ``default_model`` is not served; the whole
    catalog when Moonshot cannot be asked (it may be a passing outage)."""
    try:
        served = await facts.served_models()
    except AccountUnavailable as exc:
        return ServedCatalog(catalog, None, problem=str(exc))
    if default_model not in served:
        raise ModelNotServed(not_served_line(default_model, served))
    unknown = tuple(not_in_catalog(served, catalog))
    return ServedCatalog(catalog.only(served), tuple(served), unknown)
