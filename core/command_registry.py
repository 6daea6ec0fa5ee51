"""Every chat command, once: its name, arguments, where it is offered, who may use it, and a
one-line help in English and Chinese.

``/help``, Telegram's command menus, Slack's ``/kimi`` help and the web chat's hints are all
made from :data:`COMMANDS`, so a command added here shows up everywhere at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core import texts


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command. ``args`` is how its arguments are written (``[id]``, ``N|all``)."""

    name: str
    help: Mapping[str, str]  # {"en": ..., "zh": ...}: what it does, lower-case, no full stop
    args: str = ""
    admin_in_groups: bool = False  # in groups, only chat admins and the bot's ADMINS may use it
    private: bool = True  # offered in private chats: DMs, the web chat, the terminal
    groups: bool = True  # offered in groups and channel threads
    conversation: bool = True  # acts on one conversation (in Slack channels: inside the thread)

    def usage(self) -> str:
        """``/model [id]``."""
        return f"/{self.name} {self.args}".rstrip()

    def describe(self, lang: str, *, group: bool = False) -> str:
        """The help line's text, marked for admins where that applies."""
        line = self.help.get(lang, self.help["en"])
        if group and self.admin_in_groups:
            line += texts.text("admins_mark", lang)
        return line


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "start",
        {
            "en": "start chatting with Kimi (shows this help)",
            "zh": "开始与 Kimi 聊天（显示本帮助）",
        },
        groups=False,
        conversation=False,
    ),
    CommandSpec(
        "ask",
        {"en": "ask Kimi a question", "zh": "向 Kimi 提问"},
        args="question",
        private=False,
    ),
    CommandSpec(
        "help",
        {"en": "what I can do (this list)", "zh": "我能做什么（本列表）"},
        conversation=False,
    ),
    CommandSpec(
        "reset",
        {
            "en": "start a new conversation (the old one is kept)",
            "zh": "开始新的对话（旧对话会保留）",
        },
        admin_in_groups=True,
    ),
    CommandSpec(
        "model",
        {"en": "show the model, or switch to another one", "zh": "查看当前模型，或切换到其他模型"},
        args="[id]",
    ),
    CommandSpec(
        "system",
        {
            "en": "show or set the system prompt for this conversation",
            "zh": "查看或设置本对话的系统提示词",
        },
        args="[text|clear]",
        admin_in_groups=True,
    ),
    CommandSpec(
        "usage",
        {
            "en": "your tokens and cost today, this month and all time",
            "zh": "你今天、本月和累计的 token 用量与费用",
        },
        conversation=False,
    ),
    CommandSpec("cancel", {"en": "stop the answer in progress", "zh": "停止正在生成的回答"}),
    CommandSpec(
        "docs",
        {
            "en": "the documents and images in this conversation (send a file or photo to add one)",
            "zh": "本对话中的文档和图片（发送文件或图片即可添加）",
        },
    ),
    CommandSpec(
        "forget",
        {
            "en": "remove document N, image N (`/forget image N`) or all of them from this conversation",
            "zh": "从本对话中移除第 N 号文档、第 N 张图片（/forget image N）或全部",
        },
        args="N|image N|all",
    ),
    CommandSpec(
        "search",
        {
            "en": "let Kimi search the web in this conversation",
            "zh": "在本对话中开关 Kimi 的联网搜索",
        },
        args="on|off",
    ),
    CommandSpec(
        "memory",
        {
            "en": "show what Kimi remembers of this conversation (its summary)",
            "zh": "查看 Kimi 对本对话的记忆（总结）",
        },
    ),
    CommandSpec(
        "summarize",
        {
            "en": "summarize the last N messages of this chat (default 50)",
            "zh": "总结本聊天最近 N 条消息（默认 50 条）",
        },
        args="[N]",
        conversation=False,  # in a Slack channel: what is stored for the channel itself
    ),
    CommandSpec(
        "admin",
        {
            "en": "a one-time sign-in link to the operator console (operators only)",
            "zh": "获取运营控制台的一次性登录链接（仅限运营者）",
        },
        groups=False,  # the link is personal: private chats only
        conversation=False,
    ),
)

NAMES: frozenset[str] = frozenset(spec.name for spec in COMMANDS)
ADMIN_IN_GROUPS: frozenset[str] = frozenset(s.name for s in COMMANDS if s.admin_in_groups)
CONVERSATION_COMMANDS: frozenset[str] = frozenset(s.name for s in COMMANDS if s.conversation)
# Answered by the model as a turn (the assistant), not by a command handler.
TURN_COMMANDS: frozenset[str] = frozenset({"ask", "summarize"})


def offered(*, group: bool) -> tuple[CommandSpec, ...]:
    """The commands listed in a group (or channel thread), or in a private chat."""
    return tuple(spec for spec in COMMANDS if (spec.groups if group else spec.private))


def help_text(lang: str, *, group: bool = False) -> str:
    """``/help``: an introduction, then one line per command offered here."""
    lines = [texts.text("help_intro", lang)]
    lines += [
        f"{spec.usage()} — {spec.describe(lang, group=group)}" for spec in offered(group=group)
    ]
    return "\n".join(lines)


def hints(lang: str) -> list[dict[str, str]]:
    """The private chat's commands as data (the web chat's hints under the message box)."""
    return [
        {"name": spec.name, "args": spec.args, "help": spec.describe(lang)}
        for spec in offered(group=False)
    ]
