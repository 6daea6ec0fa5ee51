"""Replies of the chat commands (their one-line help lives in :mod:`core.command_registry`)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "help_intro": {
        "en": "Kimi bot — ask anything; the conversation is remembered.\nCommands:",
        "zh": "Kimi 机器人——有问题尽管问，对话内容会被记住。\n命令：",
    },
    "admins_mark": {"en": " (admins)", "zh": "（仅管理员）"},
    "unknown_command": {
        "en": "Unknown command /{name}. Send /help to see what I can do.",
        "zh": "没有 /{name} 这个命令。发送 /help 查看我能做什么。",
    },
    "admin_only": {
        "en": "Only group admins can do that here.",
        "zh": "只有群管理员可以执行此操作。",
    },
    "reset_done": {
        "en": "Started a new conversation. The previous one is kept but no longer used.",
        "zh": "已开始新的对话。之前的对话会保留，但不再使用。",
    },
    "model_current": {
        "en": "Current model: {model}\n\n{models}",
        "zh": "当前模型：{model}\n\n{models}",
    },
    "model_unknown": {
        "en": "Unknown model {model!r}. Choose one of:\n{models}",
        "zh": "没有名为“{model}”的模型。请从以下模型中选择：\n{models}",
    },
    "model_switched": {"en": "Model switched to {model}.", "zh": "已切换到模型 {model}。"},
    "model_line": {
        "en": "{marker} {id}: {window}K context, "
        "{sign}{input:g}/{sign}{output:g} per 1M tokens in/out",
        "zh": "{marker} {id}：{window}K 上下文，"
        "每百万 token 输入 {sign}{input:g} / 输出 {sign}{output:g}",
    },
    "model_note": {"en": " ({description})", "zh": "（{description}）"},
    "system_custom": {
        "en": "System prompt for this conversation:\n{prompt}",
        "zh": "本对话的系统提示词：\n{prompt}",
    },
    "system_default": {
        "en": "Default system prompt:\n{prompt}",
        "zh": "默认系统提示词：\n{prompt}",
    },
    "system_cleared": {
        "en": "System prompt reset to the default.",
        "zh": "系统提示词已恢复为默认。",
    },
    "system_too_long": {
        "en": "That system prompt is too long (over {limit:,} characters).",
        "zh": "系统提示词太长（超过 {limit:,} 个字符）。",
    },
    "system_set": {
        "en": "System prompt set for this conversation.",
        "zh": "已为本对话设置系统提示词。",
    },
    "usage_mine": {"en": "Your usage:", "zh": "你的用量："},
    "usage_chat": {"en": "This conversation:", "zh": "本对话的用量："},
    "usage_today": {"en": "Today", "zh": "今天"},
    "usage_month": {"en": "This month", "zh": "本月"},
    "usage_all": {"en": "All time", "zh": "累计"},
    "usage_line": {
        "en": "{label}: {total:,} tokens ({prompt:,} in / {completion:,} out), {cost}, {calls}",
        "zh": "{label}：{total:,} 个 token（输入 {prompt:,} / 输出 {completion:,}），{cost}，"
        "{calls}",
    },
    "usage_call": {"en": "{count} call", "zh": "{count} 次调用"},
    "usage_calls": {"en": "{count} calls", "zh": "{count} 次调用"},
    # Ends a usage line when the period had $web_search calls (each has a fee on top of tokens).
    "usage_searches": {
        "en": ", web searches: {count} (fee {fee})",
        "zh": "，联网搜索：{count} 次（费用 {fee}）",
    },
    # Ends a usage line when Moonshot's prefix cache served some prompt tokens.
    "usage_cache": {
        "en": "; prompt {cached:,} cached + {fresh:,} fresh, caching saved {saved}",
        "zh": "；输入中缓存命中 {cached:,} + 未命中 {fresh:,}，缓存节省 {saved}",
    },
    # The same, when the catalog prices none of these cache hits: its models have no cache-hit
    # price (the brief's kimi-k2, say), or the calls were billed in another currency. "saved
    # ¥0.0000" would be wrong: Moonshot bills cache hits cheaper.
    "usage_cache_unpriced": {
        "en": "; prompt {cached:,} cached + {fresh:,} fresh (the model catalog has no cache-hit "
        "price for these calls, so what caching saved is not known)",
        "zh": "；输入中缓存命中 {cached:,} + 未命中 {fresh:,}（模型目录中没有这些调用的缓存命中价格，节省金额未知）",
    },
    "docs_disabled": {
        "en": "Documents are not enabled on this bot.",
        "zh": "这个机器人没有启用文档功能。",
    },
    "docs_none": {
        "en": "No documents in this conversation yet. Send a file to add one.",
        "zh": "本对话中还没有文档。发送文件即可添加。",
    },
    "docs_title": {"en": "Documents in this conversation:", "zh": "本对话中的文档："},
    "docs_line": {
        "en": "#{number} {name} — {tokens:,} tokens, added by {who} on {when}",
        "zh": "#{number} {name} — {tokens:,} 个 token，由 {who} 于 {when} 添加",
    },
    "forget_usage": {
        "en": "Usage: /forget N (a number from /docs) or /forget all",
        "zh": "用法：/forget N（/docs 列出的编号）或 /forget all",
    },
    "forget_none": {
        "en": "There are no documents in this conversation to remove.",
        "zh": "本对话中没有可以移除的文档。",
    },
    "forget_missing": {
        "en": "There is no document #{number} here. See /docs.",
        "zh": "这里没有 #{number} 号文档。请用 /docs 查看。",
    },
    "forget_all_done": {
        "en": "Removed all {count} document(s) from this conversation.",
        "zh": "已从本对话中移除全部 {count} 个文档。",
    },
    "forget_one_done": {
        "en": "Removed document #{number} from this conversation.",
        "zh": "已从本对话中移除 #{number} 号文档。",
    },
    "search_disabled": {
        "en": "Web search is disabled on this bot.",
        "zh": "这个机器人已关闭联网搜索。",
    },
    "search_on": {"en": "on", "zh": "开启"},
    "search_off": {"en": "off", "zh": "关闭"},
    "search_state": {
        "en": "Web search is {state} here. Use /search on or /search off.",
        "zh": "本对话的联网搜索当前为{state}状态。发送 /search on 或 /search off 切换。",
    },
    "search_set": {
        "en": "Web search is now {state} in this conversation.",
        "zh": "本对话的联网搜索已{state}。",
    },
    "admin_link": {
        "en": "Your sign-in link to the operator console (works once, for {minutes} minutes):\n{url}",
        "zh": "运营控制台的登录链接（仅可使用一次，{minutes} 分钟内有效）：\n{url}",
    },
    "admin_link_private_only": {
        "en": "Send /admin to me in a private chat: the sign-in link is personal.",
        "zh": "请在与我的私聊中发送 /admin：登录链接仅限本人使用。",
    },
    "admin_link_not_admin": {
        "en": "Only the bot's operators (listed in ADMINS) can open the operator console.",
        "zh": "只有机器人的运营者（ADMINS 中列出的用户）才能打开运营控制台。",
    },
    "admin_link_web": {
        "en": "The web chat cannot send a sign-in link: open /admin/login with ADMIN_TOKEN, "
        "or send /admin to the bot in a private Telegram or Slack chat.",
        "zh": "网页聊天无法发送登录链接：请用 ADMIN_TOKEN 打开 /admin/login，"
        "或在 Telegram 或 Slack 私聊中向机器人发送 /admin。",
    },
    "admin_link_off": {
        "en": "The operator console is not available on this server.",
        "zh": "此服务器未提供运营控制台。",
    },
}
