"""Options written into a search query: a time window ("7d", "24h", "2w") and a language.

Pure. `/search flood 7d` and `akhbar search "flood 7d"` both mean: articles of the last seven
days about flood. A trailing `lang:en` / `lang:ar` keeps one language. Options are read from
the end of the query only, so a word like "7d" inside a headline stays a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_WINDOW = re.compile(r"(\d{1,4})([hdwm])", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_UNITS["m"] = timedelta(days=30)
_LANG = re.compile(r"lang:(en|ar)", re.IGNORECASE)
MAX_WINDOW = timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """The words to search for and the filters written after them."""

    words: str
    window: timedelta | None = None
    lang: str | None = None

    def since(self, now: datetime) -> datetime | None:
        """The earliest publication time wanted, or None for any age."""
        return None if self.window is None else now - self.window

    def langs(self) -> list[str] | None:
        """The languages wanted, or None for all."""
        return None if self.lang is None else [self.lang]


def parse_window(token: str) -> timedelta | None:
    """A time window such as 7d, 24h, 2w or 3m (30-day months), or None when not one."""
    match = _WINDOW.fullmatch(token.strip())
    if match is None or int(match.group(1)) == 0:
        return None
    return min(_UNITS[match.group(2).lower()] * int(match.group(1)), MAX_WINDOW)


def parse_search(text: str) -> SearchOptions:
    """Split trailing options (a window, a `lang:` choice, in any order) from the words."""
    tokens = text.split()
    window: timedelta | None = None
    lang: str | None = None
    while len(tokens) > 1:
        last = tokens[-1]
        if window is None and (parsed := parse_window(last)) is not None:
            window = parsed
        elif lang is None and (match := _LANG.fullmatch(last)) is not None:
            lang = match.group(1).lower()
        else:
            break
        tokens.pop()
    return SearchOptions(" ".join(tokens), window, lang)
