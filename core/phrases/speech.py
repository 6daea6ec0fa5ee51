"""Voice messages: the transcript shown back, and why one could not be heard."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "voice_transcript": {"en": "🎤 “{text}”", "zh": "🎤 “{text}”"},
    "voice_disabled": {
        "en": "Voice messages are not enabled on this bot, so I cannot listen to this one: "
        "please type your message. (The operator can turn them on by setting STT_BASE_URL to "
        "a speech-to-text service.)",
        "zh": "这个机器人没有开启语音消息功能，我听不了这条语音，请改用文字发送。"
        "（运营者可以设置 STT_BASE_URL 指向一个语音转文字服务来开启。）",
    },
    "voice_too_long": {
        "en": "This voice message is {seconds} seconds long; I can transcribe up to {limit} "
        "seconds. Please send a shorter one, or type it.",
        "zh": "这条语音长 {seconds} 秒，我最多只能转写 {limit} 秒。请发送更短的语音，或者改用文字。",
    },
    "voice_too_large": {
        "en": "This voice message is {size}; I can transcribe up to {limit}. "
        "Please send a shorter one, or type it.",
        "zh": "这条语音大小为 {size}，我最多只能转写 {limit}。请发送更短的语音，或者改用文字。",
    },
    "voice_empty": {
        "en": "This voice message is empty (0 bytes), so there is nothing to listen to.",
        "zh": "这条语音是空的（0 字节），没有可以听的内容。",
    },
    "voice_unavailable": {
        "en": "I could not download this voice message. Please send it again.",
        "zh": "我没能下载这条语音，请重新发送。",
    },
    "voice_failed": {
        "en": "I could not transcribe this voice message: the speech-to-text service failed "
        "({detail}). Please try again later, or type your message.",
        "zh": "我没能转写这条语音：语音转文字服务出错了（{detail}）。请稍后再试，或者改用文字。",
    },
    "voice_timeout": {
        "en": "I could not transcribe this voice message: the speech-to-text service did not "
        "answer within {seconds} seconds. Please try again later, or type your message.",
        "zh": "我没能转写这条语音：语音转文字服务在 {seconds} 秒内没有响应。"
        "请稍后再试，或者改用文字。",
    },
    "voice_nothing_heard": {
        "en": "I could not make out any words in this voice message. Please try again closer "
        "to the microphone, or type your message.",
        "zh": "我没能从这条语音里听出任何文字。请靠近麦克风再试一次，或者改用文字。",
    },
    "usage_voice": {
        "en": "voice: {count} messages, {seconds:,.0f} s transcribed",
        "zh": "语音：{count} 条，共转写 {seconds:,.0f} 秒",
    },
    "usage_voice_one": {
        "en": "voice: 1 message, {seconds:,.0f} s transcribed",
        "zh": "语音：1 条，共转写 {seconds:,.0f} 秒",
    },
}
