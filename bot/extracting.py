"""One-shot extraction of files or URLs into JSON-able dicts (`akhbar extract … --json`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.fetch import Fetcher, FetchResult
from bot.pipeline.feeds import ParsedFeed, looks_like_feed, parse_feed
from bot.pipeline.pages import ParsedPage, extract_page

FetcherFactory = Callable[[], Fetcher]


def _iso(value: datetime | None) -> str | None:
    """Format a datetime as ISO 8601 (UTC)."""
    return value.astimezone(UTC).isoformat() if value is not None else None


def feed_dict(feed: ParsedFeed, source: str) -> dict[str, Any]:
    """Return the JSON-able fields of a parsed feed."""
    return {
        "input": source,
        "kind": "feed",
        "feed_kind": feed.kind,
        "title": feed.title,
        "link": feed.link,
        "lang": feed.lang,
        "error": feed.error,
        "items": [
            {
                "guid": item.guid,
                "url": item.url,
                "title": item.title,
                "summary": item.summary,
                "text": item.content or item.summary,
                "published": _iso(item.published),
                "lang": item.lang,
                "author": item.author,
                "image_caption": item.image_caption,
            }
            for item in feed.items
        ],
    }


def page_dict(page: ParsedPage, source: str) -> dict[str, Any]:
    """Return the JSON-able fields of an extracted page."""
    return {
        "input": source,
        "kind": "page",
        "url": page.url,
        "title": page.title,
        "lede": page.lede,
        "text": page.text,
        "published": _iso(page.published) if page.has_date else None,
        "lang": page.lang,
        "image_caption": page.image_caption,
        "source_line": page.source_line,
        "related": [{"title": t, "url": u} for t, u in page.related],
        "encoding": page.encoding,
        "error": page.error,
    }


def extract_bytes(
    data: bytes, url: str, headers: dict[str, str] | None, source: str, now: datetime
) -> dict[str, Any]:
    """Detect feed or page by content and extract it."""
    content_type = (headers or {}).get("content-type")
    if looks_like_feed(data, content_type):
        return feed_dict(parse_feed(data, url, headers, now), source)
    return page_dict(extract_page(data, url, headers, now), source)


def _is_url(value: str) -> bool:
    """Tell whether an input names an http(s) URL."""
    return value.lower().startswith(("http://", "https://"))


async def _fetch_all(urls: list[str], factory: FetcherFactory) -> dict[str, FetchResult]:
    """Fetch the URL inputs concurrently with one fetcher."""
    async with factory() as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    return dict(zip(urls, results, strict=True))


def extract_inputs(
    inputs: list[str],
    original_url: str | None,
    fetcher_factory: FetcherFactory | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one extraction dict per input (file path or URL), in input order."""
    now = datetime.now(UTC)
    urls = [i for i in inputs if _is_url(i)]
    fetched: dict[str, FetchResult] = {}
    if urls:
        fetched = asyncio.run(_fetch_all(urls, fetcher_factory or Fetcher))
    for source in inputs:
        try:
            if _is_url(source):
                result = fetched[source]
                if result.error is not None:
                    yield {"input": source, "kind": "error", "error": result.error}
                    continue
                yield extract_bytes(result.body, result.final_url, result.headers, source, now)
                continue
            data = Path(source).read_bytes()
            url = original_url or Path(source).resolve().as_uri()
            yield extract_bytes(data, url, None, source, now)
        except OSError as exc:
            yield {"input": source, "kind": "error", "error": f"{type(exc).__name__}: {exc}"}
