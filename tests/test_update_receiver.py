"""The update receiver: one long poller at a time, and never past its own lease."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bot.app import (
    ReceiverAction,
    UpdateReceiver,
    lease_margin,
    receiver_action,
    receiver_interval,
)
from storage.db import Database

TTL = 3.0


@pytest.mark.parametrize(
    ("held", "polling", "warming", "now", "expected"),
    [
        (True, False, False, 0.0, ReceiverAction.WARM),
        (True, False, True, 0.0, ReceiverAction.START),
        (False, False, True, 0.0, ReceiverAction.IDLE),
        (None, False, True, 0.0, ReceiverAction.IDLE),
        (True, True, False, 5.0, ReceiverAction.KEEP),
        (True, True, False, 50.0, ReceiverAction.STOP),  # a late "yours": may have expired
        (True, False, True, 50.0, ReceiverAction.IDLE),
        (False, True, False, 0.0, ReceiverAction.STOP),
        (None, True, False, 9.9, ReceiverAction.KEEP),
        (None, True, False, 10.0, ReceiverAction.STOP),
    ],
)
def test_receiver_action(
    held: bool | None, polling: bool, warming: bool, now: float, expected: ReceiverAction
) -> None:
    """Poll only after a quiet step; stop when another holds the lease or ours may be gone."""
    assert receiver_action(held, polling, warming, now, valid_until=10.0) is expected


def test_margin_and_interval_leave_room_for_a_takeover() -> None:
    """An unrenewed holder stops before expiry; three renewals fit in one lease."""
    for ttl in (1.0, 3.0, 8.0, 30.0, 600.0):
        assert 0 < lease_margin(ttl) < ttl
        assert receiver_interval(ttl) * 3 >= ttl
    assert receiver_interval(0.5) == 1.0


class FakeUpdater:
    """Records start/stop of long polling."""

    def __init__(self, log: list[str], name: str) -> None:
        self.running = False
        self.log = log
        self.name = name

    async def start_polling(self, **_: Any) -> None:
        assert not self.running
        self.running = True
        self.log.append(f"{self.name} start")

    async def stop(self) -> None:
        assert self.running
        self.running = False
        self.log.append(f"{self.name} stop")


class FakeBot:
    """Accepts the command menus."""

    async def set_my_commands(self, *_: Any, **__: Any) -> bool:
        return True


class Clocks:
    """A wall clock and a monotonic clock that move together, by hand."""

    def __init__(self) -> None:
        self.wall = datetime(2026, 1, 1, tzinfo=UTC)
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


def receiver(db: Database, name: str, clocks: Clocks, log: list[str]) -> UpdateReceiver:
    """A receiver named `name` over `db`, with hand-moved clocks and a fake updater."""
    services = SimpleNamespace(
        settings=SimpleNamespace(lease_seconds=TTL, admin_ids=[]),
        db=db,
        instance=name,
        clock=lambda: clocks.wall,
    )
    application = SimpleNamespace(updater=FakeUpdater(log, name), bot=FakeBot())
    return UpdateReceiver(services, application, monotonic=lambda: clocks.mono)  # type: ignore[arg-type]


def polling(*receivers: UpdateReceiver) -> list[bool]:
    """Which receivers' updaters are polling."""
    return [r.application.updater.running for r in receivers]  # type: ignore[union-attr]


async def test_one_poller_and_a_quiet_step_before_polling(db: Database) -> None:
    """The first to take the lease polls after one step; the other never polls meanwhile."""
    clocks, log = Clocks(), []
    a, b = receiver(db, "a", clocks, log), receiver(db, "b", clocks, log)
    await a.step()
    await b.step()
    assert polling(a, b) == [False, False]
    clocks.advance(1)
    await a.step()
    await b.step()
    assert polling(a, b) == [True, False]
    for _ in range(5):
        clocks.advance(1)
        await a.step()
        await b.step()
        assert polling(a, b) == [True, False]
    await a.release()
    assert polling(a, b) == [False, False]
    await b.step()
    clocks.advance(1)
    await b.step()
    assert polling(a, b) == [False, True]
    assert log == ["a start", "a stop", "b start"]


async def test_a_stalled_renewal_stops_polling_before_the_lease_can_be_taken(
    db: Database,
) -> None:
    """A holder whose renewals hang stops polling by its own clock, before anyone takes over."""
    clocks, log = Clocks(), []
    a, b = receiver(db, "a", clocks, log), receiver(db, "b", clocks, log)
    await a.step()
    clocks.advance(1)
    await a.step()
    assert polling(a) == [True]
    stalled = asyncio.Event()

    async def hang() -> bool:
        await stalled.wait()
        return True

    a._acquire = hang  # type: ignore[method-assign]
    while clocks.mono < a.valid_until:
        await a.step()  # the renewal does not answer, but the lease is still surely ours
        assert polling(a) == [True]
        await b.step()
        assert polling(b) == [False]
        clocks.advance(0.75)
    await a.step()
    assert polling(a) == [False], "still polling after its lease may have run out"
    takeover = 0
    while not polling(b)[0]:
        clocks.advance(0.5)
        await b.step()
        takeover += 1
        assert takeover < 20
    assert log == ["a start", "a stop", "b start"]
    stalled.set()
    await a.release()
    assert polling(a, b) == [False, True]


async def test_a_failed_renewal_keeps_polling_while_the_lease_lasts(db: Database) -> None:
    """One database error does not move the updates; only a lease that may be gone does."""
    clocks, log = Clocks(), []
    a = receiver(db, "a", clocks, log)
    await a.step()
    clocks.advance(1)
    await a.step()

    async def fail() -> bool:
        raise ConnectionError("database went away")

    renew = a._acquire
    a._acquire = fail  # type: ignore[method-assign]
    clocks.advance(1)
    await a.step()
    assert polling(a) == [True]
    a._acquire = renew  # type: ignore[method-assign]
    clocks.advance(1)
    await a.step()
    assert polling(a) == [True]
    assert log == ["a start"]
    await a.release()
