"""Digests built a batch at a time: the same digest as one chat at a time, and still once a day."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import pytest

import storage.repos.digests as digest_repo
from bot.app import build_services
from bot.delivery import DeliveryWorker
from bot.digests import DigestBuilder, DigestScheduler, plan_digests
from bot.domain import DIGEST_WINDOW, Article, Chat, DeliveryKind, DeliveryState
from bot.follows import article_terms
from bot.pipeline.schedule import digest_day_due, first_digest_at, next_digest_at
from bot.pipeline.text import matching_terms, query_terms
from bot.presentation.digest import DigestWindow
from bot.presentation.i18n import tn
from bot.services import Services
from bot.settings import Settings
from storage.db import Database
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo, NewDelivery
from storage.repos.digests import DigestRepo
from storage.repos.sources import SourceRepo
from storage.repos.stories import StoryRepo
from tests.delivery_helpers import FakeClock, FakeSender, compose

NOW = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)
HOURS = [0.5, 30, 2, 5, 11, 20, 23.5, 40]  # before publication; 30 and 40: outside the window
ZONES = ["UTC", "Asia/Riyadh", "Asia/Kolkata", "America/New_York", "Pacific/Kiritimati"]
TOPICS = [
    ("Port strike", "Dock workers strike at the port as talks stall"),
    ("Gulf summit", "Leaders meet at the Gulf summit on trade"),
    ("Flood warning", "Heavy rain brings flood warning to the valley"),
    ("إضراب الميناء", "عمال الميناء يواصلون الإضراب مع تعثر المحادثات"),
    ("Election count", "Election count continues in the capital"),
    ("Heat wave", "Heat wave breaks records across the region"),
]


async def services_for(db: Database) -> Services:
    """The real services over `db` (nothing is fetched)."""
    return await build_services(Settings(database_url=db.url, telegram_bot_token="1:T"), db)


async def seed_news(db: Database, rng: random.Random) -> dict[int, list[Article]]:
    """Stories with articles in and out of the window, copies, and one article without a story."""
    out: dict[int, list[Article]] = {}
    async with db.unit_of_work() as s:
        source = await SourceRepo(s).add("https://wire.example/feed", "Wire")
        stories, articles = StoryRepo(s), ArticleRepo(s)
        for n, (label, title) in enumerate(TOPICS):
            story = await stories.create(label, NOW - timedelta(days=2))
            out[story.id] = []
            for k in range(rng.randint(1, 4) + (6 if n == 0 else 0)):
                hours = rng.choice(HOURS) if n else HOURS[k % len(HOURS)]
                fields = ArticleFields(
                    url=f"https://wire.example/{n}/{k}",
                    title=f"{title} ({k})",
                    lede=f"{title}. Update {k}.",
                    summary=(f"{title}, update {k}.",) if k % 2 == 0 else (),
                    lang="ar" if n == 3 else "en",
                    source_id=source.id if k % 3 else None,
                    published_at=NOW - timedelta(hours=hours),
                    fetched_at=NOW,
                )
                article = await articles.insert(fields)
                await articles.set_story(article.id, story.id)
                out[story.id].append(article)
            original = out[story.id][0]
            copy = await articles.insert(
                ArticleFields(
                    url=f"https://copy.example/{n}",
                    title=original.title,
                    duplicate_of=original.id,
                    published_at=NOW - timedelta(hours=1),
                )
            )
            await articles.set_story(copy.id, story.id)
        await articles.insert(
            ArticleFields(
                url="https://wire.example/loose",
                title="Port authority statement on the strike",
                published_at=NOW - timedelta(hours=3),
            )
        )
    return out


async def seed_chats(
    db: Database, rng: random.Random, stories: dict[int, list[Article]], count: int
) -> list[Chat]:
    """Chats in several languages and zones following stories and keywords, some muted, some
    with pushes already received (sent, folded or failed), some following nothing."""
    story_ids = sorted(stories)
    keywords = ["port strike", "summit", "flood", "الميناء", "nothing matches this"]
    chats: list[Chat] = []
    pushes: list[tuple[NewDelivery, DeliveryState]] = []
    async with db.unit_of_work() as s:
        repo, follows = ChatRepo(s), FollowRepo(s)
        for n in range(count):
            chat_id = 100 + n
            await repo.ensure(
                chat_id, language=rng.choice(["en", "ar"]), timezone=rng.choice(ZONES)
            )
            if rng.random() < 0.2:
                await repo.update(chat_id, empty_digest=True)
            for story_id in rng.sample(story_ids, rng.randint(0, 3)):
                follow, _ = await follows.follow_story(chat_id, story_id)
                if rng.random() < 0.2:
                    await follows.update(chat_id, follow.id, muted=True)
                for article in stories[story_id]:
                    if rng.random() < 0.3:
                        state = rng.choice(
                            [DeliveryState.SENT, DeliveryState.FOLDED, DeliveryState.FAILED]
                        )
                        row = NewDelivery(chat_id, article_id=article.id, story_id=story_id)
                        pushes.append((row, state))
            if rng.random() < 0.4:
                query = rng.choice(keywords)
                follow, _ = await follows.follow_keyword(chat_id, query, matching_terms(query))
                if rng.random() < 0.2:
                    await follows.update(chat_id, follow.id, muted=True)
            found = await repo.get(chat_id)
            assert found is not None
            chats.append(found)
        deliveries = DeliveryRepo(s)
        await deliveries.enqueue_many([row for row, _ in pushes], NOW - timedelta(hours=2))
        for row, state in pushes:
            for d in await deliveries.for_chat(row.chat_id):
                if d.article_id == row.article_id:
                    if state is DeliveryState.SENT:
                        await deliveries.mark_sent(d.id, 1, NOW - timedelta(hours=1))
                    elif state is DeliveryState.FOLDED:
                        await deliveries.mark_folded([d.id], d.id, NOW - timedelta(hours=1))
                    else:
                        await deliveries.park_failed(d.id, "boom", NOW - timedelta(hours=1))
    return chats


async def test_batch_builds_what_each_chat_alone_would_get(db: Database) -> None:
    """Mixed languages, zones, muted follows, keywords, pushes already received, no news."""
    rng = random.Random(7)
    chats = await seed_chats(db, rng, await seed_news(db, rng), 60)
    services = await services_for(db)
    since = NOW - DIGEST_WINDOW
    batch = await services.digests.build_many(chats, since)
    lone = DigestBuilder(db)  # nothing memoised by the batch serves the lone builds
    alone = {chat.id: await lone.build(chat, since) for chat in chats}
    assert batch == alone
    halves = await services.digests.build_many(chats[:25], since)
    halves.update(await services.digests.build_many(chats[25:], since))
    assert halves == alone
    texts = ["\n".join(parts) for parts in alone.values()]
    assert sum(1 for parts in alone.values() if not parts) >= 5  # nothing to say
    assert any("Nothing new" in t for t in texts)  # empty digests asked for
    assert any("more update" in t for t in texts)  # pushes already received
    assert {t[0] for t in texts if t} == {"\u200f", "\u200e"}  # Arabic and English chats


async def test_batch_leaves_out_muted_and_old_and_copies(db: Database) -> None:
    """Per chat: only unmuted follows, only the window, only originals; pushes sent or folded
    count as more updates, failed ones do not."""
    rng = random.Random(3)
    stories = await seed_news(db, rng)
    port = min(stories)
    async with db.unit_of_work() as s:
        await ChatRepo(s).ensure(1)
        await ChatRepo(s).ensure(2)
        await ChatRepo(s).ensure(3)
        follows = FollowRepo(s)
        await follows.follow_story(1, port)
        muted, _ = await follows.follow_story(2, port)
        await follows.update(2, muted.id, muted=True)
        await follows.follow_story(3, port)
        for chat_id in (4, 5):  # a keyword that matches the port story; 4 muted that story
            await ChatRepo(s).ensure(chat_id)
            await follows.follow_keyword(chat_id, "dock workers", query_terms("dock workers"))
        hushed, _ = await follows.follow_story(4, port)
        await follows.update(4, hushed.id, muted=True)
        fresh = [a for a in stories[port] if _at(a) >= NOW - DIGEST_WINDOW]
        deliveries = DeliveryRepo(s)
        await deliveries.enqueue_many(
            [NewDelivery(3, article_id=a.id, story_id=port) for a in fresh[:2]], NOW
        )
        rows = await deliveries.for_chat(3)
        await deliveries.mark_sent(rows[0].id, 1, NOW)
        await deliveries.park_failed(rows[1].id, "boom", NOW)
        chats = list((await ChatRepo(s).get_many([1, 2, 3, 4, 5])).values())
    assert len(fresh) >= 3 and len(fresh) < len(stories[port])
    built = await (await services_for(db)).digests.build_many(chats, NOW - DIGEST_WINDOW)
    assert built[2] == []
    one = "\n".join(built[1])
    assert "Port strike" in one and tn("en", "count.new_articles", len(fresh)) in one
    assert not any(f'"{a.url}"' in one for a in stories[port] if a not in fresh)
    assert "copy.example" not in one
    three = "\n".join(built[3])
    assert tn("en", "count.new_articles", len(fresh) - 1) in three
    assert tn("en", "digest.more", 1) in three
    assert "Port strike" in "\n".join(built[5])  # the keyword matches the story...
    assert "Port strike" not in "\n".join(built[4])  # ...but not where the story is muted


def _at(article: Article) -> datetime:
    """An article's publication time, aware."""
    assert article.published_at is not None
    at = article.published_at
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def test_plan_matches_the_schedule_of_each_chat() -> None:
    """The batch's shared schedule arithmetic gives each chat what its own would."""
    rng = random.Random(11)
    now = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # London's clocks go back at 01:00 UTC
    zones = [*ZONES, "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu"]
    due: list[tuple[Chat, datetime | None]] = []
    for n in range(300):
        chat = Chat(
            id=n,
            timezone=rng.choice(zones),
            digest_time=time(rng.randrange(24), rng.choice([0, 30])),
            last_digest_on=rng.choice([None, date(2026, 10, 23), date(2026, 10, 24)]),
        )
        due.append((chat, rng.choice([None, now])))
    plan = plan_digests(due, now)
    owed = {chat.id: day for chat, day in plan.owed}
    assert len(plan.schedule) == len(due)
    assert plan.rescheduled == len(due) - len(owed)
    for (chat, scheduled), (chat_id, next_at, day) in zip(due, plan.schedule, strict=True):
        tz, at = chat.timezone, chat.digest_time
        assert chat_id == chat.id
        if scheduled is None:
            assert (next_at, day) == (first_digest_at(now, tz, at), None)
            continue
        want = digest_day_due(now, tz, at, chat.last_digest_on)
        assert day == want and owed.get(chat.id) == want
        assert next_at == next_digest_at(now, tz, at, want or chat.last_digest_on)


def test_keyword_index_finds_what_a_scan_finds() -> None:
    """A keyword's matches through the window's term index equal a scan of every article."""
    rng = random.Random(5)
    words = ["port", "strike", "summit", "flood", "rain", "talks", "الميناء", "إضراب", "trade"]
    articles = [
        Article(
            id=n,
            source_id=None,
            url=f"https://x.example/{n}",
            title=" ".join(rng.sample(words, 3)),
            story_id=n % 4,
            duplicate_of=(n - 1) if n % 7 == 6 else None,
        )
        for n in range(80)
    ]
    window = DigestWindow(articles, {}, article_terms)
    for query in ["port strike", "rain", "الميناء talks", "nowhere", "", "strike port trade"]:
        terms = tuple(matching_terms(query))
        scan = [
            a
            for a in articles
            if a.duplicate_of is None and terms and all(t in article_terms(a) for t in terms)
        ]
        assert window.keyword_matches(terms) == scan
        assert window.keyword_matches(terms) == scan  # the memoised answer too


async def test_received_and_enqueue_are_set_based(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Received articles across IN-clause chunks; enqueue counts only new rows."""
    monkeypatch.setattr(digest_repo, "IN_CHUNK", 2)
    rng = random.Random(1)
    stories = await seed_news(db, rng)
    ids = [a.id for items in stories.values() for a in items][:5]
    async with db.unit_of_work() as s:
        for chat_id in (1, 2, 3):
            await ChatRepo(s).ensure(chat_id)
        deliveries = DeliveryRepo(s)
        await deliveries.enqueue_many(
            [NewDelivery(c, article_id=a) for c in (1, 2, 3) for a in ids], NOW
        )
        for d in [d for c in (1, 2, 3) for d in await deliveries.for_chat(c)]:
            if d.chat_id == 1 or (d.chat_id == 2 and d.article_id == ids[4]):
                await deliveries.mark_sent(d.id, 1, NOW)
        got = await DigestRepo(s).received_article_ids([1, 2, 3], ids[1:], NOW)
        assert got == {1: set(ids[1:]), 2: {ids[4]}}
        assert await DigestRepo(s).received_article_ids([1], ids, NOW + timedelta(1)) == {}
        rows = [NewDelivery(c, kind=DeliveryKind.DIGEST, digest_on=NOW.date()) for c in (1, 2)]
        assert await DeliveryRepo(s).enqueue_many(rows, NOW) == 2
        more = [*rows, NewDelivery(3, kind=DeliveryKind.DIGEST, digest_on=NOW.date())]
        assert await DeliveryRepo(s).enqueue_many(more, NOW) == 1
        assert await DeliveryRepo(s).enqueue_many([], NOW) == 0
        digests = [d for c in (1, 2, 3) for d in await deliveries.for_chat(c) if d.digest_on]
        assert sorted(d.chat_id for d in digests) == [1, 2, 3]


async def test_batched_scheduler_sends_once_per_day_across_restarts(db: Database) -> None:
    """Two processes ticking together, restarted every few steps over three days: each chat
    gets one digest a local day, and it is the digest its own build would have made."""
    rng = random.Random(9)
    stories = await seed_news(db, rng)
    chats = await seed_chats(db, rng, stories, 30)
    services = await services_for(db)
    clock = FakeClock(NOW)
    sender = FakeSender(clock)
    many = services.digests.build_many
    one = services.digests.build
    calls: list[int] = []

    async def counted(batch: list[Chat], since: datetime) -> dict[int, list[str]]:
        """`DigestBuilder.build_many`, counting the chats of each call."""
        calls.append(len(batch))
        return await many(batch, since)

    def start() -> tuple[DigestScheduler, DigestScheduler, DeliveryWorker]:
        """Two schedulers and a worker, as a fresh pair of processes."""
        first = DigestScheduler(db, one, build_many=counted, clock=clock, batch=7)
        second = DigestScheduler(db, one, build_many=counted, clock=clock, batch=7)
        worker = DeliveryWorker(
            db, sender, compose, compose_digest=first.compose, clock=clock,
            sleep=clock.sleep, max_per_second=1000,
        )  # fmt: skip
        return first, second, worker

    first, second, worker = start()
    expected: dict[tuple[int, date], list[str]] = {}
    steps = 0
    while clock() < NOW + timedelta(days=3):
        for scheduler in (first, second):
            before = await _digest_days(db, chats)
            await scheduler.run_until_idle()
            for chat_id, day in (await _digest_days(db, chats)) - before:
                chat = next(c for c in chats if c.id == chat_id)
                expected[(chat_id, day)] = await one(chat, clock() - DIGEST_WINDOW)
        await worker.run_until_idle()
        clock.advance(45 * 60)
        steps += 1
        if steps % 5 == 0:
            first, second, worker = start()
    assert calls and max(calls) > 1  # built a batch at a time
    rows = await _digest_rows(db, chats)
    assert len(rows) == len(set(rows)) == len(expected)
    for chat in chats:
        days = sorted(day for chat_id, day in rows if chat_id == chat.id)
        assert len(days) >= 2 and len(days) == len(set(days))
        sent = [m.text for m in sender.to(chat.id)]
        owed = [part for day in days for part in expected[(chat.id, day)]]
        assert sent == owed


async def _digest_days(db: Database, chats: Sequence[Chat]) -> set[tuple[int, date]]:
    """(chat, local day) of every digest row of `chats`."""
    return set(await _digest_rows(db, chats))


async def _digest_rows(db: Database, chats: Sequence[Chat]) -> list[tuple[int, date]]:
    """(chat, local day) of every digest row of `chats`, duplicates kept."""
    async with db.unit_of_work() as s:
        found: list[tuple[int, date]] = []
        for chat in chats:
            found += [
                (d.chat_id, d.digest_on)
                for d in await DeliveryRepo(s).for_chat(chat.id)
                if d.kind is DeliveryKind.DIGEST and d.digest_on is not None
            ]
    return found


async def test_top_ten_stories_then_more_updates(db: Database) -> None:
    """Twelve followed stories: the ten with most new articles (then newest) are listed,
    the other two stories' articles count as more updates."""
    async with db.unit_of_work() as s:
        await ChatRepo(s).ensure(1, language="en")
        stories, articles, follows = StoryRepo(s), ArticleRepo(s), FollowRepo(s)
        for n in range(12):
            story = await stories.create(f"Story {n:02d}", NOW - timedelta(days=1))
            await follows.follow_story(1, story.id)
            for k in range(1 + (n % 3 == 0)):  # stories 0, 3, 6, 9 have two articles
                article = await articles.insert(
                    ArticleFields(
                        url=f"https://wire.example/s{n}/{k}",
                        title=f"Headline {n}-{k}",
                        published_at=NOW - timedelta(hours=12 - n, minutes=k),
                    )
                )
                await articles.set_story(article.id, story.id)
        chat = await ChatRepo(s).get(1)
    assert chat is not None
    text = "\n".join((await (await services_for(db)).digests.build_many([chat], NOW - DIGEST_WINDOW))[1])
    order = [9, 6, 3, 0, 11, 10, 8, 7, 5, 4]  # two articles first, then the newest
    positions = [text.index(f"Story {n:02d}") for n in order]
    assert positions == sorted(positions)
    assert "Story 01" not in text and "Story 02" not in text
    assert tn("en", "digest.more", 2) in text
    assert "Headline 9-0" in text and "Headline 9-1" in text


async def test_due_chats_unscheduled_first_then_longest_due(db: Database) -> None:
    """Never-scheduled chats first, then the longest due; paused, blocked and later ones not."""
    async with db.unit_of_work() as s:
        chats, deliveries = ChatRepo(s), DeliveryRepo(s)
        for chat_id in range(1, 9):
            await chats.ensure(chat_id, timezone="Asia/Riyadh", digest_time=time(7, 30))
        await chats.update(7, paused=True)
        await chats.update(8, blocked=True, next_digest_at=NOW - timedelta(hours=9))
        for chat_id, hours in [(3, 1), (4, 5), (5, 3), (6, -1)]:
            await deliveries.set_next_digest(chat_id, NOW - timedelta(hours=hours))
    async with db.unit_of_work() as s:
        repo = DigestRepo(s)
        due = await repo.due_chats(NOW, 10)
        assert {c.id for c, _ in due[:2]} == {1, 2} and due[0][1] is None
        assert [c.id for c, _ in due[2:]] == [4, 5, 3]
        assert due[2][0].timezone == "Asia/Riyadh" and due[2][0].digest_time == time(7, 30)
        three = [c.id for c, _ in await repo.due_chats(NOW, 3)]
        assert set(three[:2]) == {1, 2} and three[2] == 4
        assert [c.id for c, _ in await repo.due_chats(NOW, 1)] in ([1], [2])
