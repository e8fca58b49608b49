"""Repository behaviour on SQLite and PostgreSQL (the `db` fixture runs each test on both)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import text

from bot.domain import ChatType, DeliveryMode, FollowKind, SourceKind
from storage.db import Database
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.ops import CallbackTokenRepo, LeaseRepo, NoticeRepo
from storage.repos.sources import SourceExists, SourceRepo
from storage.repos.stories import StoryRepo

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def test_sources_add_list_remove(db: Database) -> None:
    """A source is stored once per URL, listed, and removed."""
    async with db.unit_of_work() as s:
        src = await SourceRepo(s).add("https://example.com/rss", "Example", lang="ar")
    assert src.id > 0 and src.kind == SourceKind.UNKNOWN and src.lang == "ar"
    with pytest.raises(SourceExists):
        async with db.unit_of_work() as s:
            await SourceRepo(s).add("https://example.com/rss", "Again")
    async with db.unit_of_work() as s:
        assert [x.url for x in await SourceRepo(s).list_all()] == ["https://example.com/rss"]
        assert await SourceRepo(s).remove(src.id)
        assert not await SourceRepo(s).remove(src.id)


async def test_source_claims_are_exclusive_and_expire(db: Database) -> None:
    """A due source is claimed by one holder until its lease ends."""
    async with db.unit_of_work() as s:
        await SourceRepo(s).add("https://a.example/feed", "A")
    async with db.unit_of_work() as s:
        first = await SourceRepo(s).claim_due(T0, "p1", T0 + timedelta(seconds=30), 10)
    async with db.unit_of_work() as s:
        second = await SourceRepo(s).claim_due(T0, "p2", T0 + timedelta(seconds=30), 10)
    async with db.unit_of_work() as s:
        later = await SourceRepo(s).claim_due(
            T0 + timedelta(seconds=31), "p2", T0 + timedelta(60), 10
        )
    assert len(first) == 1 and second == [] and len(later) == 1


async def test_record_poll_backs_off_and_pauses_with_notice(db: Database) -> None:
    """Failures count up; the Nth pauses the source and leaves an operator notice."""
    async with db.unit_of_work() as s:
        src = await SourceRepo(s).add("https://b.example/feed", "B")
    for _ in range(3):
        async with db.unit_of_work() as s:
            after = await SourceRepo(s).record_poll(
                src.id,
                now=T0,
                next_poll_at=T0 + timedelta(hours=1),
                error="HTTP 500",
                pause_after=3,
            )
    assert after is not None and after.paused and after.error_count == 3
    async with db.unit_of_work() as s:
        notices = await NoticeRepo(s).recent()
        ok = await SourceRepo(s).record_poll(
            src.id, now=T0, next_poll_at=T0, error=None, etag='"v2"', kind=SourceKind.FEED
        )
    assert len(notices) == 1 and "paused" in notices[0].text
    assert (
        ok is not None and ok.error_count == 0 and ok.etag == '"v2"' and ok.kind == SourceKind.FEED
    )


async def test_articles_insert_find_and_story_timeline(db: Database) -> None:
    """Articles are found by URL or guid, attached to stories, and listed newest first."""
    async with db.unit_of_work() as s:
        src = await SourceRepo(s).add("https://c.example/feed", "C")
        story = await StoryRepo(s).create("Floods in Jeddah", T0)
        repo = ArticleRepo(s)
        a1 = await repo.insert(
            ArticleFields(
                url="https://c.example/1",
                title="أمطار غزيرة في جدة",
                guid="g1",
                source_id=src.id,
                published_at=T0,
                lang="ar",
                summary=["جملة أولى.", "جملة ثانية."],
            )
        )
        a2 = await repo.insert(
            ArticleFields(
                url="https://c.example/2",
                title="Second",
                source_id=src.id,
                published_at=T0 + timedelta(hours=1),
            )
        )
        await repo.set_story(a1.id, story.id)
        await repo.set_story(a2.id, story.id)
    async with db.unit_of_work() as s:
        repo = ArticleRepo(s)
        by_guid = await repo.find_existing("https://c.example/other", src.id, "g1")
        timeline = await repo.for_story(story.id)
        one = await repo.get(a1.id)
    assert by_guid is not None and by_guid.id == a1.id
    assert [a.id for a in timeline] == [a2.id, a1.id]
    assert (
        one is not None and one.source_name == "C" and one.summary == ("جملة أولى.", "جملة ثانية.")
    )
    assert one.published_at == T0


async def test_story_state_roundtrip_and_closing(db: Database) -> None:
    """Clusterer state is stored as JSON and dropped when a quiet story closes."""
    async with db.unit_of_work() as s:
        story = await StoryRepo(s).create("x", T0)
        await StoryRepo(s).save(
            story.id,
            label="Label",
            article_count=2,
            source_count=2,
            languages=["ar", "en"],
            last_seen=T0,
            state={"terms": {"حلب": 1.5}},
        )
    async with db.unit_of_work() as s:
        states = await StoryRepo(s).active_states(T0 - timedelta(days=1))
        assert states == [(story.id, {"terms": {"حلب": 1.5}})]
        assert await StoryRepo(s).close_quiet(T0 + timedelta(days=1)) == 1
        got = await StoryRepo(s).get(story.id)
    assert got is not None and got.closed and got.languages == ("ar", "en")


async def test_chats_and_follows(db: Database) -> None:
    """Chats are created once; follows are idempotent and removable only by their chat."""
    async with db.unit_of_work() as s:
        chat, created = await ChatRepo(s).ensure(-100123, type=ChatType.SUPERGROUP, language="ar")
        again, created_again = await ChatRepo(s).ensure(-100123)
        story = await StoryRepo(s).create("S", T0)
        f1, new1 = await FollowRepo(s).follow_story(chat.id, story.id)
        f2, new2 = await FollowRepo(s).follow_story(chat.id, story.id)
        k1, knew = await FollowRepo(s).follow_keyword(chat.id, "حلب", ["حلب"])
        await ChatRepo(s).update(chat.id, digest_time=time(7, 30), timezone="Asia/Riyadh")
    assert created and not created_again and again.language == "ar"
    assert new1 and not new2 and f1.id == f2.id and knew and k1.kind == FollowKind.KEYWORD
    async with db.unit_of_work() as s:
        assert (await ChatRepo(s).get(chat.id)).digest_time == time(7, 30)  # type: ignore[union-attr]
        await FollowRepo(s).update(chat.id, k1.id, mode=DeliveryMode.DIGEST)
        assert not await FollowRepo(s).remove(999, f1.id)
        assert await FollowRepo(s).remove(chat.id, f1.id)
        rest = await FollowRepo(s).for_chat(chat.id)
        with pytest.raises(ValueError):
            await ChatRepo(s).update(chat.id, id=5)
    assert [f.mode for f in rest] == [DeliveryMode.DIGEST]


async def test_leases_and_callback_tokens(db: Database) -> None:
    """A lease has one holder until it expires; tokens are readable only by their chat."""
    ttl = timedelta(seconds=30)
    async with db.unit_of_work() as s:
        assert await LeaseRepo(s).acquire("poller", "p1", T0, ttl)
    async with db.unit_of_work() as s:
        assert not await LeaseRepo(s).acquire("poller", "p2", T0 + timedelta(seconds=10), ttl)
    async with db.unit_of_work() as s:
        assert await LeaseRepo(s).acquire("poller", "p2", T0 + timedelta(seconds=31), ttl)
        token = await CallbackTokenRepo(s).put(42, {"q": "x" * 300})
    async with db.unit_of_work() as s:
        assert (await CallbackTokenRepo(s).get(42, token)) == {"q": "x" * 300}
        assert await CallbackTokenRepo(s).get(43, token) is None


async def test_full_text_index_follows_the_articles(db: Database) -> None:
    """The FTS objects created by the migration index `search_text` on both engines."""
    async with db.unit_of_work() as s:
        await ArticleRepo(s).insert(
            ArticleFields(url="https://d/1", title="t", search_text="حلب اشتباك")
        )
    async with db.unit_of_work() as s:
        if db.dialect == "sqlite":
            n = await s.scalar(
                text("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'حلب'")
            )
        else:
            n = await s.scalar(
                text(
                    "SELECT count(*) FROM articles WHERE to_tsvector('simple', search_text) @@ "
                    "plainto_tsquery('simple', 'حلب')"
                )
            )
    assert n == 1
