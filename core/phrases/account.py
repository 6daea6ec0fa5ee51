"""The Moonshot account as admins see it: the balance line of /usage and the alerts they get."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "usage_balance": {
        "en": "Moonshot balance (admins only): {available} available "
        "(voucher {voucher}, cash {cash})",
        "zh": "Moonshot 余额（仅管理员可见）：可用 {available}（代金券 {voucher}，现金 {cash}）",
    },
    "usage_balance_unknown": {
        "en": "Moonshot balance (admins only): unavailable right now ({reason})",
        "zh": "Moonshot 余额（仅管理员可见）：暂时无法获取（{reason}）",
    },
    "alert_balance_low": {
        "en": "⚠️ kimi-bot: the Moonshot balance is {available}, below the alert level of "
        "{threshold} (BALANCE_ALERT_BELOW). Top it up in the Moonshot console before it runs "
        "out; answers stop when it does.",
        "zh": "⚠️ kimi-bot：Moonshot 余额为 {available}，低于提醒线 {threshold}"
        "（BALANCE_ALERT_BELOW）。请尽快在 Moonshot 控制台充值，余额用完后机器人将无法回答。",
    },
    "alert_quota": {
        "en": "⛔ kimi-bot: Moonshot refused an answer because the account's balance is used up "
        "(exceeded_current_quota_error). Users get an error until it is topped up in the "
        "Moonshot console.",
        "zh": "⛔ kimi-bot：Moonshot 因账户余额用完而拒绝回答（exceeded_current_quota_error）。"
        "在 Moonshot 控制台充值之前，用户都会收到错误提示。",
    },
    "alert_daily_limit": {
        "en": "⛔ kimi-bot: the Moonshot account has used its tokens for today (TPD) on {model}. "
        "Answers with {model} fail until the day turns ({timezone}); users can pick another "
        "model with /model.",
        "zh": "⛔ kimi-bot：Moonshot 账户今天在 {model} 上的 token 额度（TPD）已用完。"
        "在新的一天（{timezone}）开始前，使用 {model} 的回答都会失败；用户可以用 /model 换模型。",
    },
}
