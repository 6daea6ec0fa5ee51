"""Chat commands shared by every adapter; which commands exist is :mod:`core.command_registry`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from core import command_registry, texts
from core.access import AccessPolicy
from core.account import AccountUnavailable, Balance
from core.admin_settings import LINK_LIFETIME, AdminLinks
from core.catalog import Catalog
from core.documents.library import DocumentLibrary
from core.images.listing import image_line, parse_image_target
from core.memory.policy import MemoryPolicy
from core.memory.report import memory_report
from core.speech.usage import voice_line
from core.types import Incoming, ReplySink
from core.usage_report import format_periods, usage_periods
from storage import Database

MAX_SYSTEM_PROMPT_CHARS = 8000
Handler = Callable[[str, Incoming, str], Awaitable[str | None]]
BalanceSource = Callable[[], Awaitable[Balance]]


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
        balance: BalanceSource | None = None,
        memory: MemoryPolicy | None = None,
    ) -> None:
        self._memory = memory or MemoryPolicy()
        self._balance = balance
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
        self.admin_links: AdminLinks | None = None  # /admin: set by core.service

    async def run(self, command: Command, incoming: Incoming, sink: ReplySink) -> None:
        lang = texts.command_language(command.args, incoming.language)
        if (
            command.name in command_registry.ADMIN_IN_GROUPS
            and incoming.is_group
            and not (incoming.author_is_chat_admin or self._access.is_admin(incoming.author.id))
        ):
            await sink.reply(texts.text("admin_only", lang))
            return
        handler = self._handlers().get(command.name)
        if handler is None:
            await sink.reply(texts.text("unknown_command", lang, name=command.name))
            return
        answer = await handler(command.args, incoming, lang)
        if answer:
            await sink.reply(answer)

    def _handlers(self) -> dict[str, Handler]:
        """Every registry command but ``ask`` (a plain question, answered by the assistant)."""
        return {
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
            "memory": self._memory_command,
            "admin": self._admin,
        }

    async def _help(self, _args: str, incoming: Incoming, lang: str) -> str:
        return command_registry.help_text(lang, group=incoming.is_group)

    async def _memory_command(self, _args: str, incoming: Incoming, lang: str) -> str:
        """``/memory``: the summary in use and what is still sent verbatim (core.memory)."""
        conversation = await self._db.conversations.active(incoming.key)
        conversation_id = conversation.id if conversation is not None else None
        return await memory_report(self._db, conversation_id, self._memory, lang)

    async def _reset(self, _args: str, incoming: Incoming, lang: str) -> str:
        await self._db.conversations.reset(incoming.key, is_group=incoming.is_group)
        return texts.text("reset_done", lang)

    async def _model(self, args: str, incoming: Incoming, lang: str) -> str:
        conversation = await self._db.conversations.get_or_create(
            incoming.key, is_group=incoming.is_group
        )
        current = conversation.model or self._default_model
        if current not in self._catalog:  # no longer served: answers use the default
            current = self._default_model
        models = self._model_list(current, lang)
        if not args:
            return texts.text("model_current", lang, model=current, models=models)
        wanted = args.split()[0]
        if wanted not in self._catalog:
            return texts.text("model_unknown", lang, model=wanted, models=models)
        await self._db.conversations.update_settings(conversation.id, model=wanted)
        return texts.text("model_switched", lang, model=wanted)

    def _model_list(self, current: str, lang: str) -> str:
        lines = []
        for spec in self._catalog:
            line = texts.text(
                "model_line",
                lang,
                marker="•" if spec.id == current else "-",
                id=spec.id,
                window=spec.context_window // 1024,
                input=spec.input_price,
                output=spec.output_price,
                sign=self._catalog.currency_sign,
            )
            if spec.description:
                line += texts.text("model_note", lang, description=spec.description)
            lines.append(line)
        return "\n".join(lines)

    async def _system(self, args: str, incoming: Incoming, lang: str) -> str:
        conversation = await self._db.conversations.get_or_create(
            incoming.key, is_group=incoming.is_group
        )
        if not args:
            if conversation.system_prompt:
                return texts.text("system_custom", lang, prompt=conversation.system_prompt)
            return texts.text("system_default", lang, prompt=self._default_system_prompt)
        if args.lower() in {"clear", "reset", "default"}:
            await self._db.conversations.update_settings(conversation.id, system_prompt=None)
            return texts.text("system_cleared", lang)
        if len(args) > MAX_SYSTEM_PROMPT_CHARS:
            return texts.text("system_too_long", lang, limit=MAX_SYSTEM_PROMPT_CHARS)
        await self._db.conversations.update_settings(conversation.id, system_prompt=args)
        return texts.text("system_set", lang)

    async def _usage(self, _args: str, incoming: Incoming, lang: str) -> str:
        now = self._clock()
        mine = await usage_periods(
            self._db, now, self._tz, user_id=incoming.author.id, catalog=self._catalog
        )
        currency = self._catalog.currency  # dresses the zeros of periods without calls
        report = format_periods(texts.text("usage_mine", lang), mine, lang, currency)
        voice = await voice_line(self._db, lang, user_id=incoming.author.id)
        report += f"\n{voice}" if voice else ""
        if incoming.is_group:
            group = await usage_periods(
                self._db, now, self._tz, chat_key=incoming.key.label(), catalog=self._catalog
            )
            chat_title = texts.text("usage_chat", lang)
            report += "\n\n" + format_periods(chat_title, group, lang, currency)
            voice = await voice_line(self._db, lang, chat_key=incoming.key.label())
            report += f"\n{voice}" if voice else ""
        elif self._balance is not None and self._access.is_admin(incoming.author.id):
            report += "\n\n" + await self._balance_line(lang)
        return report

    async def _balance_line(self, lang: str) -> str:
        """The account's balance, for an admin in a private chat (a group would see it too)."""
        assert self._balance is not None
        try:
            balance = await self._balance()
        except AccountUnavailable as exc:
            return texts.text("usage_balance_unknown", lang, reason=str(exc))
        return texts.text(
            "usage_balance",
            lang,
            available=balance.money(balance.available),
            voucher=balance.money(balance.voucher),
            cash=balance.money(balance.cash),
        )

    async def _docs(self, _args: str, incoming: Incoming, lang: str) -> str:
        conversation = await self._db.conversations.active(incoming.key)
        images = await self._db.images.listing(conversation.id) if conversation else []
        if self._library is None and not images:
            return texts.text("docs_disabled", lang)
        items = (
            await self._library.listing(conversation.id) if conversation and self._library else []
        )
        if not items and not images:
            return texts.text("docs_none", lang)
        lines = [texts.text("docs_title", lang)] if items else []
        for item in items:
            lines.append(
                texts.text(
                    "docs_line",
                    lang,
                    number=item.number,
                    name=item.name,
                    tokens=item.token_count,
                    who=item.added_by_name or item.added_by,
                    when=item.added_at.astimezone(self._tz).strftime("%Y-%m-%d %H:%M"),
                )
            )
        if images:  # numbered apart ("image #N"): see docs/images.md
            if items:
                lines.append("")
            lines.append(texts.text("images_title", lang))
            lines += [image_line(image, lang, self._tz) for image in images]
        return "\n".join(lines)

    async def _forget(self, args: str, incoming: Incoming, lang: str) -> str:
        image_number = parse_image_target(args)
        if image_number is not None:
            return await self._forget_image(image_number, incoming, lang)
        target = args.strip().lower().lstrip("#")
        if target != "all" and not target.isdigit():
            return texts.text("forget_usage_images", lang)
        conversation = await self._db.conversations.active(incoming.key)
        images = 0
        if conversation is not None and target == "all":
            images = await self._db.images.forget(conversation.id, None)
        if self._library is None and not images:
            return texts.text("docs_disabled", lang)
        removed = 0
        if conversation is not None and self._library is not None:
            removed = await self._library.forget(
                conversation.id, None if target == "all" else int(target)
            )
        if removed == 0 and images == 0 and target == "all":
            return texts.text("forget_none", lang)
        if removed == 0 and target != "all":
            return texts.text("forget_missing", lang, number=target)
        if target == "all" and images:
            return texts.text("forget_all_images_done", lang, count=removed + images)
        if target == "all":
            return texts.text("forget_all_done", lang, count=removed)
        return texts.text("forget_one_done", lang, number=target)

    async def _forget_image(self, number: int, incoming: Incoming, lang: str) -> str:
        conversation = await self._db.conversations.active(incoming.key)
        removed = await self._db.images.forget(conversation.id, number) if conversation else 0
        key = "image_forget_done" if removed else "image_forget_missing"
        return texts.text(key, lang, number=number)

    async def _search(self, args: str, incoming: Incoming, lang: str) -> str:
        conversation = await self._db.conversations.get_or_create(
            incoming.key, is_group=incoming.is_group
        )
        current = bool(conversation.options.get("web_search", self._web_search_default))
        if not self._web_search_available:
            return texts.text("search_disabled", lang)
        choice = args.strip().lower()
        if choice not in {"on", "off"}:
            state = texts.text("search_on" if current else "search_off", lang)
            return texts.text("search_state", lang, state=state)
        options = {**conversation.options, "web_search": choice == "on"}
        await self._db.conversations.update_settings(conversation.id, options=options)
        return texts.text("search_set", lang, state=texts.text(f"search_{choice}", lang))

    async def _admin(self, _args: str, incoming: Incoming, lang: str) -> str:
        """A one-time link to the operator console, for an admin in a private chat."""
        if incoming.is_group:
            return texts.text("admin_link_private_only", lang)
        if not self._access.is_admin(incoming.author.id):
            return texts.text("admin_link_not_admin", lang)
        if incoming.key.platform == "web":  # a browser session, not a person's account
            return texts.text("admin_link_web", lang)
        if self.admin_links is None:
            return texts.text("admin_link_off", lang)
        url = await self.admin_links.link_for(incoming.author.id)
        minutes = int(LINK_LIFETIME.total_seconds() // 60)
        return texts.text("admin_link", lang, url=url, minutes=minutes)

    async def _cancel_command(self, _args: str, incoming: Incoming, lang: str) -> str | None:
        """The stopped answer says "Stopped." itself, so a successful cancel adds nothing."""
        if await self._cancel(incoming):
            return None
        return texts.text("nothing_to_cancel", lang)
