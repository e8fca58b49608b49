"""Outcome writes and sends happen only under a live claim: a late job changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.delivery import DeliveryWorker, FanOut, WorkerTuning
from bot.delivery.claims import Claim
from bot.domain import Article, Chat, Delivery, DeliveryState
from bot.presentation.message import Rendered
from storage.db import Database
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo
from tests.delivery_helpers import FakeClock, compose, make_article, make_story
from tests.test_e2e_crash import seed_fanout


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        """Start at the real now."""
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        """The current fake time."""
        return self.now


class Recorder:
    """A sender that records who sent to which chat."""

    def __init__(self, name: str, log: list[tuple[str, int]]) -> None:
        """Record into `log` under `name`."""
        self.name, self.log = name, log

    async def send(
        self,
        chat_id: int,
        text: str,
        buttons: object,
        disable_preview: bool,
        *,
        html: bool = True,
        thread_id: int | None = None,
    ) -> int:
        """Record the send and return a message id."""
        self.log.append((self.name, chat_id))
        return len(self.log)


async def test_a_job_late_past_its_deadline_does_not_send(db: Database) -> None:
    """Worker A claims a row and stalls (slow composing) until its claim has run out, while
    B runs a pass. A must not send the row once its claim is gone, nor undo another claim's
    outcome: the chat gets its message exactly once."""
    await seed_fanout(db, [1])
    await FanOut(db).run_until_idle()
    clock = Clock()
    start = clock.now
    log: list[tuple[str, int]] = []

    async def plain(chat: Chat, rows: Sequence[Delivery], articles: Sequence[Article]) -> Rendered:
        """A fixed message."""
        return Rendered("<b>news</b>", plain="news")

    late = DeliveryWorker(
        db, Recorder("B", log), plain, holder="B", clock=clock, tuning=WorkerTuning(lease_seconds=8)
    )

    async def stalled(
        chat: Chat, rows: Sequence[Delivery], articles: Sequence[Article]
    ) -> Rendered:
        """A's composer returns after A's claim ran out, and B has sent the row meanwhile."""
        clock.now = start + timedelta(seconds=9)
        await late.run_once()
        return Rendered("<b>news</b>", plain="news")

    first = DeliveryWorker(
        db,
        Recorder("A", log),
        stalled,
        holder="A",
        clock=clock,
        tuning=WorkerTuning(lease_seconds=8),
    )
    await first.run_once()
    clock.now = start + timedelta(seconds=11)  # whatever A gave back is due again
    await late.run_until_idle()
    await first.run_until_idle()
    assert [chat for _, chat in log] == [1]  # sent once, by whichever claim held it
    async with db.unit_of_work() as session:
        (row,) = await DeliveryRepo(session).for_chat(1)
    assert row.state == DeliveryState.SENT


async def test_outcome_writes_with_a_holder_touch_only_its_claims(db: Database) -> None:
    """retry/park/skip with a holder leave rows another holder claimed, or already sent."""
    await seed_fanout(db, [1, 2, 3])
    await FanOut(db).run_until_idle()
    now = datetime.now(UTC)
    async with db.unit_of_work() as session:
        repo = DeliveryRepo(session)
        rows = await repo.claim(now, "B", now + timedelta(seconds=30), 10)
        ids = sorted(r.id for r in rows)
        await repo.mark_sent(ids[0], 7, now)
    async with db.unit_of_work() as session:
        repo = DeliveryRepo(session)
        await repo.retry_many(ids, now, "late", holder="A")
        await repo.park_many(ids, "late", now, holder="A")
        await repo.skip_many(ids, "late", holder="A")
        states = {r.id: r.state for c in (1, 2, 3) for r in await repo.for_chat(c)}
    assert states[ids[0]] == DeliveryState.SENT
    assert {states[i] for i in ids[1:]} == {DeliveryState.CLAIMED}
    async with db.unit_of_work() as session:
        repo = DeliveryRepo(session)
        await repo.park_many(ids, "boom", now, holder="B")
        states = {r.id: r.state for c in (1, 2, 3) for r in await repo.for_chat(c)}
    assert states[ids[0]] == DeliveryState.SENT  # sent stays sent
    assert {states[i] for i in ids[1:]} == {DeliveryState.FAILED}


async def owe(db: Database, chats: Sequence[int], text: str) -> None:
    """Make `chats` follow a new story and owe them one article of it."""
    story = await make_story(db)
    async with db.unit_of_work() as session:
        for chat_id in chats:
            await ChatRepo(session).ensure(chat_id)
            await FollowRepo(session).follow_story(chat_id, story)
    await make_article(db, story, text)
    await FanOut(db, clock=FakeClock()).run_until_idle()


class SlowSender:
    """A sender whose sends take 10 ms; it records the most sends in flight at once."""

    def __init__(self) -> None:
        """Nothing in flight yet."""
        self.in_flight = self.peak = self.count = 0

    async def send(
        self,
        chat_id: int,
        text: str,
        buttons: object,
        disable_preview: bool,
        *,
        html: bool = True,
        thread_id: int | None = None,
    ) -> int:
        """Wait 10 ms as if on the network, counting concurrency."""
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        self.count += 1
        return self.count


async def test_a_refill_that_brings_a_fan_out_gets_every_sender(db: Database) -> None:
    """A pass that began with one chat sends a fan-out arriving through its refills with all
    `max_in_flight` senders, not with one."""
    await owe(db, [1], "first")
    sender = SlowSender()
    worker = DeliveryWorker(
        db, sender, compose, max_per_second=1000, tuning=WorkerTuning(max_in_flight=16)
    )
    claim = worker.claims.claim
    calls = 0

    async def claim_after_news() -> Claim:
        """The second claim of the pass finds a fan-out to 200 chats."""
        nonlocal calls
        calls += 1
        if calls == 2:
            await owe(db, range(2, 202), "second")
        return await claim()

    worker.claims.claim = claim_after_news  # type: ignore[method-assign]
    result = await worker.run_once()
    assert result.sent == 201
    assert sender.peak > 8


async def test_rows_of_a_claim_whose_reads_failed_are_sent_later(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim whose chat read fails leaves no row marked as taken by a live job: once the
    claim runs out, the rows are claimed again and sent."""
    await owe(db, [1, 2], "news")
    clock = FakeClock()
    worker = DeliveryWorker(
        db,
        SlowSender(),
        compose,
        clock=clock,
        sleep=clock.sleep,  # the pace moves the fake clock (the second send's slot comes)
        tuning=WorkerTuning(lease_seconds=1),
    )
    read = ChatRepo.get_many

    async def failing(self: ChatRepo, ids: Any) -> Any:
        """A transient database error."""
        raise RuntimeError("transient")

    monkeypatch.setattr(ChatRepo, "get_many", failing)
    with pytest.raises(RuntimeError):
        await worker.run_once()
    monkeypatch.setattr(ChatRepo, "get_many", read)
    clock.advance(2)
    result = await worker.run_until_idle()
    assert result.sent == 2 and not worker.claims.held


async def test_no_send_begins_once_the_longest_send_would_outlast_the_claim(db: Database) -> None:
    """With a 30 s lease and sends cut off at 12 s, a job that reaches its send 18.5 s into
    its claim (11.5 s left: a send could still be under way when the claim runs out and
    another process takes the row) sends nothing and gives the row back."""
    await seed_fanout(db, [1])
    await FanOut(db).run_until_idle()
    clock = Clock()
    start = clock.now
    log: list[tuple[str, int]] = []

    async def slow(chat: Chat, rows: Sequence[Delivery], articles: Sequence[Article]) -> Rendered:
        """Composing takes 18.5 s of the claim."""
        clock.now = start + timedelta(seconds=18.5)
        return Rendered("<b>news</b>", plain="news")

    tuning = WorkerTuning(lease_seconds=30, send_timeout_seconds=12)
    worker = DeliveryWorker(db, Recorder("A", log), slow, holder="A", clock=clock, tuning=tuning)
    await worker.run_once()
    assert log == []
    async with db.unit_of_work() as session:
        (row,) = await DeliveryRepo(session).for_chat(1)
    assert row.state != DeliveryState.SENT and row.attempts == 0


class HangingSender:
    """A sender whose first send never answers; later sends answer at once."""

    def __init__(self) -> None:
        """No send yet."""
        self.calls = 0

    async def send(
        self,
        chat_id: int,
        text: str,
        buttons: object,
        disable_preview: bool,
        *,
        html: bool = True,
        thread_id: int | None = None,
    ) -> int:
        """Hang on the first call."""
        self.calls += 1
        if self.calls == 1:
            await asyncio.sleep(3600)
        return self.calls


async def test_a_send_that_hangs_is_cut_off_as_a_counted_transient_attempt(db: Database) -> None:
    """A send with no answer ends after `send_timeout_seconds` (well inside the claim) as a
    transient fault: the row is retried later with one attempt counted, the pass goes on."""
    await owe(db, [1, 2], "news")
    sender = HangingSender()
    tuning = WorkerTuning(lease_seconds=30, send_timeout_seconds=0.2)
    worker = DeliveryWorker(db, sender, compose, max_per_second=1000, tuning=tuning)
    result = await asyncio.wait_for(worker.run_once(), timeout=10)
    assert result.sent == 1 and result.retried == 1
    async with db.unit_of_work() as session:
        rows = [r for c in (1, 2) for r in await DeliveryRepo(session).for_chat(c)]
    retried = [r for r in rows if r.state != DeliveryState.SENT]
    assert len(retried) == 1 and retried[0].attempts == 1
    assert "over 0.2 s" in (retried[0].last_error or "")
