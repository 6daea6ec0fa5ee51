"""Feedback on answers (👍/👎) and ``/summarize``."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "feedback_prompt": {"en": "Was this answer helpful?", "zh": "这个回答有帮助吗？"},
    "feedback_thanks": {
        "en": "Thanks for the feedback ({rating}).",
        "zh": "感谢你的反馈（{rating}）。",
    },
    "feedback_good": {"en": "Good answer", "zh": "回答得好"},
    "feedback_bad": {"en": "Bad answer", "zh": "回答得不好"},
    "feedback_unknown": {
        "en": "I couldn't find that answer any more, so the rating was not saved.",
        "zh": "找不到那条回答了，评价未保存。",
    },
    "summarize_bad_count": {
        "en": "/summarize takes a number of messages from 2 to {limit}, e.g. /summarize 100.",
        "zh": "/summarize 后面可以跟 2 到 {limit} 之间的消息条数，例如 /summarize 100。",
    },
    "summarize_too_little": {
        "en": "There is too little here to summarize: I have {count} stored message(s) of this "
        "conversation. In Telegram groups I only see messages when privacy mode is off "
        "(BotFather → /setprivacy) or when I'm addressed.",
        "zh": "这里可总结的内容太少：这个对话我只存有 {count} 条消息。在 Telegram 群组中，"
        "只有关闭隐私模式（BotFather → /setprivacy）或有人对我说话时，我才能看到消息。",
    },
    "summarize_request": {
        "en": "Summarize the conversation below (the last {count} messages): the main topics, "
        "what was decided and what is still open, in a few short bullet points. Name people "
        "where it matters. Reply in the language most of the conversation is in.",
        "zh": "请总结下面的对话（最近 {count} 条消息）：主要话题、已经决定的事项和仍待解决的问题，"
        "用几条简短的要点列出，必要时写明是谁说的。用对话中最主要的语言回答。",
    },
    "summarize_trimmed": {
        "en": "Only the newest {kept} of the last {count} messages fit in what the model can read "
        "at once; I'm summarizing those.",
        "zh": "最近 {count} 条消息中，只有最新的 {kept} 条能一次交给模型阅读；我将总结这些消息。",
    },
    "summarize_in_parts": {
        "en": "This history is longer than the model can read at once: I'm summarizing its older "
        "{older} messages in {parts} parts first, then the summary covers those parts and the "
        "newest {kept} messages.",
        "zh": "这段记录太长，模型无法一次读完：我先把较早的 {older} 条消息分成 {parts} 部分分别总结，"
        "再结合这些摘要和最新的 {kept} 条消息给出总结。",
    },
    "summarize_parts_dropped": {
        "en": "The oldest {dropped} messages did not fit even in parts and are left out.",
        "zh": "最早的 {dropped} 条消息即使分段也放不下，未计入总结。",
    },
    "summarize_parts_failed": {
        "en": "Summarizing the older messages in parts failed: {reason}\n{trimmed}",
        "zh": "分段总结较早的消息失败：{reason}\n{trimmed}",
    },
    "summarize_request_parts": {
        "en": "Summarize the conversation below (the last {count} messages: the older {older} as "
        "summaries of {parts} parts, then the newest {kept} as they were said): the main topics, "
        "what was decided and what is still open, in a few short bullet points. Name people "
        "where it matters. Reply in the language most of the conversation is in.",
        "zh": "请总结下面的对话（最近 {count} 条消息：较早的 {older} 条以 {parts} 部分的摘要给出，"
        "最新的 {kept} 条为原文）：主要话题、已经决定的事项和仍待解决的问题，用几条简短的要点列出，"
        "必要时写明是谁说的。用对话中最主要的语言回答。",
    },
    "summarize_part_label": {
        "en": "Summary of earlier part {part} of {parts} ({count} messages):",
        "zh": "较早部分 {part}/{parts} 的摘要（{count} 条消息）：",
    },
    "summarize_newest_label": {
        "en": "The newest {count} messages, as they were said:",
        "zh": "最新的 {count} 条消息（原文）：",
    },
}
