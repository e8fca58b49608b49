"""Names people recognise for sources: the feed's own title or the site's name, cleaned.

Pure. `discover_name` reads a fetched body once (the first successful fetch of a source
added without a name): a feed's title (RSS channel, Atom feed, JSON Feed), or for a page
`og:site_name`, else `<title>` without its " | section" tail. `clean_source_name` makes
any such text safe to show: control and bidi-override characters removed, whitespace
collapsed, bounded; empty means "no name" (the host stays).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Final

import lxml.html
from lxml import etree

from bot.pipeline.decode import charset_from_content_type, decode_bytes
from bot.pipeline.feeds import looks_like_feed, parse_feed

MAX_NAME_CHARS: Final = 200  # sources.name is VARCHAR(200)
HEAD_BYTES: Final = 200_000  # a site name lives in <head>: read no further
#: Bidi embeddings, overrides and isolates: they could reorder the text around a name.
_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: " | Section", " - Section", " — Section", " :: Section": the site name is the first part.
_TITLE_TAIL: Final = re.compile(r"\s+(?:\||-|–|—|·|::|»)\s+")


def clean_source_name(raw: str | None, limit: int = MAX_NAME_CHARS) -> str | None:
    """A source name fit to store and show, or None when nothing printable is left."""
    if not raw:
        return None
    kept = []
    for ch in raw:
        category = unicodedata.category(ch)
        if ch in _BIDI_CONTROLS or category in ("Cc", "Cs", "Co", "Cn"):
            kept.append(" ")
        elif category == "Cf" and ch not in ("\u200c", "\u200d"):  # joiners shape Arabic
            continue
        else:
            kept.append(ch)
    text = " ".join("".join(kept).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def _page_root(data: bytes, headers: Mapping[str, str] | None) -> etree._Element | None:
    """The parsed head of a page (None when it cannot be parsed)."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    try:
        markup, _ = decode_bytes(
            data[:HEAD_BYTES], charset_from_content_type(lowered.get("content-type"))
        )
        cleaned = re.sub(r"^\s*<\?xml[^>]*>", "", markup).replace("\x00", "")
        if not cleaned.strip():
            return None
        return lxml.html.document_fromstring(cleaned)
    except (etree.ParserError, ValueError, LookupError):
        return None


def title_site_name(title: str) -> str:
    """The site part of a page title: "Al Mina Agency | Politics" → "Al Mina Agency"."""
    parts = [p for p in _TITLE_TAIL.split(title.strip()) if p.strip()]
    return parts[0].strip() if parts else ""


def page_site_name(data: bytes, headers: Mapping[str, str] | None = None) -> str | None:
    """A page's site name: og:site_name (or application-name), else its cleaned <title>."""
    root = _page_root(data, headers)
    if root is None:
        return None
    for meta in root.iter("meta"):
        label = str(meta.get("property") or meta.get("name") or "").strip().lower()
        if label in ("og:site_name", "application-name"):
            found = clean_source_name(str(meta.get("content") or ""))
            if found:
                return found
    for element in root.iter("title"):
        found = clean_source_name(title_site_name(element.text_content() or ""))
        if found:
            return found
    return None


def discover_name(
    data: bytes, url: str, headers: Mapping[str, str] | None, now: datetime
) -> str | None:
    """The name a fetched body gives its source: a feed's title or a page's site name."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if looks_like_feed(data, lowered.get("content-type")):
        return clean_source_name(parse_feed(data, url, lowered, now).title)
    return page_site_name(data, lowered)
