"""Display-text cleaning and timestamp normalisation (pure functions)."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from time import struct_time

import lxml.html
from lxml import etree

# Zero-width characters, bidi embeddings/overrides/isolates, marks, BOM, soft hyphen, tatweel.
_INVISIBLE = re.compile(
    "[\u00ad\u0640\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_LINE_SPACES = re.compile(r" *\n *")
_BLOCK_TAGS = frozenset(
    {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption"}
    | {"figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li"}
    | {"main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th"}
    | {"thead", "tr", "ul"}
)
_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg")
_FUTURE_SLACK = timedelta(minutes=10)
# libxml2's HTML parser stops building the tree at this depth and drops what is nested below.
_PARSER_MAX_DEPTH = 255
_DROPPED_OPEN = re.compile(r"<(script|style|noscript|template|svg)\b", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^<>]*>")  # never scans past the next "<": linear time


def clean_text(s: str | None) -> str:
    """Unescape entities, drop invisible characters and collapse whitespace, keeping paragraphs."""
    return normalise_text(html.unescape(s)) if s else ""


def normalise_text(text: str | None) -> str:
    """Drop invisible characters and collapse whitespace, keeping paragraph breaks (no unescaping)."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    text = text.replace("\u2029", "\n\n").replace("\xa0", " ").replace("\t", " ")
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text)
    text = _LINE_SPACES.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def _walk_text(node: etree._Element, out: list[str]) -> None:
    """Append the text of an element tree to out, marking block boundaries with newlines."""
    tag = node.tag if isinstance(node.tag, str) else ""
    tag = tag.rsplit("}", 1)[-1].lower()
    if tag in _DROP_TAGS or not isinstance(node.tag, str):
        if node.tail:
            out.append(node.tail)
        return
    if tag == "br":
        out.append("\n")
        if node.tail:
            out.append(node.tail)
        return
    block = tag in _BLOCK_TAGS
    if block:
        out.append("\n\n" if tag in ("p", "div", "li", "tr", "blockquote") else "\n")
    if node.text:
        out.append(node.text)
    for child in node:
        _walk_text(child, out)
    if block:
        out.append("\n\n" if tag in ("p", "div", "blockquote") else "\n")
    if node.tail:
        out.append(node.tail)


def tree_depth(root: etree._Element) -> int:
    """The depth of an element tree (the root alone is 1), without recursion."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node)
    return deepest


def without_dropped_blocks(markup: str) -> str:
    """Markup minus script/style/... elements and their content, in one linear scan (an
    unclosed one drops the rest)."""
    kept: list[str] = []
    lowered = markup.lower()
    position = 0
    while (found := _DROPPED_OPEN.search(markup, position)) is not None:
        kept.append(markup[position : found.start()])
        close = lowered.find(f"</{found.group(1).lower()}", found.end())
        if close < 0:
            return " ".join(kept)
        end = lowered.find(">", close)
        position = len(markup) if end < 0 else end + 1
        kept.append(" ")
    kept.append(markup[position:])
    return "".join(kept)


def flat_text(markup: str) -> str:
    """Text of markup with every tag removed (scripts and styles dropped): the fallback when
    the markup cannot be parsed as a tree, or nests deeper than the parser keeps."""
    return clean_text(_ANY_TAG.sub(" ", without_dropped_blocks(markup)))


def html_to_text(markup: str | None) -> str:
    """Turn an HTML fragment or document into clean display text."""
    if not markup:
        return ""
    if "<" not in markup:
        return clean_text(markup)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        try:
            root = lxml.html.document_fromstring(markup)
        except (etree.ParserError, ValueError):
            return flat_text(markup)
    if root is None:
        return ""
    if tree_depth(root) >= _PARSER_MAX_DEPTH:  # the parser dropped what was nested deeper
        return flat_text(markup)
    out: list[str] = []
    _walk_text(root, out)
    return normalise_text("".join(out))


def _coerce(value: object) -> datetime | None:
    """Turn a datetime, struct_time, epoch number or date string into an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, struct_time):
        return datetime(*value[:6], tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                parsed = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def parse_timestamp(value: object, fetched_at: datetime) -> datetime:
    """Return value as an aware UTC datetime; missing, unparsable or future → fetched_at."""
    fallback = fetched_at if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC)
    fallback = fallback.astimezone(UTC)
    try:
        parsed = _coerce(value)
        if parsed is None:
            return fallback
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError, TypeError):
        return fallback
    if parsed > fallback + _FUTURE_SLACK or parsed.year < 1990:
        return fallback
    return parsed
