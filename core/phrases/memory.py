"""The compacting memory's texts: what /memory says."""

from __future__ import annotations

TEXTS = {
    "memory_summary": {
        "en": (
            "🧠 Memory of this conversation\n"
            "Summarized: the first {covered} messages ({span}), by {model}:\n\n{summary}\n\n"
            "Sent as they are: {recent} newer messages, about {tokens} tokens "
            "(the next summary starts past {limit} tokens). /reset forgets all of it."
        ),
        "zh": (
            "🧠 本对话的记忆\n"
            "已总结：前 {covered} 条消息（{span}），由 {model} 撰写：\n\n{summary}\n\n"
            "原样发送：之后的 {recent} 条消息，约 {tokens} 个 token"
            "（超过 {limit} 个 token 时会再总结）。/reset 会清除全部记忆。"
        ),
    },
    "memory_none": {
        "en": (
            "🧠 No summary yet: this conversation's {recent} messages (about {tokens} tokens) are "
            "sent as they are. Past {limit} tokens the oldest part is summarized, and /memory "
            "shows the summary."
        ),
        "zh": (
            "🧠 还没有总结：本对话的 {recent} 条消息（约 {tokens} 个 token）都会原样发送。"
            "超过 {limit} 个 token 后，较早的部分会被总结，/memory 可查看总结。"
        ),
    },
    "memory_off": {
        "en": (
            "🧠 Memory compaction is off (HISTORY_MAX_TOKENS=0): each answer sees as many recent "
            "messages as fit the model's window. This conversation has {recent} messages."
        ),
        "zh": (
            "🧠 记忆压缩已关闭（HISTORY_MAX_TOKENS=0）：每次回答会带上模型窗口能容纳的最近消息。"
            "本对话共有 {recent} 条消息。"
        ),
    },
}
