"""What only one platform's adapter says: Telegram's download limit, Slack's files and channels."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "slack_thinking": {"en": "is thinking…", "zh": "正在思考…"},
    "telegram_too_large": {
        "en": "“{name}” is {size}. Telegram lets bots download files up to 20 MB, so I can't "
        "read it. Please send a smaller file (or split it).",
        "zh": "“{name}” 大小为 {size}。Telegram 只允许机器人下载 20 MB 以内的文件，"
        "所以我无法读取它。请发送更小的文件（或拆分后发送）。",
    },
    "telegram_unsupported_media": {
        "en": "I can't use {what} yet. I understand photos, images sent as files, voice notes, "
        "audio files and round video notes (for their sound), plus documents.",
        "zh": "我暂时无法处理{what}。我能理解照片、以文件形式发送的图片、语音消息、音频文件和"
        "圆形视频消息（仅其声音），以及文档。",
    },
    "telegram_media_sticker": {"en": "stickers", "zh": "贴纸"},
    "telegram_media_animation": {"en": "GIFs and animations", "zh": "GIF 动图和动画"},
    "telegram_media_video": {"en": "videos", "zh": "视频"},
    "slack_no_permission": {
        "en": "I can't open {name}: this Slack app lacks the files:read permission. "
        "Ask a workspace admin to add the files:read scope and reinstall the app.",
        "zh": "我无法打开 {name}：这个 Slack 应用缺少 files:read 权限。"
        "请让工作区管理员添加 files:read 权限范围并重新安装应用。",
    },
    "slack_file_too_big": {
        "en": "{name} is {size:.0f} MB, over the {limit} MB limit for documents, so I skipped it.",
        "zh": "{name} 大小为 {size:.0f} MB，超过了文档 {limit} MB 的上限，已跳过。",
    },
    "slack_file_unavailable": {
        "en": "I couldn't download {name} from Slack ({status}). Please try again.",
        "zh": "无法从 Slack 下载 {name}（{status}），请重试。",
    },
    "slack_file_failed": {
        "en": "I couldn't download {name} from Slack.",
        "zh": "无法从 Slack 下载 {name}。",
    },
    "slack_a_file": {"en": "a file", "zh": "一个文件"},
    "slack_help_note": {
        "en": "In Slack, write a command as `/kimi reset`; inside a thread, mention me and add "
        "the command (`/reset`).",
        "zh": "在 Slack 中，命令要写成 `/kimi reset`；在讨论串中，请提及我并加上命令（`/reset`）。",
    },
    "slack_channel_hint": {
        "en": "In channels each thread is its own conversation, so send this inside the thread: "
        "mention me with the command, e.g. `{mention} /{name}`.",
        "zh": "在频道里，每个讨论串都是一个单独的对话，所以请在讨论串中发送："
        "提及我并附上命令，例如 `{mention} /{name}`。",
    },
    # The Slack assistant panel: its prompts' heading and the default prompts ("|"-separated,
    # like SLACK_SUGGESTED_PROMPTS), and how a file in a thread read as context is named.
    "slack_prompts_title": {"en": "Try asking", "zh": "试着问问"},
    "slack_suggested_prompts": {
        "en": "Summarize this channel|Explain a concept simply|Help me draft a message",
        "zh": "总结这个频道|用简单的话解释一个概念|帮我起草一条消息",
    },
    "slack_shared_files": {"en": "[shared files: {names}]", "zh": "[分享的文件：{names}]"},
}
