"""Arabic and English interface strings: gettext catalogs read with Babel, plus formatting.

Catalogs live in ``bot/presentation/locales/<lang>/LC_MESSAGES/akhbar.po``. Message ids are stable
keys ("start.welcome"); each catalog holds the text in its own language. Plural messages
use ``msgid_plural = <key>.plural`` and the catalog's own Plural-Forms (Arabic has six).

Catalog text is a Telegram-HTML template (``cmd.*``, ``btn.*`` and ``toast.*`` are plain
text). :func:`t` fills ``{name}`` fields with ``str.format`` and does **not** escape them:
callers that put outside text into a message escape it first (``bot.presentation.render`` does).

Numbers use Western digits in both languages (``1,234``): they are what most Arabic news
sites print, they read the same in both interfaces and mix cleanly with times and ids.
Dates use Babel's CLDR data, so Arabic gets Arabic month names ("14 مايو 2025").
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from bot.domain import SUPPORTED_LANGUAGES
from bot.domain import normalize_lang as normalize_lang
from bot.domain import pick_language as pick_language

SUPPORTED: Final = SUPPORTED_LANGUAGES
DOMAIN: Final = "akhbar"
LOCALES_DIR: Final = Path(__file__).resolve().parent / "locales"

USER_COMMANDS: Final = (
    "start",
    "help",
    "topics",
    "follow",
    "unfollow",
    "mysubs",
    "search",
    "latest",
    "story",
    "digest",
    "settings",
    "language",
    "stop",
    "mute",
    "unmute",
    "channel",
)
ADMIN_COMMANDS: Final = ("sources", "addsource", "removesource", "stats", "export", "import")

_PLURAL_SUFFIX: Final = ".plural"


@dataclass(frozen=True, slots=True)
class _Catalog:
    """One loaded language: gettext lookups and the raw entries for checks."""

    translations: Translations
    entries: dict[str, tuple[str, ...]]
    plurals: frozenset[str]


class _Blank(dict[str, Any]):
    """Mapping for ``format_map`` that leaves unknown ``{fields}`` as they are."""

    def __missing__(self, key: str) -> str:
        """Render a missing field as itself instead of raising."""
        return "{" + key + "}"


def _po_path(lang: str) -> Path:
    """Path of the .po catalog for a language."""
    return LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def _catalog(lang: str) -> _Catalog:
    """Read, compile in memory and cache the catalog of one language."""
    if lang not in SUPPORTED:
        raise ValueError(f"unsupported language: {lang!r}")
    with _po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    entries: dict[str, tuple[str, ...]] = {}
    plurals: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            key = str(message.id[0])
            forms = message.string if isinstance(message.string, (tuple, list)) else ()
            entries[key] = tuple(str(s or "") for s in forms)
            plurals.add(key)
        else:
            entries[str(message.id)] = (str(message.string or ""),)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    translations = Translations(fp=buffer, domain=DOMAIN)
    if lang != "en":
        translations.add_fallback(_catalog("en").translations)
    return _Catalog(translations, entries, frozenset(plurals))


def catalog_entries(lang: str) -> dict[str, tuple[str, ...]]:
    """All keys of a catalog with their translation(s); plural keys carry every form."""
    return dict(_catalog(lang).entries)


def plural_keys(lang: str) -> frozenset[str]:
    """Keys of a catalog that are plural messages."""
    return _catalog(lang).plurals


def _fill(template: str, kwargs: dict[str, Any]) -> str:
    """Fill ``{name}`` fields; unknown fields stay visible rather than crash."""
    if not kwargs and "{" not in template:
        return template
    return template.format_map(_Blank(kwargs))


def t(lang: str, key: str, **kwargs: Any) -> str:
    """Translate a key into ``lang`` and fill its fields (values are not escaped)."""
    catalog = _catalog(normalize_lang(lang))
    if key not in _catalog("en").entries:
        raise KeyError(f"unknown message key: {key!r}")
    if key in catalog.plurals:
        return tn(lang, key, int(kwargs.pop("n", 0)), **kwargs)
    return _fill(str(catalog.translations.gettext(key)), kwargs)


def tn(lang: str, key: str, n: int, **kwargs: Any) -> str:
    """Translate a plural key for count ``n``; ``{n}`` is filled with the formatted count."""
    language = normalize_lang(lang)
    catalog = _catalog(language)
    if key not in _catalog("en").plurals:
        raise KeyError(f"unknown plural message key: {key!r}")
    text = str(catalog.translations.ngettext(key, key + _PLURAL_SUFFIX, n))
    kwargs.setdefault("n", format_number(language, n))
    return _fill(text, kwargs)


def format_number(lang: str, n: int | float) -> str:
    """Format a number with grouping and Western digits ("1,234") in either language."""
    return str(format_decimal(n, locale=normalize_lang(lang)))


def zone(tz_name: str | None) -> tzinfo:
    """The tzinfo for an IANA name; unknown or empty names fall back to UTC."""
    if not tz_name:
        return UTC
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def to_local(dt: datetime, tz_name: str | None) -> datetime:
    """Convert a datetime (naive means UTC) to the chat's local time."""
    aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    return aware.astimezone(zone(tz_name))


_DATETIME_PATTERN: Final = {"en": "d MMM y, HH:mm", "ar": "d MMMM y، HH:mm"}
_DATE_PATTERN: Final = {"en": "d MMMM y", "ar": "d MMMM y"}
_TIME_PATTERN: Final = "HH:mm"


def format_datetime(lang: str, dt: datetime, tz_name: str | None) -> str:
    """Local date and time in the chat's timezone ("14 May 2025, 14:05" / "14 مايو 2025، 14:05")."""
    language = normalize_lang(lang)
    local = to_local(dt, tz_name)
    return str(_babel_datetime(local, _DATETIME_PATTERN[language], locale=language))


def format_date(lang: str, value: date | datetime, tz_name: str | None = None) -> str:
    """A calendar date ("14 May 2025" / "14 مايو 2025"); datetimes are first made local."""
    language = normalize_lang(lang)
    if isinstance(value, datetime):
        value = to_local(value, tz_name).date()
    return str(_babel_date(value, _DATE_PATTERN[language], locale=language))


def format_time(lang: str, dt: datetime, tz_name: str | None) -> str:
    """Local 24-hour time in the chat's timezone ("14:05")."""
    local = to_local(dt, tz_name)
    return str(_babel_datetime(local, _TIME_PATTERN, locale=normalize_lang(lang)))


def format_age(lang: str, delta: timedelta) -> str:
    """How long ago, coarsely ("5 min ago" / "منذ 5 دقائق"); future deltas read "just now"."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return t(lang, "age.just_now")
    if seconds < 3600:
        return tn(lang, "age.minutes", seconds // 60)
    if seconds < 86400:
        return tn(lang, "age.hours", seconds // 3600)
    return tn(lang, "age.days", seconds // 86400)


def command_menu(lang: str) -> list[tuple[str, str]]:
    """(command, description) pairs for ``setMyCommands`` in one language."""
    return [(name, t(lang, f"cmd.{name}")) for name in USER_COMMANDS]


def admin_command_menu(lang: str) -> list[tuple[str, str]]:
    """The user menu plus operator commands, for an admin-scoped ``setMyCommands``."""
    return command_menu(lang) + [(name, t(lang, f"cmd.{name}")) for name in ADMIN_COMMANDS]
