"""A fan-out reads its chats' mutes once per claim, not once per push.

Each push shows related headlines minus what the chat muted. Reading the chat's mutes in
its own transaction for every push halved the send rate at a 1,000 msg/s budget, so the
worker tells the composer each claim's chats (`PushComposer.prepare`) and the composer
reads their mutes in one query.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from bot.app import build_services
from bot.delivery import DeliveryWorker, FanOut
from bot.domain import Article, Chat
from bot.pipeline.text import query_terms
from bot.pushes import MUTES_TTL_S, PushComposer
from bot.settings import Settings
from storage.db import Database
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.chats import ChatRepo
from storage.repos.mutes import MuteRepo
from tests.delivery_helpers import FakeClock, FakeSender
from tests.test_e2e_crash import seed_fanout

CHATS = list(range(100, 120))
MUTING = 100
EARLIER = ("Stadium roof repaired as the strike goes on", "Unions meet the port authority")


class MuteReads:
    """Counts the SELECTs on the mutes table that run on a database's engine."""

    def __init__(self, db: Database) -> None:
        """Listen on `db`'s engine."""
        self.count = 0
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        """Count one statement if it reads mutes."""
        statement = str(args[2]).lower()
        if statement.lstrip().startswith("select") and " mutes" in statement:
            self.count += 1


async def seed_story_with_coverage(db: Database) -> None:
    """`CHATS` follow a story with a new article and two earlier ones (its related
    headlines); `MUTING` muted the word "stadium"."""
    seeded = await seed_fanout(db, CHATS)
    now = datetime.now(UTC)
    async with db.unit_of_work() as session:
        articles = ArticleRepo(session)
        for n, title in enumerate(EARLIER):
            earlier = await articles.insert(
                ArticleFields(
                    url=f"https://other.example/earlier-{n}",
                    title=title,
                    lede=title + ".",
                    text=title + ".",
                    summary=(title + ".",),
                    guid=f"earlier-{n}",
                    published_at=now - timedelta(hours=2, minutes=n),
                    fetched_at=now - timedelta(hours=2),
                    search_text=title.lower(),
                    fanned_out=True,
                )
            )
            await articles.set_story(earlier.id, seeded.story_id)
        await MuteRepo(session).add_words(MUTING, "stadium", list(query_terms("stadium")))


async def test_a_fan_out_reads_the_mutes_once_per_claim(db: Database) -> None:
    """Twenty pushes, one claim: one read of the mutes; the muting chat's push leaves the
    muted headline out and the others show it."""
    await seed_story_with_coverage(db)
    services = await build_services(Settings(database_url=db.url, telegram_bot_token="1:T"), db)
    await FanOut(db).run_until_idle()
    sender = FakeSender(FakeClock())
    worker = DeliveryWorker(
        db,
        sender,
        services.pushes.compose,
        prepare=services.pushes.prepare,
        max_per_second=1000.0,
    )
    reads = MuteReads(db)
    await worker.run_until_idle()
    assert sorted(s.chat_id for s in sender.sent) == CHATS
    assert reads.count == 1
    for sent in sender.sent:
        assert (EARLIER[0] in sent.text) is (sent.chat_id != MUTING), sent.text
        assert EARLIER[1] in sent.text


async def test_mutes_read_for_a_claim_serve_only_while_fresh(
    db: Database, monkeypatch: Any
) -> None:
    """Prepared mutes answer without a query; once older than `MUTES_TTL_S` the chat's
    mutes are read again (a mute set since then counts)."""
    related = [
        Article(id=1, source_id=None, url="https://a.example/1", title="Stadium roof repaired"),
        Article(id=2, source_id=None, url="https://a.example/2", title="Harbour reopens"),
    ]
    clock = [0.0]
    monkeypatch.setattr("bot.pushes.time.monotonic", lambda: clock[0])
    composer = PushComposer(db, stories=None)  # type: ignore[arg-type]  # not asked here
    async with db.unit_of_work() as session:
        await ChatRepo(session).ensure(7)
    await composer.prepare([7])  # nothing muted yet
    async with db.unit_of_work() as session:
        await MuteRepo(session).add_words(7, "stadium", list(query_terms("stadium")))
    reads = MuteReads(db)
    clock[0] = 1.0
    fresh = await composer._unmuted(Chat(id=7), related)
    assert [a.id for a in fresh] == [1, 2] and reads.count == 0  # as read for the claim
    clock[0] = MUTES_TTL_S + 1.0
    stale = await composer._unmuted(Chat(id=7), related)
    assert [a.id for a in stale] == [2] and reads.count == 1  # read again, alone


async def test_a_failed_prepare_costs_no_push(db: Database) -> None:
    """When reading a claim's mutes fails, every chat still gets its push, each composed
    with its own read of its mutes."""
    await seed_story_with_coverage(db)
    services = await build_services(Settings(database_url=db.url, telegram_bot_token="1:T"), db)
    await FanOut(db).run_until_idle()

    async def broken(chat_ids: list[int]) -> None:
        raise RuntimeError("database went away for a moment")

    sender = FakeSender(FakeClock())
    worker = DeliveryWorker(
        db, sender, services.pushes.compose, prepare=broken, max_per_second=1000.0
    )
    reads = MuteReads(db)
    await worker.run_until_idle()
    assert sorted(s.chat_id for s in sender.sent) == CHATS
    assert reads.count == len(CHATS)
    muting = next(s for s in sender.sent if s.chat_id == MUTING)
    assert EARLIER[0] not in muting.text
