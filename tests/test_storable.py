"""Values PostgreSQL (or any driver) refuses never reach storage: NUL, lone surrogates, long keys.

The pure functions first, then the repositories and one whole feed on both engines.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.fetch import Fetcher
from bot.ingest import IngestService
from bot.pipeline.storable import MAX_KEY_BYTES, storable_key, storable_text
from bot.settings import Settings
from bot.stories import StoryService
from storage.db import Database
from storage.models import ArticleRow, SourceRow
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.sources import SourceRepo

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LONG_URL = "https://example.com/a?" + "&".join(f"p{i}=v{i}" for i in range(600))
ARABIC_GUID = "معرف-" * 700  # ~7,000 UTF-8 bytes


def test_storable_text_drops_nul_and_lone_surrogates_only() -> None:
    """NUL and unpaired surrogates go; every other character stays, and clean text is the same object."""
    assert storable_text("a\x00b\ud800c\udfffd") == "abcd"
    clean = "خبر news \t\n\x01 😀"
    assert storable_text(clean) is clean


def test_storable_key_bounded_unique_and_stable() -> None:
    """A long key fits the index limit, is the same every time, and differs for a different tail."""
    key = storable_key(LONG_URL)
    assert len(key.encode("utf-8")) <= MAX_KEY_BYTES
    assert key == storable_key(LONG_URL)
    assert key.startswith(LONG_URL[:1000])
    assert storable_key(LONG_URL + "x") != key
    arabic = storable_key(ARABIC_GUID)
    assert len(arabic.encode("utf-8")) <= MAX_KEY_BYTES
    assert storable_key("https://example.com/short") == "https://example.com/short"


@given(st.text(max_size=3000))
def test_storable_key_always_encodes_within_the_limit(value: str) -> None:
    """Whatever the text, the key encodes as UTF-8 within the byte limit."""
    key = storable_key(value, 300)
    assert len(key.encode("utf-8")) <= 300
    assert "\x00" not in key


def _fields(i: int, **overrides: object) -> ArticleFields:
    """A plain article with overridable fields."""
    base: dict[str, object] = {
        "url": f"https://example.com/{i}",
        "title": f"Headline {i}",
        "text": "Body text.",
        "published_at": T0,
        "search_text": f"headline {i}",
    }
    base.update(overrides)
    return ArticleFields(**base)  # type: ignore[arg-type]


async def test_hostile_articles_stored_and_found_again(db: Database) -> None:
    """NUL, lone surrogates, a 5,000-character URL and a 7 KB Arabic guid all store, and
    the same raw keys find them again (so a re-poll is a duplicate, not a new row)."""
    items = [
        _fields(0, url=LONG_URL, title="long\x00url"),
        _fields(1, guid="id\x00with-nul", text="bad \ud83d surrogate", summary=("a\x00b",)),
        _fields(2, guid=ARABIC_GUID, image_caption="cap\x00tion"),
        _fields(3, url=LONG_URL + "&other=1"),
    ]
    async with db.unit_of_work() as session:
        ids = await ArticleRepo(session).insert_many(items)
    assert len(set(ids)) == 4
    async with db.unit_of_work() as session:
        repo = ArticleRepo(session)
        found = await repo.find_existing_many([(LONG_URL, None, None), ("x", None, ARABIC_GUID)])
        one = await repo.find_existing("nope", None, "id\x00with-nul")
        stored = list(await session.scalars(select(ArticleRow).order_by(ArticleRow.id)))
    assert [a.id if a else None for a in found] == [ids[0], ids[2]]
    assert one is not None and one.id == ids[1]
    assert stored[0].title == "longurl" and stored[1].text == "bad  surrogate"
    assert stored[1].summary == "ab" and stored[2].image_caption == "caption"
    assert all(len(r.url.encode("utf-8")) <= MAX_KEY_BYTES for r in stored)


async def test_long_validators_and_nul_errors_recorded(db: Database) -> None:
    """A 3,000-character ETag and Last-Modified store (they were VARCHAR(500)/(200)); NUL is dropped."""
    async with db.unit_of_work() as session:
        source = await SourceRepo(session).add("https://example.com/feed", "n\x00ame" * 100)
    etag = '"' + "e" * 3000 + '"'
    async with db.unit_of_work() as session:
        repo = SourceRepo(session)
        await repo.record_poll(
            source.id, now=T0, next_poll_at=T0, error=None, etag=etag, last_modified="L\x00" * 1500
        )
        failed = await repo.record_poll(source.id, now=T0, next_poll_at=T0, error="boom\x00" * 1000)
    assert failed is not None and failed.last_error is not None
    assert "\x00" not in failed.last_error and len(failed.last_error) == 2000
    async with db.unit_of_work() as session:
        row = await session.get(SourceRow, source.id)
    assert row is not None and row.etag == etag and row.last_modified == "L" * 1500
    assert len(row.name) == 200 and "\x00" not in row.name


def _json_feed(items: list[dict[str, str]]) -> bytes:
    """A JSON Feed 1.1 document."""
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "F", "items": items}
    return json.dumps(feed).encode("utf-8")


async def test_one_hostile_item_costs_no_other_item(db: Database) -> None:
    """A JSON Feed with a NUL in an id, a lone surrogate in a title and a 5,000-character link:
    every item stores on both engines, and a second read of the same feed adds nothing."""
    items = [
        {
            "id": f"ok-{i}",
            "url": f"https://example.com/n/{i}",
            "title": f"Fine {i}",
            "content_text": f"Ordinary article number {i} with a body.",
        }
        for i in range(3)
    ]
    items.append({"id": "nul\x00id", "title": "NUL id", "content_text": "Has a NUL in its id."})
    items.append(
        {
            "id": "s",
            "url": "https://example.com/s",
            "title": "bad \ud800 title",
            "content_text": "A lone surrogate in the title.",
        }
    )
    items.append(
        {
            "id": "long",
            "url": LONG_URL,
            "title": "Long link",
            "content_text": "A link over two thousand characters.",
        }
    )
    data = _json_feed(items)
    stories = StoryService(db)
    await stories.load()
    async with Fetcher(allow_private=True) as fetcher:
        service = IngestService(db, fetcher, stories, Settings(allow_private_sources=True))
        headers = {"content-type": "application/feed+json"}
        first = await service.ingest_bytes(data, "https://example.com/feed.json", headers)
        again = await service.ingest_bytes(data, "https://example.com/feed.json", headers)
    assert (first.new, first.failed) == (6, 0), first.errors
    assert (again.new, again.duplicate) == (0, 6)
    async with db.unit_of_work() as session:
        titles = sorted(r.title for r in await session.scalars(select(ArticleRow)))
    assert "bad  title" in titles or "bad title" in titles
    assert len(titles) == 6
