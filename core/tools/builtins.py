"""Two small built-in tools, also examples of the plugin shape: the time, and a calculator."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from simpleeval import SimpleEval

from core.tools.registry import Tool


async def _now(timezone: str = "UTC") -> dict[str, str]:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {timezone!r}; use an IANA name like Asia/Shanghai"
        ) from None
    now = datetime.now(UTC).astimezone(zone)
    return {
        "timezone": timezone,
        "iso": now.isoformat(timespec="seconds"),
        "weekday": now.strftime("%A"),
        "utc_offset": now.strftime("%z"),
    }


current_time = Tool(
    name="current_time",
    description="The current date and time in a time zone (IANA name, default UTC).",
    parameters={
        "type": "object",
        "properties": {
            "timezone": {"type": "string", "description": "IANA time zone, e.g. Asia/Shanghai"}
        },
        "additionalProperties": False,
    },
    run=_now,
    timeout=2.0,
    status={"en": "checking the time…", "zh": "正在查看时间…"},
)

_FUNCTIONS = {
    name: getattr(math, name)
    for name in ("sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "log", "log10", "log2", "exp")
} | {"abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil}


async def _calculate(expression: str) -> dict[str, object]:
    """simpleeval walks the AST: arithmetic and whitelisted math only, with power limits."""
    if len(expression) > 500:
        raise ValueError("expression too long (500 characters at most)")
    evaluator = SimpleEval(functions=_FUNCTIONS, names={"pi": math.pi, "e": math.e})
    value = evaluator.eval(expression)
    if not isinstance(value, int | float):
        raise ValueError("the expression must give a number")
    return {"expression": expression, "result": value}


calculator = Tool(
    name="calculator",
    description=(
        "Evaluate an arithmetic expression exactly: + - * / // % **, parentheses, "
        "sqrt, sin, cos, tan, log, exp, abs, round, floor, ceil, pi, e."
    ),
    parameters={
        "type": "object",
        "properties": {"expression": {"type": "string", "description": "e.g. (2+3)*sqrt(16)"}},
        "required": ["expression"],
        "additionalProperties": False,
    },
    run=_calculate,
    timeout=2.0,
    status={"en": "calculating…", "zh": "正在计算…"},
)
