"""Daily digests: once per chat per local day, in several timezones, across restarts and clock jumps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from bot.delivery import DeliveryWorker
from bot.digests import DigestScheduler
from bot.domain import Chat, DeliveryKind, DeliveryState
from bot.pipeline.schedule import local_day, local_instant
from bot.presentation.i18n import t as translate
from storage.db import Database
from storage.repos.deliveries import DeliveryRepo
from tests.delivery_helpers import FakeClock, FakeSender, compose, make_chat


async def build(chat: Chat, since: datetime) -> Sequence[str]:
    """A digest builder with something to say for every chat except 98 and 99."""
    return [] if chat.id in (98, 99) else [f"<b>digest</b> for {chat.id}", "part two"]


class Harness:
    """Ticks the scheduler and the worker on a fake clock; `restart()` makes new instances."""

    def __init__(self, db: Database, clock: FakeClock) -> None:
        """Start 'a process'."""
        self.db, self.clock = db, clock
        self.sender = FakeSender(clock)
        self.restart()

    def restart(self) -> None:
        """Throw away in-memory state, as a process restart would."""
        self.scheduler = DigestScheduler(self.db, build, clock=self.clock)
        self.worker = DeliveryWorker(
            self.db,
            self.sender,
            compose,
            compose_digest=self.scheduler.compose,
            clock=self.clock,
            sleep=self.clock.sleep,
            max_per_second=1000,
        )

    async def step(self, minutes: float = 30) -> None:
        """One scheduler tick and one worker pass, then time moves on."""
        await self.scheduler.run_until_idle()
        await self.worker.run_until_idle()
        self.clock.advance(minutes * 60)

    def digests(self, chat_id: int) -> list[datetime]:
        """When each digest (its first part) reached a chat."""
        return [
            m.at for m in self.sender.to(chat_id) if m.text.startswith(("<b>digest", "Nothing"))
        ]


async def run_days(h: Harness, until: datetime, restart_every: int = 0) -> None:
    """Step until `until`, optionally restarting every N steps."""
    n = 0
    while h.clock() < until:
        await h.step()
        n += 1
        if restart_every and n % restart_every == 0:
            h.restart()


async def test_three_timezones_over_dst_once_per_local_day(db: Database) -> None:
    """London (clocks go back, 01:30 happens twice), Riyadh and Kolkata: one digest a day."""
    zones = {
        1: ("Europe/London", time(1, 30)),
        2: ("Asia/Riyadh", time(8, 0)),
        3: ("Asia/Kolkata", time(7, 30)),
    }
    for cid, (tz, at) in zones.items():
        await make_chat(db, cid, timezone=tz, digest_time=at)
    clock = FakeClock(datetime(2026, 10, 23, 12, 0, tzinfo=UTC))
    h = Harness(db, clock)
    await run_days(h, datetime(2026, 10, 28, 12, 0, tzinfo=UTC), restart_every=5)
    for cid, (tz, at) in zones.items():
        got = h.digests(cid)
        days = [local_day(t, tz) for t in got]
        assert days == [date(2026, 10, d) for d in (24, 25, 26, 27, 28)][: len(days)]
        assert len(days) >= 4 and len(set(days)) == len(days)
        for t in got:  # on time: within one tick of the local digest instant
            due = local_instant(local_day(t, tz), at, tz)
            assert timedelta(0) <= t - due < timedelta(minutes=30)
        assert len([m for m in h.sender.to(cid) if m.text == "part two"]) == len(got)
    london = h.digests(1)
    first_130 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 01:30 (BST)
    assert any(timedelta(0) <= t - first_130 < timedelta(minutes=1) for t in london)


async def test_spring_forward_new_york(db: Database) -> None:
    """02:30 does not exist on 8 March in New York: that day's digest comes at 03:00 EDT."""
    await make_chat(db, 1, timezone="America/New_York", digest_time=time(2, 30))
    h = Harness(db, FakeClock(datetime(2026, 3, 6, 12, 0, tzinfo=UTC)))
    await run_days(h, datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    got = h.digests(1)
    assert [local_day(t, "America/New_York") for t in got] == [
        date(2026, 3, 7),
        date(2026, 3, 8),
        date(2026, 3, 9),
        date(2026, 3, 10),
    ]
    assert timedelta(0) <= got[1] - datetime(2026, 3, 8, 7, 0, tzinfo=UTC) < timedelta(minutes=1)


async def test_clock_jump_backwards_does_not_resend(db: Database) -> None:
    """After a digest, the clock jumps back a day and a half: nothing is sent again."""
    await make_chat(db, 1, timezone="Asia/Riyadh", digest_time=time(8, 0))
    clock = FakeClock(datetime(2026, 5, 1, 6, 0, tzinfo=UTC))  # just after 1 May's 08:00
    h = Harness(db, clock)
    await run_days(h, datetime(2026, 5, 2, 6, 0, tzinfo=UTC))
    assert len(h.digests(1)) == 1  # 2 May 08:00 Riyadh = 05:00 UTC
    clock.now = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)
    h.restart()
    await run_days(h, datetime(2026, 5, 2, 23, 0, tzinfo=UTC))
    assert len(h.digests(1)) == 1
    await run_days(h, datetime(2026, 5, 3, 6, 0, tzinfo=UTC))
    assert [local_day(t, "Asia/Riyadh") for t in h.digests(1)] == [
        date(2026, 5, 2),
        date(2026, 5, 3),
    ]


async def test_two_schedulers_and_empty_digests(db: Database) -> None:
    """Two scheduler instances ticking together enqueue one row per day; empty → no message."""
    await make_chat(db, 5, timezone="Asia/Kolkata")
    await make_chat(db, 99, timezone="Asia/Kolkata")
    await make_chat(db, 98, timezone="Asia/Kolkata", empty_digest=True)
    clock = FakeClock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    other = DigestScheduler(db, build, clock=clock)
    h = Harness(db, clock)
    while clock() < datetime(2026, 5, 2, 4, 0, tzinfo=UTC):  # 1 and 2 May, 08:00 IST
        await other.tick()
        await h.step()
    async with db.unit_of_work() as s:
        rows = {c: await DeliveryRepo(s).for_chat(c) for c in (5, 99, 98)}
    for chat_rows in rows.values():
        assert [r.kind for r in chat_rows] == [DeliveryKind.DIGEST] * 2
        assert len({r.digest_on for r in chat_rows}) == 2
    assert {r.state for r in rows[5]} == {DeliveryState.SENT}
    assert {r.state for r in rows[99]} == {DeliveryState.SKIPPED}
    assert {r.state for r in rows[98]} == {DeliveryState.SENT}  # asked for empty digests
    assert len(h.digests(5)) == 2 and len(h.digests(98)) == 2 and not h.sender.to(99)


async def test_empty_digest_on_request(db: Database) -> None:
    """A chat that asked for empty digests gets the 'nothing new' message."""

    async def nothing(chat: Chat, since: datetime) -> Sequence[str]:
        """Nothing to say."""
        return []

    await make_chat(db, 7, empty_digest=True)
    clock = FakeClock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    scheduler = DigestScheduler(db, nothing, clock=clock)
    sender = FakeSender(clock)
    w = DeliveryWorker(
        db, sender, compose, compose_digest=scheduler.compose, clock=clock, sleep=clock.sleep
    )
    await scheduler.tick()  # schedules the first digest (08:00 UTC)
    clock.now = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    assert (await scheduler.tick()).enqueued == 1
    await w.run_until_idle()
    assert [m.text for m in sender.to(7)] == [translate("en", "digest.empty")]
