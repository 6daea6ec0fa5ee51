"""What the chat says when a Moonshot call fails: ``kimi_<kind>`` for each ``KimiError`` kind."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "kimi_error": {
        "en": "Kimi could not answer right now. Please try again in a moment.",
        "zh": "Kimi 暂时无法回答，请稍后再试。",
    },
    "kimi_rate_limited": {
        "en": "Kimi is busy (rate limit reached). Please try again in a minute.",
        "zh": "Kimi 当前繁忙（已达到速率限制），请稍后再试。",
    },
    "kimi_overloaded": {
        "en": "Kimi is overloaded right now. Please try again in a minute.",
        "zh": "Kimi 当前负载过高，请一分钟后再试。",
    },
    "kimi_server_error": {
        "en": "Kimi's service had an error. Please try again later.",
        "zh": "Kimi 服务出错了，请稍后再试。",
    },
    "kimi_stream_interrupted": {
        "en": "The answer was cut off by a network problem. Please ask again.",
        "zh": "回答因网络问题中断了，请重新提问。",
    },
    "kimi_context_too_long": {
        "en": "This conversation is too long for the model. Send `/reset` to start over.",
        "zh": "对话太长，超出了模型的上下文长度。发送 /reset 开始新的对话。",
    },
    "kimi_bad_request": {
        "en": "Kimi rejected the request. The operator has been told.",
        "zh": "Kimi 拒绝了这个请求，已通知管理员。",
    },
    "kimi_auth": {
        "en": "The bot's Moonshot API key was rejected. Please tell the bot's operator.",
        "zh": "机器人的 Moonshot API 密钥无效，请联系机器人管理员。",
    },
    "kimi_permission": {
        "en": "This Moonshot account is not allowed to use that. Please tell the operator.",
        "zh": "该 Moonshot 账户无权执行此操作，请联系管理员。",
    },
    "kimi_model_not_found": {
        "en": "The selected model does not exist on this account. Try `/model` to pick another.",
        "zh": "当前模型在此账户上不存在，请用 /model 命令选择其他模型。",
    },
    "kimi_content_filter": {
        "en": "Kimi declined this request because of its content policy.",
        "zh": "由于内容政策，Kimi 拒绝了这个请求。",
    },
    "kimi_quota": {
        "en": "Kimi cannot answer right now: the bot's Moonshot account has run out of "
        "balance. It works again once the bot's operator tops it up.",
        "zh": "Kimi 暂时无法回答：机器人的 Moonshot 账户余额已用完，管理员充值后即可恢复。",
    },
    "kimi_daily_limit": {
        "en": "The bot's Moonshot account has used its tokens for today on this model. It works "
        "again when the day turns; `/model` may offer another model meanwhile.",
        "zh": "机器人的 Moonshot 账户今天在此模型上的 token 额度已用完，明天恢复；"
        "也可以用 /model 换一个模型。",
    },
}
