"""The account balance: what ``GET /v1/users/me/balance`` shows and what answered requests cost.

Each answered request costs its tokens at the catalog's prices (cached prompt tokens at the
cache-hit price) plus the catalog's per-call fee for each ``$web_search`` the model issued. The
voucher is spent before cash; cash may go below zero (Moonshot shows a debt there), and once
nothing is left the account gets 429 ``exceeded_current_quota_error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.catalog import Catalog
from emulators.moonshot.websearch import TOOL_NAME

INITIAL_VOUCHER = 46.58
INITIAL_CASH = 3.0
SHOWN_DECIMALS = 8


@dataclass(slots=True)
class Balance:
    voucher: float = INITIAL_VOUCHER
    cash: float = INITIAL_CASH

    @property
    def available(self) -> float:
        return max(self.voucher + self.cash, 0.0)

    @property
    def exhausted(self) -> bool:
        return self.voucher + self.cash <= 0

    def charge(self, amount: float) -> None:
        from_voucher = min(max(self.voucher, 0.0), amount)
        self.voucher -= from_voucher
        self.cash -= amount - from_voucher

    def to_json(self) -> dict[str, float]:
        return {
            "available_balance": round(self.available, SHOWN_DECIMALS),
            "voucher_balance": round(self.voucher, SHOWN_DECIMALS),
            "cash_balance": round(self.cash, SHOWN_DECIMALS),
        }


def answer_cost(
    catalog: Catalog, model: str, usage: dict[str, Any], tool_calls: list[dict[str, str]]
) -> float:
    """What one answered request costs in the catalog's currency."""
    prompt = int(usage.get("prompt_tokens", 0))
    completion = int(usage.get("completion_tokens", 0))
    cached = int(usage.get("cached_tokens", 0))
    searches = sum(1 for call in tool_calls if call.get("name") == TOOL_NAME)
    return catalog.get(model).cost(prompt, completion, cached) + searches * catalog.fee_for(
        TOOL_NAME
    )
