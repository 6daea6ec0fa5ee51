"""User-facing texts in English and Chinese; the language follows what the user wrote."""

from __future__ import annotations

from core import errors

_ZH_ERRORS: dict[type[errors.KimiError], str] = {
    errors.RateLimited: "Kimi 当前繁忙（已达到速率限制），请稍后再试。",
    errors.Overloaded: "Kimi 当前负载过高，请一分钟后再试。",
    errors.ServerError: "Kimi 服务出错了，请稍后再试。",
    errors.StreamInterrupted: "回答因网络问题中断了，请重新提问。",
    errors.ContextTooLong: "对话太长，超出了模型的上下文长度。发送 /reset 开始新的对话。",
    errors.BadRequest: "Kimi 拒绝了这个请求，已通知管理员。",
    errors.AuthFailed: "机器人的 Moonshot API 密钥无效，请联系机器人管理员。",
    errors.PermissionDenied: "该 Moonshot 账户无权执行此操作，请联系管理员。",
    errors.ModelNotFound: "当前模型在此账户上不存在，请用 /model 命令选择其他模型。",
    errors.ContentFiltered: "由于内容政策，Kimi 拒绝了这个请求。",
    errors.QuotaExceeded: "机器人的 Moonshot 余额已用完，请联系机器人管理员。",
}

_TEXTS: dict[str, dict[str, str]] = {
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
    "cancelled": {"en": "Stopped.", "zh": "已停止。"},
    "interrupted": {
        "en": "Interrupted: the bot is restarting. Please ask again in a moment.",
        "zh": "回答被中断：机器人正在重启，请稍后再问一次。",
    },
    "restarting": {
        "en": "The bot is restarting; your message is saved. Please send it again in a moment.",
        "zh": "机器人正在重启，您的消息已保存。请稍后重新发送。",
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
    "admin_only": {
        "en": "Only group admins can do that here.",
        "zh": "只有群管理员可以执行此操作。",
    },
    "internal": {
        "en": "Something went wrong on our side. The operator has been told; please try again.",
        "zh": "我们这边出了点问题，已通知管理员，请重试。",
    },
}


def is_chinese(text: str) -> bool:
    """True when Han characters are a fair share of the text ("请用 Python 写..." counts)."""
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return han > 0 and han * 4 >= latin


def language_of(text: str) -> str:
    return "zh" if is_chinese(text) else "en"


def text(name: str, lang: str = "en", **values: object) -> str:
    variants = _TEXTS[name]
    return variants.get(lang, variants["en"]).format(**values)


def error_text(error: errors.KimiError, lang: str = "en") -> str:
    localized = getattr(error, "localized", None)  # errors with their own texts (limits)
    if callable(localized):
        return str(localized(lang))
    if lang == "zh":
        for cls in type(error).__mro__:
            if cls in _ZH_ERRORS:
                return _ZH_ERRORS[cls]
    return error.user_message
