"""Texts of a turn: refusals before the model is called, notices while answering, endings."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "not_allowed": {
        "en": "Sorry, this bot is private. Ask its operator for access.",
        "zh": "抱歉，这是一个私有机器人。请联系管理员获取权限。",
    },
    "empty": {
        "en": "Your message is empty. Send some text to ask Kimi.",
        "zh": "消息是空的。请发送文字向 Kimi 提问。",
    },
    "too_long": {
        "en": "Your message is too long ({chars:,} characters; the limit is {limit:,}). "
        "Please shorten it or send it as a file.",
        "zh": "消息太长（{chars:,} 个字符，上限 {limit:,}）。请缩短，或作为文件发送。",
    },
    "too_long_for_model": {
        "en": "Your message is too long for the model ({tokens:,} tokens, limit {limit:,}). "
        "Please shorten it or send it as a file.",
        "zh": "消息对模型来说太长（约 {tokens:,} 个 token，上限 {limit:,}）。请缩短，或作为文件发送。",
    },
    "cancelled": {"en": "Stopped.", "zh": "已停止。"},
    "tool_web_search": {"en": "searching the web…", "zh": "正在联网搜索…"},
    "tool_using": {"en": "using {name}…", "zh": "正在使用 {name}…"},
    "interrupted": {
        "en": "Interrupted: the bot is restarting. Please ask again in a moment.",
        "zh": "回答被中断：机器人正在重启，请稍后再问一次。",
    },
    "restarting": {
        "en": "The bot is restarting; your message is saved. Please send it again in a moment.",
        "zh": "机器人正在重启，您的消息已保存。请稍后重新发送。",
    },
    "worker_interrupted": {
        "en": "Sorry — my previous answer here was interrupted by a restart and could not finish. "
        "Please ask again.",
        "zh": "抱歉，我在这里的上一个回答因重启而中断，没能完成。请再问一次。",
    },
    "nothing_to_cancel": {"en": "Nothing to cancel.", "zh": "没有正在进行的回答。"},
    "retrying": {
        "en": "Kimi is busy, retrying in {seconds:.0f}s…",
        "zh": "Kimi 繁忙，{seconds:.0f} 秒后重试…",
    },
    "incomplete": {
        "en": "(answer incomplete: {reason})",
        "zh": "（回答不完整：{reason}）",
    },
    "reason_max_output": {
        "en": "the answer is longer than Kimi may write in one reply, even continued",
        "zh": "回答超出了 Kimi 单次可输出的长度（已续写仍未完成）",
    },
    "thinking_cut": {
        "en": "Kimi spent its whole output budget thinking and wrote no answer. "
        "Please ask again, perhaps a narrower question.",
        "zh": "Kimi 把全部输出额度都用在了思考上，没有写出回答。请重新提问，或把问题问得更具体一些。",
    },
    "thinking_status": {
        "en": "thinking… {seconds} s",
        "zh": "思考中… {seconds} 秒",
    },
    "internal": {
        "en": "Something went wrong on our side. The operator has been told; please try again.",
        "zh": "我们这边出了点问题，已通知管理员，请重试。",
    },
}
