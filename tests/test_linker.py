"""The background linker: vectors stored once per article, stories linked across languages,
a new link reaching the other story's followers, restarts resuming from the database."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from bot.linker import Linker, LinkerTuning, LinkingService
from bot.pipeline.encoder import unpack_vector
from bot.stats import encoder_status
from storage.db import Database
from storage.models import ArticleRow, DeliveryRow, StoryLinkRow
from storage.repos.links import LinkRepo
from tests.bot_harness import USER_ID, Harness, make_harness
from tests.linker_fakes import InlineEmbedder

FUEL_EN = "Energy ministry raises petrol and diesel prices by 8 percent"
FUEL_AR = "وزارة الطاقة ترفع أسعار البنزين والديزل بنسبة 8 بالمئة"
FOOTBALL_EN = "League leaders win the derby match in stoppage time"


def _record(n: int, title: str, lang: str, source: str, **extra: Any) -> dict[str, Any]:
    """An ingest record."""
    return {
        "id": f"r{n}",
        "title": title,
        "text": title + ". More details followed in the afternoon.",
        "source": source,
        "lang": lang,
        "url": f"https://news.invalid/{n}",
        **extra,
    }


async def _ingest(bot: Harness, records: list[Mapping[str, Any]]) -> None:
    """Ingest records and fan them out."""
    await bot.add_articles(records)
    await bot.engines.fanout.run_until_idle()


async def _story_of(db: Database, url: str) -> int:
    """The story id of the article at url."""
    async with db.unit_of_work() as session:
        story = await session.scalar(select(ArticleRow.story_id).where(ArticleRow.url == url))
    assert story is not None
    return int(story)


async def _links(db: Database) -> list[tuple[int, int]]:
    """Stored links."""
    async with db.unit_of_work() as session:
        rows = await session.execute(select(StoryLinkRow.story_a, StoryLinkRow.story_b))
    return sorted((int(a), int(b)) for a, b in rows)


async def test_linker_embeds_once_and_links_the_translation(db: Database) -> None:
    """Every article gets one stored vector; the Arabic and English fuel stories link,
    the football story stays alone; a second pass embeds nothing."""
    async with make_harness(db) as bot:
        await _ingest(
            bot,
            [
                _record(1, FUEL_EN, "en", "Coast Wire"),
                _record(2, FUEL_AR, "ar", "Gulf Daily"),
                _record(3, FOOTBALL_EN, "en", "Sport Desk"),
            ],
        )
        embedder = InlineEmbedder()
        linker = Linker(db, embedder, clock=bot.clock, tuning=LinkerTuning(batch=2))
        result = await linker.run_until_idle()
        again = await linker.run_once()
        fuel_en = await _story_of(db, "https://news.invalid/1")
        fuel_ar = await _story_of(db, "https://news.invalid/2")
        async with db.unit_of_work() as session:
            blobs = list(await session.scalars(select(ArticleRow.embedding)))
    assert fuel_en != fuel_ar
    assert embedder.batches == [2, 1] and result.embedded == 3 and again.embedded == 0
    assert all(
        blob is not None and unpack_vector(blob).shape == (embedder.encoder.dim,) for blob in blobs
    )
    assert await _links(db) == [tuple(sorted((fuel_en, fuel_ar)))]
    assert result.links == 1 and linker.held_vectors == 3


async def test_new_link_owes_the_partners_followers_its_recent_reports(db: Database) -> None:
    """A follower of the English story, following since before the Arabic reports, gets
    the recent Arabic one queued when the stories link; not the old one, and not the
    English report that arrived before the follow."""
    async with make_harness(db) as bot:
        await bot.command("/start")
        await _ingest(bot, [_record(1, FUEL_EN, "en", "Coast Wire")])
        english = await _story_of(db, "https://news.invalid/1")
        await bot.services.chats.follow_story(USER_ID, english)
        bot.clock.advance(60)
        old = (bot.clock() - timedelta(hours=20)).isoformat()
        await _ingest(
            bot,
            [
                _record(2, FUEL_AR, "ar", "Gulf Daily"),
                _record(3, FUEL_AR + " اليوم", "ar", "Old Paper", published=old),
            ],
        )
        result = await Linker(db, InlineEmbedder(), clock=bot.clock).run_until_idle()
        async with db.unit_of_work() as session:
            owed = await session.scalars(
                select(ArticleRow.url)
                .join(DeliveryRow, DeliveryRow.article_id == ArticleRow.id)
                .where(DeliveryRow.chat_id == USER_ID)
            )
            urls = set(owed)
    assert result.links == 1 and result.caught_up == 1
    assert urls == {"https://news.invalid/2"}


async def test_restart_resumes_from_the_database(db: Database) -> None:
    """Embeddings off: nothing is stored and the pass says so. A new linker embeds what is
    waiting; one started after the links were lost links again on its first pass
    without embedding anything."""
    async with make_harness(db) as bot:
        await _ingest(
            bot, [_record(1, FUEL_EN, "en", "Coast Wire"), _record(2, FUEL_AR, "ar", "Gulf Daily")]
        )
        off = await Linker(db, InlineEmbedder(available=False), clock=bot.clock).run_once()
        async with db.unit_of_work() as session:
            embedded, waiting = await LinkRepo(session).count_embedded()
        assert off.off and (embedded, waiting) == (0, 2)
        await Linker(db, InlineEmbedder(), clock=bot.clock).run_until_idle()
        async with db.unit_of_work() as session:
            await session.execute(delete(StoryLinkRow))
        embedder = InlineEmbedder()
        result = await Linker(db, embedder, clock=bot.clock).run_once()
    assert embedder.batches == [] and result.links == 1 and len(await _links(db)) == 1


async def test_only_active_window_vectors_are_held(db: Database) -> None:
    """Articles published before the link window are neither embedded nor loaded, and
    vectors leave memory as their articles age out."""
    async with make_harness(db) as bot:
        stale = (bot.clock() - timedelta(hours=60)).isoformat()
        await _ingest(
            bot,
            [
                _record(1, FUEL_EN, "en", "Coast Wire"),
                _record(2, FOOTBALL_EN, "en", "Sport Desk", published=stale),
            ],
        )
        linker = Linker(db, InlineEmbedder(), clock=bot.clock)
        first = await linker.run_until_idle()
        held = linker.held_vectors
        bot.clock.advance(49 * 3600)
        await linker.run_once()
        async with db.unit_of_work() as session:
            embedded = await session.scalar(
                select(func.count()).where(ArticleRow.embedding.is_not(None))
            )
    assert first.embedded == 1 and embedded == 1
    assert held == 1 and linker.held_vectors == 0


async def test_linked_story_takes_no_second_partner(db: Database) -> None:
    """A story keeps its one link: a later look-alike in the other language stays unlinked."""
    async with make_harness(db) as bot:
        await _ingest(
            bot, [_record(1, FUEL_EN, "en", "Coast Wire"), _record(2, FUEL_AR, "ar", "Gulf Daily")]
        )
        linker = Linker(db, InlineEmbedder(), clock=bot.clock)
        await linker.run_until_idle()
        async with db.unit_of_work() as session:  # a second English story of the same event
            await session.execute(update(ArticleRow).values(fanned_out=True))
        await _ingest(bot, [_record(3, "Petrol and diesel prices rise", "en", "Other")])
        await linker.run_until_idle()
    assert len(await _links(db)) == 1


async def test_linking_service_embeds_in_the_worker_and_reports_state(db: Database) -> None:
    """The app's service: the encoder loads in the worker process, the background linker
    links the translation, and `akhbar status` reads the state the service recorded."""
    async with make_harness(db) as bot:
        await _ingest(
            bot, [_record(1, FUEL_EN, "en", "Coast Wire"), _record(2, FUEL_AR, "ar", "Gulf Daily")]
        )
        service = LinkingService(
            db, "tests.linker_fakes:lexicon_encoder", tuning=LinkerTuning(idle_seconds=0.05)
        )
        service.start()
        try:
            for _ in range(200):
                if await _links(db):
                    break
                await asyncio.sleep(0.05)
        finally:
            await service.close()
        line = await encoder_status(db)
    assert len(await _links(db)) == 1
    assert line == "embeddings: on (lexicon); 2 articles embedded, 0 waiting, 1 story links"


async def test_missing_encoder_is_recorded_and_nothing_embeds(db: Database) -> None:
    """An encoder that cannot load: the bot keeps going, status says why, no vector is stored."""
    async with make_harness(db) as bot:
        await _ingest(bot, [_record(1, FUEL_EN, "en", "Coast Wire")])
        service = LinkingService(db, "tests.embed_fakes:missing_weights")
        service.start()
        await service.close()
        line = await encoder_status(db)
    assert line.startswith("embeddings: off, lexical features only (")
    assert "weights.npz not found" in line and "0 articles embedded, 1 waiting" in line
