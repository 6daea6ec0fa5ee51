"""Rate limits and spending budgets: waiting, refusals, and the durations they mention."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "duration_seconds": {"en": "{seconds} s", "zh": "{seconds} 秒"},
    "duration_minutes": {"en": "{minutes} min", "zh": "{minutes} 分钟"},
    "duration_hours": {"en": "{hours} h {minutes} min", "zh": "{hours} 小时 {minutes} 分钟"},
    "limit_queued": {
        "en": "Busy right now: your question is queued, expected wait about {wait}…",
        "zh": "请求较多，正在排队，预计等待约 {wait}…",
    },
    "limit_name_rpm": {"en": "requests per minute", "zh": "每分钟请求数"},
    "limit_name_tpm": {"en": "tokens per minute", "zh": "每分钟 token 数"},
    "limit_name_concurrency": {"en": "answers in progress", "zh": "同时进行的回答数"},
    "limit_name_cooldown": {
        "en": "Moonshot asked us to slow down",
        "zh": "Moonshot 要求降低请求频率",
    },
    "limit_user": {
        "en": "You are sending requests too fast ({what} limit reached). "
        "Please try again in {when}.",
        "zh": "你的请求太频繁了（{what}已达上限）。请在 {when} 后重试。",
    },
    "limit_account": {
        "en": "Kimi is at the bot's limit right now ({what}). Please try again in {when}.",
        "zh": "Kimi 当前请求太多（机器人的{what}已达上限）。请在 {when} 后重试。",
    },
    "budget_spent": {
        "en": "{spent} of {limit}",
        "zh": "已用 {spent}，上限 {limit}",
    },
    "budget_resets": {
        "en": "It resets at {when} (in {wait}).",
        "zh": "将于 {when} 重置（{wait}后）。",
    },
    "budget_user_daily": {
        "en": "You have used your daily budget ({spent}). {after}",
        "zh": "你今天的额度已用完（{spent}），{after}",
    },
    "budget_user_monthly": {
        "en": "You have used your monthly budget ({spent}). {after}",
        "zh": "你本月的额度已用完（{spent}），{after}",
    },
    "budget_global_monthly": {
        "en": "The bot has used its monthly budget ({spent}). {after}",
        "zh": "机器人本月的总额度已用完（{spent}），{after}",
    },
}
