"""Feed parsing: RSS 0.9x/1.0/2.0 and Atom via feedparser, JSON Feed 1.0/1.1 by hand."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import feedparser

from bot.pipeline.clean import html_to_text, normalise_text, parse_timestamp
from bot.pipeline.decode import (
    charset_from_content_type,
    codec_name,
    declared_in_markup,
    looks_arabic_cp1256,
)
from bot.pipeline.images import entry_image, json_item_image
from bot.pipeline.urls import canonical_url

FeedKind = Literal["rss", "atom", "rdf", "json"]

_FEED_ROOT = re.compile(rb"<(?:[A-Za-z0-9_]+:)?(rss|feed|RDF|channel)[\s>/]", re.I)
_XML_DECL_ENCODING = re.compile(rb"""(<\?xml[^>]*?encoding\s*=\s*["'])([^"']+)(["'])""", re.I)
_JSON_FEED_VERSION = re.compile(rb'"version"\s*:\s*"https?://jsonfeed\.org/version/', re.I)
_FEED_TYPES = ("rss", "atom", "rdf", "feed+json", "application/json", "xml")
_BENIGN_BOZO = ("CharacterEncodingOverride", "NonXMLContentType")
_LATIN = frozenset({"ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15", "utf-8"})


@dataclass(frozen=True, slots=True)
class ParsedItem:
    """One entry of a feed, cleaned for display and storage."""

    guid: str
    url: str | None
    title: str
    summary: str
    content: str
    published: datetime
    lang: str | None = None
    author: str | None = None
    image_caption: str | None = None
    has_date: bool = True
    image_url: str | None = None  # the lead image (bot.pipeline.images), checked and absolute


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed: channel metadata, items and the first recorded problem, if any."""

    title: str
    link: str | None
    lang: str | None
    items: list[ParsedItem] = field(default_factory=list)
    error: str | None = None
    kind: FeedKind = "rss"
    encoding: str | None = None


def looks_like_json_feed(data: bytes) -> bool:
    """Tell whether bytes look like a JSON Feed document."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{") and _JSON_FEED_VERSION.search(data[:65536]) is not None


def looks_like_feed(data: bytes, content_type: str | None = None) -> bool:
    """Tell whether a response body is a feed (RSS, Atom, RDF or JSON Feed) rather than a page."""
    if looks_like_json_feed(data):
        return True
    head = data[:2048]
    if b"\x00" in head:
        head = head.replace(b"\x00", b"")
    head = re.sub(rb"<!--.*?-->", b"", head, flags=re.S)
    match = _FEED_ROOT.search(head)
    if match is None:
        return False
    html_at = head.lower().find(b"<html")
    if 0 <= html_at < match.start():
        return False
    ctype = (content_type or "").lower()
    return not ctype or "html" not in ctype or match.group(1).lower() in (b"rss", b"rdf")


def _lower_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Return the headers with lower-case names."""
    return {k.lower(): v for k, v in (headers or {}).items()}


def _recode_arabic(data: bytes, headers: dict[str, str]) -> bytes:
    """Re-encode windows-1256 Arabic mislabelled as Latin (or unlabelled) to UTF-8."""
    declared = charset_from_content_type(headers.get("content-type")) or declared_in_markup(data)
    codec = codec_name(declared)
    if codec not in _LATIN and codec is not None:
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError as exc:
        truncated = exc.start >= len(data) - 3
    if codec in (None, "utf-8") and truncated:
        recoded = data.decode("utf-8", "replace").encode("utf-8")  # cut mid-character
    elif looks_arabic_cp1256(data):
        recoded = data.decode("cp1256", "replace").encode("utf-8")
    else:
        return data
    ctype = headers.get("content-type")
    if ctype:
        headers["content-type"] = re.sub(r";\s*charset=[^;]*", "", ctype) + "; charset=utf-8"
    return _XML_DECL_ENCODING.sub(rb"\1utf-8\3", recoded, count=1)


def _text(detail: Any, fallback: Any = "") -> str:
    """Clean a feedparser text construct, stripping HTML only when it is HTML."""
    if isinstance(detail, Mapping):
        value = str(detail.get("value") or "")
        kind = str(detail.get("type") or "")
        return normalise_text(value) if kind == "text/plain" else html_to_text(value)
    return html_to_text(str(fallback or ""))


def _best_content(entry: Mapping[str, Any]) -> str:
    """Return the longest content body of a feedparser entry as clean text."""
    bodies = [_text(c) for c in entry.get("content") or [] if isinstance(c, Mapping)]
    return max(bodies, key=len, default="")


def _image_caption(entry: Mapping[str, Any]) -> str | None:
    """Return a caption for the entry's image from media:description or media:title."""
    for key in ("media_description", "media_title"):
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return html_to_text(value) or None
    return None


def _fallback_guid(url: str | None, title: str, published: str) -> str:
    """Derive a stable guid for an entry without one."""
    if url:
        return url
    return "sha1:" + hashlib.sha1(f"{title}\n{published}".encode()).hexdigest()


def _entry_lang(entry: Mapping[str, Any], feed_lang: str | None) -> str | None:
    """Return the language tag of an entry, falling back to the feed's."""
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if isinstance(detail, Mapping) and detail.get("language"):
            return str(detail["language"])
    return feed_lang


def _feedparser_item(
    entry: Mapping[str, Any], base: str, feed_lang: str | None, fetched_at: datetime
) -> ParsedItem:
    """Convert one feedparser entry into a ParsedItem."""
    link = entry.get("link")
    url = canonical_url(str(link), base=base) if link else None
    title = _text(entry.get("title_detail"), entry.get("title"))
    summary = _text(entry.get("summary_detail"), entry.get("summary"))
    content = _best_content(entry)
    raw_date = entry.get("published_parsed") or entry.get("updated_parsed")
    raw_date = raw_date or entry.get("created_parsed")
    published = parse_timestamp(raw_date, fetched_at)
    guid = str(entry.get("id") or "").strip() or _fallback_guid(url, title, str(raw_date))
    author = entry.get("author")
    return ParsedItem(
        guid=guid,
        url=url,
        title=title,
        summary=summary,
        content=content,
        published=published,
        lang=_entry_lang(entry, feed_lang),
        author=normalise_text(str(author)) or None if author else None,
        image_caption=_image_caption(entry),
        has_date=raw_date is not None,
        image_url=entry_image(entry, url or base),
    )


def _kind_of(version: str) -> FeedKind:
    """Map feedparser's version string onto our feed kinds."""
    if version.startswith("atom"):
        return "atom"
    if version in ("rss090", "rss10"):
        return "rdf"
    return "rss"


def _dedupe(items: list[ParsedItem]) -> list[ParsedItem]:
    """Keep the first item of each guid."""
    seen: set[str] = set()
    out: list[ParsedItem] = []
    for item in items:
        if item.guid not in seen:
            seen.add(item.guid)
            out.append(item)
    return out


def _parse_xml(
    data: bytes, url: str, headers: Mapping[str, str] | None, fetched_at: datetime
) -> ParsedFeed:
    """Parse RSS/Atom/RDF bytes with feedparser."""
    lowered = _lower_headers(headers)
    lowered.setdefault("content-location", url)
    lowered.setdefault("content-type", "application/xml")
    data = _recode_arabic(data, lowered)
    # Every text construct goes through `html_to_text` (scripts, styles and comments
    # dropped, no markup kept), so feedparser's own HTML sanitising and the resolving of
    # links inside content, about a third of its parsing time, would be thrown away.
    result = feedparser.parse(
        data, response_headers=lowered, sanitize_html=False, resolve_relative_uris=False
    )
    feed = result.get("feed") or {}
    feed_lang = feed.get("language") or (feed.get("title_detail") or {}).get("language")
    items: list[ParsedItem] = []
    errors: list[str] = []
    for entry in result.get("entries") or []:
        try:
            items.append(_feedparser_item(entry, url, feed_lang, fetched_at))
        except Exception as exc:  # one broken entry never loses the others
            errors.append(f"entry skipped: {type(exc).__name__}: {exc}")
    error = None
    bozo = result.get("bozo_exception") if result.get("bozo") else None
    if bozo is not None and type(bozo).__name__ not in _BENIGN_BOZO:
        error = f"{type(bozo).__name__}: {bozo}"
    version = str(result.get("version") or "")
    link = feed.get("link")
    if not version and not items and not link and not feed.get("title") and error is None:
        error = "not a recognised feed"
    return ParsedFeed(
        title=_text(feed.get("title_detail"), feed.get("title")),
        link=canonical_url(str(link), base=url) if link else None,
        lang=str(feed_lang) if feed_lang else None,
        items=_dedupe(items),
        error=error or (errors[0] if errors else None),
        kind=_kind_of(version),
        encoding=str(result.get("encoding") or "") or None,
    )


def _json_author(obj: Mapping[str, Any]) -> str | None:
    """Return the first author name of a JSON Feed item or feed."""
    authors = obj.get("authors")
    if isinstance(authors, list):
        for author in authors:
            if isinstance(author, Mapping) and author.get("name"):
                return normalise_text(str(author["name"]))
    author = obj.get("author")
    if isinstance(author, Mapping) and author.get("name"):
        return normalise_text(str(author["name"]))
    return None


def _json_item(
    obj: Mapping[str, Any], base: str, feed_lang: str | None, fetched_at: datetime
) -> ParsedItem:
    """Convert one JSON Feed item into a ParsedItem."""
    raw_url = obj.get("url") or obj.get("external_url")
    url = canonical_url(str(raw_url), base=base) if isinstance(raw_url, str) else None
    title = html_to_text(str(obj.get("title") or ""))
    content_html = obj.get("content_html")
    if isinstance(content_html, str) and content_html.strip():
        content = html_to_text(content_html)
    else:
        content = normalise_text(str(obj.get("content_text") or ""))
    summary = html_to_text(str(obj.get("summary") or ""))
    raw_date = obj.get("date_published") or obj.get("date_modified")
    raw_id = obj.get("id")
    guid = str(raw_id).strip() if raw_id not in (None, "") else ""
    lang = obj.get("language")
    return ParsedItem(
        guid=guid or _fallback_guid(url, title, str(raw_date)),
        url=url,
        title=title,
        summary=summary,
        content=content,
        published=parse_timestamp(raw_date if isinstance(raw_date, str) else None, fetched_at),
        lang=str(lang) if isinstance(lang, str) and lang else feed_lang,
        author=_json_author(obj),
        image_caption=None,
        has_date=isinstance(raw_date, str) and bool(raw_date),
        image_url=json_item_image(obj, url or base),
    )


def _parse_json(data: bytes, url: str, fetched_at: datetime) -> ParsedFeed:
    """Parse a JSON Feed 1.0/1.1 document."""
    try:
        doc = json.loads(data.decode("utf-8-sig", "replace"))
    except ValueError as exc:
        return ParsedFeed("", None, None, [], f"invalid JSON: {exc}", "json")
    if not isinstance(doc, Mapping):
        return ParsedFeed("", None, None, [], "JSON Feed is not an object", "json")
    lang = doc.get("language") if isinstance(doc.get("language"), str) else None
    home = doc.get("home_page_url")
    base = str(doc.get("feed_url") or url) if isinstance(doc.get("feed_url"), str) else url
    items: list[ParsedItem] = []
    errors: list[str] = []
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        errors.append("JSON Feed has no items list")
        raw_items = []
    for obj in raw_items:
        if not isinstance(obj, Mapping):
            errors.append("JSON Feed item is not an object")
            continue
        try:
            items.append(_json_item(obj, base, lang, fetched_at))
        except Exception as exc:  # one broken item never loses the others
            errors.append(f"item skipped: {type(exc).__name__}: {exc}")
    return ParsedFeed(
        title=html_to_text(str(doc.get("title") or "")),
        link=canonical_url(home, base=url) if isinstance(home, str) and home else None,
        lang=lang,
        items=_dedupe(items),
        error=errors[0] if errors else None,
        kind="json",
        encoding="utf-8",
    )


def parse_feed(
    data: bytes, url: str, headers: Mapping[str, str] | None, fetched_at: datetime
) -> ParsedFeed:
    """Parse feed bytes into a ParsedFeed; malformed input yields what can be saved plus error."""
    try:
        if looks_like_json_feed(data):
            return _parse_json(data, url, fetched_at)
        return _parse_xml(data, url, headers, fetched_at)
    except Exception as exc:  # a feed must never crash the poller
        return ParsedFeed("", None, None, [], f"{type(exc).__name__}: {exc}", "rss")
