"""Candidates: articles as read from a feed item, a page or a record, before normalisation.

`parse_body` is the whole parse step of a fetched body (feed or page detection, feed
parsing or page extraction, candidates): pure and CPU-heavy, so ingest runs it off the
event loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain import SourceKind
from bot.pipeline.feeds import ParsedItem, looks_like_feed, parse_feed
from bot.pipeline.pages import ParsedPage, extract_page
from bot.pipeline.urls import canonical_url

SUMMARY_ONLY_CHARS = 500
SECTION_MIN_LINKS = 5
SECTION_CHARS_PER_LINK = 200
SECTION_FETCH_LIMIT = 20


@dataclass(frozen=True, slots=True)
class Candidate:
    """An article as read from a feed item, a page or a record, before normalisation."""

    url: str
    title: str
    text: str = ""
    lede: str = ""
    guid: str | None = None
    published: datetime | None = None
    lang: str | None = None
    image_caption: str | None = None
    summary_only: bool = False
    image_url: str | None = None  # the lead image, checked (bot.pipeline.images)

    @property
    def size(self) -> int:
        """Characters of text to normalise (what the work costs)."""
        return len(self.title) + len(self.text) + len(self.lede)


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """What a fetched body holds: a feed's items, a page's article, or a section's links."""

    kind: SourceKind
    candidates: tuple[Candidate, ...] = ()
    links: tuple[str, ...] = ()  # a section page's article links, to fetch
    warning: str | None = None  # a feed error that still left items
    failure: str | None = None  # nothing usable: why


def item_candidate(item: ParsedItem) -> Candidate | None:
    """A candidate from a feed item (None without a title, text or link)."""
    text = item.content or ""
    summary = item.summary or ""
    url = item.url or ""
    if not url and not item.guid:
        return None
    if not (item.title or text or summary):
        return None
    if not url:
        url = "urn:akhbar:guid:" + hashlib.sha1(item.guid.encode("utf-8")).hexdigest()
    summary_only = not text and len(summary) < SUMMARY_ONLY_CHARS and bool(item.url)
    return Candidate(
        url=url,
        title=item.title or (text or summary)[:120],
        text=text or summary,
        lede=summary if text and summary != text else "",
        guid=item.guid or None,
        published=item.published if item.has_date else None,
        lang=item.lang,
        image_caption=item.image_caption,
        summary_only=summary_only,
        image_url=item.image_url,
    )


def page_candidate(page: ParsedPage, guid: str | None = None) -> Candidate | None:
    """A candidate from an extracted article page (None without a title or text)."""
    if not (page.title or page.text):
        return None
    return Candidate(
        url=page.url,
        title=page.title or page.text[:120],
        text=page.text,
        lede=page.lede,
        guid=guid,
        published=page.published if page.has_date else None,
        lang=page.lang,
        image_caption=page.image_caption,
        image_url=page.image_url,
    )


def record_candidate(record: Mapping[str, Any]) -> Candidate | None:
    """A candidate from a JSONL record (`id, title, text, published, url, source, lang`)."""
    title = str(record.get("title") or "").strip()
    text = str(record.get("text") or "").strip()
    if not (title or text):
        return None
    rid = str(record.get("id") or "").strip() or None
    raw_url = str(record.get("url") or "").strip()
    if raw_url:
        url = canonical_url(raw_url)
    else:
        key = rid or hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()
        url = f"urn:akhbar:{record.get('source') or 'jsonl'}:{key}"
    published = record.get("published")
    return Candidate(
        url=url,
        title=title or text[:120],
        text=text,
        lede=str(record.get("lede") or ""),
        guid=rid,
        published=published if isinstance(published, datetime) else None,
        lang=str(record["lang"]) if record.get("lang") else None,
    )


def is_section_page(page: ParsedPage) -> bool:
    """A page listing many article links with little text of its own."""
    links = len(page.links)
    return links >= SECTION_MIN_LINKS and len(page.text) < SECTION_CHARS_PER_LINK * links


def _lowered(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Headers with lower-case names."""
    return {k.lower(): v for k, v in (headers or {}).items()}


def parse_body(
    data: bytes, url: str, headers: Mapping[str, str] | None, now: datetime
) -> ParsedBody:
    """Detect a feed or a page and read its candidates (or a section page's links)."""
    lowered = _lowered(headers)
    if looks_like_feed(data, lowered.get("content-type")):
        feed = parse_feed(data, url, lowered, now)
        candidates = tuple(c for c in map(item_candidate, feed.items) if c is not None)
        if feed.error and not feed.items:
            return ParsedBody(SourceKind.FEED, failure=f"unreadable feed: {feed.error}")
        return ParsedBody(SourceKind.FEED, candidates, warning=feed.error)
    page = extract_page(data, url, lowered, now)
    if is_section_page(page):
        return ParsedBody(SourceKind.PAGE, links=tuple(page.links[:SECTION_FETCH_LIMIT]))
    candidate = page_candidate(page)
    if candidate is None:
        return ParsedBody(SourceKind.PAGE, failure=page.error or "no article found on the page")
    return ParsedBody(SourceKind.PAGE, (candidate,))


def parse_page(
    data: bytes, url: str, headers: Mapping[str, str] | None, now: datetime
) -> Candidate | None:
    """The article of a linked page (None when there is none)."""
    return page_candidate(extract_page(data, url, _lowered(headers), now))
