"""max_tokens per call: the catalog's max_output, the operator's cap, the window after the prompt."""

from __future__ import annotations

from dataclasses import replace

from core.catalog import builtin_catalog
from core.output_budget import ESTIMATE_SLACK, MIN_ANSWER_TOKENS, OutputBudget

K25 = builtin_catalog().get("kimi-k2.5")  # 262,144 window, 32,768 max output
V1_8K = builtin_catalog().get("moonshot-v1-8k")  # 8,192 window and max output


def test_default_is_the_models_own_max_output() -> None:
    assert OutputBudget(K25).for_prompt(1_000) == K25.max_output == 32_768


def test_operator_cap_lowers_it_but_never_raises_it() -> None:
    assert OutputBudget(K25, cap=2_048).for_prompt(1_000) == 2_048
    assert OutputBudget(K25, cap=10**6).for_prompt(1_000) == K25.max_output


def test_clamped_to_what_the_window_leaves_after_the_prompt() -> None:
    slack = int(V1_8K.context_window * ESTIMATE_SLACK)
    assert OutputBudget(V1_8K).for_prompt(5_000) == 8_192 - 5_000 - slack


def test_never_below_the_minimum_even_when_the_prompt_fills_the_window() -> None:
    assert OutputBudget(V1_8K).for_prompt(8_192) == MIN_ANSWER_TOKENS
    tiny = replace(V1_8K, max_output=100)
    assert OutputBudget(tiny).for_prompt(8_192) == 100


def test_reserve_keeps_history_room_on_small_windows() -> None:
    assert OutputBudget(V1_8K).reserve == 8_192 // 4
    assert OutputBudget(K25).reserve == 32_768
    assert OutputBudget(K25, cap=4_000).reserve == 4_000
