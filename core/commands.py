"""Chat commands shared by every adapter: help, reset, model, system, usage, cancel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from core import texts
from core.access import AccessPolicy
from core.catalog import Catalog
from core.documents.library import DocumentLibrary
from core.types import Incoming, ReplySink
from core.usage_report import format_periods, usage_periods
from storage import Database

KNOWN_COMMANDS = (
    "start", "help", "reset", "model", "system", "usage", "cancel", "docs", "forget", "search",
)  # fmt: skip
_ADMIN_IN_GROUPS = {"reset", "system"}

HELP = """Kimi bot — ask anything; the conversation is remembered.
Commands:
/help — this help
/reset — start a new conversation (the old one is kept)
/model [id] — show the model, or switch to another one
/system [text|clear] — show or set the system prompt for this conversation
/usage — your tokens and cost (CNY) today, this month and all time
/cancel — stop the answer in progress
/docs — the documents in this conversation (send a file to add one)
/forget N|all — remove document N (or all) from this conversation
/search on|off — let Kimi search the web in this conversation"""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: str


def parse_command(text: str) -> Command | None:
    """``/name args`` (``/name@bot args`` in Telegram groups); anything else is a question."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2 or stripped[1].isspace():
        return None
    parts = stripped[1:].split(maxsplit=1)
    word, rest = parts[0], (parts[1] if len(parts) > 1 else "")
    name = word.split("@", 1)[0].lower()
    if not name or not name.replace("_", "").isalnum():
        return None
    return Command(name=name, args=rest.strip())


class CommandHandler:
    """Answers commands directly, without a model call."""

    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        access: AccessPolicy,
        default_model: str,
        default_system_prompt: str,
        timezone: ZoneInfo,
        cancel: Callable[[Incoming], Awaitable[bool]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        library: DocumentLibrary | None = None,
        web_search: bool = True,
    ) -> None:
        self._library = library
        self._web_search_default = web_search
        self._web_search_available = web_search
        self._db = db
        self._catalog = catalog
        self._access = access
        self._default_model = default_model
        self._default_system_prompt = default_system_prompt
        self._tz = timezone
        self._cancel = cancel
        self._clock = clock

    async def run(self, command: Command, incoming: Incoming, sink: ReplySink) -> None:
        lang = texts.language_of(incoming.text)
        if (
            command.name in _ADMIN_IN_GROUPS
            and incoming.is_group
            and not (incoming.author_is_chat_admin or self._access.is_admin(incoming.author.id))
        ):
            await sink.reply(texts.text("admin_only", lang))
            return
        handler = {
            "start": self._help,
            "help": self._help,
            "reset": self._reset,
            "model": self._model,
            "system": self._system,
            "usage": self._usage,
            "cancel": self._cancel_command,
            "docs": self._docs,
            "forget": self._forget,
            "search": self._search,
        }.get(command.name)
        if handler is None:
            await sink.reply(f"Unknown command /{command.name}. Send /help to see what I can do.")
            return
        answer = await handler(command.args, incoming)
        if answer:
            await sink.reply(answer)

    async def _help(self, _args: str, _incoming: Incoming) -> str:
        return HELP

    async def _reset(self, _args: str, incoming: Incoming) -> str:
        await self._db.conversations.reset(incoming.key, is_group=incoming.is_group)
        return "Started a new conversation. The previous one is kept but no longer used."

    async def _model(self, args: str, incoming: Incoming) -> str:
        conversation = await self._db.conversations.get_or_create(
            incoming.key, is_group=incoming.is_group
        )
        current = conversation.model or self._default_model
        if not args:
            return f"Current model: {current}\n\n{self._model_list(current)}"
        wanted = args.split()[0]
        if wanted not in self._catalog:
            return f"Unknown model {wanted!r}. Choose one of:\n{self._model_list(current)}"
        await self._db.conversations.update_settings(conversation.id, model=wanted)
        return f"Model switched to {wanted}."

    def _model_list(self, current: str) -> str:
        lines = []
        for spec in self._catalog:
            marker = "•" if spec.id == current else "-"
            lines.append(
                f"{marker} {spec.id}: {spec.context_window // 1024}K context, "
                f"¥{spec.input_price:g}/¥{spec.output_price:g} per 1M tokens in/out"
                + (f" ({spec.description})" if spec.description else "")
            )
        return "\n".join(lines)

    async def _system(self, args: str, incoming: Incoming) -> str:
        conversation = await self._db.conversations.get_or_create(
            incoming.key, is_group=incoming.is_group
        )
        if not args:
            if conversation.system_prompt:
                return f"System prompt for this conversation:\n{conversation.system_prompt}"
            return f"Default system prompt:\n{self._default_system_prompt}"
        if args.lower() in {"clear", "reset", "default"}:
            await self._db.conversations.update_settings(conversation.id, system_prompt=None)
            return "System prompt reset to the default."
        if len(args) > 8000:
            return "That system prompt is too long (over 8,000 characters)."
        await self._db.conversations.update_settings(conversation.id, system_prompt=args)
        return "System prompt set for this conversation."

    async def _usage(self, _args: str, incoming: Incoming) -> str:
        now = self._clock()
        mine = await usage_periods(self._db, now, self._tz, user_id=incoming.author.id)
        report = format_periods("Your usage:", mine)
        if incoming.is_group:
            group = await usage_periods(self._db, now, self._tz, chat_key=incoming.key.label())
            report += "\n\n" + format_periods("This conversation:", group)
        return report

    async def _docs(self, _args: str, incoming: Incoming) -> str:
        if self._library is None:
            return "Documents are not enabled on this bot."
        conversation = await self._db.conversations.active(incoming.key)
        items = await self._library.listing(conversation.id) if conversation else []
        if not items:
            return "No documents in this conversation yet. Send a file to add one."
        lines = ["Documents in this conversation:"]
        for item in items:
            who = item.added_by_name or item.added_by
            when = item.added_at.astimezone(self._tz).strftime("%Y-%m-%d %H:%M")
            lines.append(
                f"#{item.number} {item.name} — {item.token_count:,} tokens, added by {who} on {when}"
            )
        return "\n".join(lines)

    async def _forget(self, args: str, incoming: Incoming) -> str:
        if self._library is None:
            return "Documents are not enabled on this bot."
        target = args.strip().lower().lstrip("#")
        if target != "all" and not target.isdigit():
            return "Usage: /forget N (a number from /docs) or /forget all"
        conversation = await self._db.conversations.active(incoming.key)
        removed = 0
        if conversation is not None:
            removed = await self._library.forget(
                conversation.id, None if target == "all" else int(target)
            )
        if removed == 0 and target == "all":
            return "There are no documents in this conversation to remove."
        if removed == 0:
            return f"There is no document #{target} here. See /docs."
        if target == "all":
            return f"Removed all {removed} document(s) from this conversation."
        return f"Removed document #{target} from this conversation."

    async def _search(self, args: str, incoming: Incoming) -> str:
        conversation = await self._db.conversations.get_or_create(
            incoming.key, is_group=incoming.is_group
        )
        current = bool(conversation.options.get("web_search", self._web_search_default))
        if not self._web_search_available:
            return "Web search is disabled on this bot."
        choice = args.strip().lower()
        if choice not in {"on", "off"}:
            return (
                f"Web search is {'on' if current else 'off'} here. Use /search on or /search off."
            )
        options = {**conversation.options, "web_search": choice == "on"}
        await self._db.conversations.update_settings(conversation.id, options=options)
        return f"Web search is now {choice} in this conversation."

    async def _cancel_command(self, _args: str, incoming: Incoming) -> str | None:
        """The stopped answer says "Stopped." itself, so a successful cancel adds nothing."""
        if await self._cancel(incoming):
            return None
        return texts.text("nothing_to_cancel", texts.language_of(incoming.text))
