"""User-facing texts in English and Chinese: which language to answer in, and the formatting.

The sentences themselves live in one catalog, :mod:`core.phrases`. The language follows what
the user wrote; where the words are only a command's syntax (``/docs``, ``/forget all``), the
language the platform reports for the user (Telegram's ``language_code``, the browser's
``Accept-Language``) decides; and where there is no user at all (a notice after a restart),
:func:`both` says it in both languages.
"""

from __future__ import annotations

from core import errors
from core.phrases import CATALOG, LANGUAGES


def is_chinese(text: str) -> bool:
    """True when Han characters are a fair share of the text ("请用 Python 写..." counts)."""
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return han > 0 and han * 4 >= latin


def language_of(text: str) -> str:
    return "zh" if is_chinese(text) else "en"


def language_tag(tag: str) -> str:
    """``zh-CN``, ``zh-hans``, ``zh_TW.UTF-8`` → ``zh``; ``en-GB`` → ``en``; anything else → ``""``."""
    primary = tag.strip().replace("_", "-").split("-", 1)[0].split(".", 1)[0].lower()
    return primary if primary in LANGUAGES else ""


def command_language(args: str, platform_language: str = "") -> str:
    """A command's words are syntax, not language: Chinese arguments make it Chinese, else
    the language the platform reports for the user, else English."""
    if is_chinese(args):
        return "zh"
    return platform_language if platform_language in LANGUAGES else "en"


def known(key: str) -> bool:
    return key in CATALOG


def text(key: str, /, lang: str = "en", **values: object) -> str:
    """The catalog's text in ``lang`` (English if it has none), formatted with ``values``."""
    variants = CATALOG[key]
    return variants.get(lang, variants["en"]).format(**values)


def both(key: str, /, **values: object) -> str:
    """English, then Chinese: for messages no user text asked for (there is nothing to follow)."""
    return "\n".join(text(key, lang, **values) for lang in LANGUAGES)


def error_key(cls: type[errors.KimiError]) -> str:
    """``kimi_<kind>`` of the nearest class in the hierarchy that has a text of its own."""
    for klass in cls.__mro__:
        kind = klass.__dict__.get("kind")
        if kind is not None and f"kimi_{kind}" in CATALOG:
            return f"kimi_{kind}"
    return "kimi_error"


def error_text(error: errors.KimiError, lang: str = "en") -> str:
    localized = getattr(error, "localized", None)  # errors with their own texts (limits)
    if callable(localized):
        return str(localized(lang))
    return text(error_key(type(error)), lang)


# Every Kimi error's Chinese text by class: a view of the catalog, for code that lists them.
_ZH_ERRORS: dict[type[errors.KimiError], str] = {
    cls: text(error_key(cls), "zh")
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.KimiError)
}
