"""The send budget, shared by demand among the sending processes (as timed send slots).

The budget (`AKHBAR_MAX_MESSAGES_PER_SECOND`) is for the whole bot. It is one clock of
evenly spaced send slots (`bot.pipeline.send_slots`): a process with messages to send
reserves a small batch of the next free slots and sends one message per slot, so the
processes together send at the budget whenever any of them has work, and a process with
nothing to send reserves nothing and leaves every slot to the others at once.

Where the clock lives: on PostgreSQL in the `send_budget` row (`SendBudgetRepo`, one atomic
UPDATE per batch, so processes on one database share it); on SQLite, which one process
serves, in this process (one bank per `Database`, shared by its workers).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from bot.pipeline.send_slots import IDLE_WINDOW, SlotBank, SlotPolicy, SlotQueue
from bot.settings import DEFAULT_MESSAGES_PER_SECOND, TELEGRAM_BULK_PER_SECOND
from storage.db import Database
from storage.repos.send_budget import SendBudgetRepo

log = logging.getLogger(__name__)

BUDGET_NAME = "bot"  # the bot's one budget, in the send_budget table
# How long a sender waits before asking again when a reservation failed (database down).
RESERVE_RETRY = 1.0
# Slots are reserved from now plus LEAD_FACTOR x the recent reservation round trip (at most
# MAX_LEAD), so they are not already stale when the answer comes.
LEAD_FACTOR = 1.5
MAX_LEAD = 0.5

_LOCAL_BANKS: weakref.WeakKeyDictionary[Database, SlotBank] = weakref.WeakKeyDictionary()


def idle_burst(policy: SlotPolicy) -> float:
    """How far before now an idle bank's first slot may start (`SlotPolicy.tolerance`, a
    burst due at once): only where late slots are kept (one budget alone on its bank,
    whose rate limiter guards Telegram's window); 0.0 where other budgets share the bank.

    There the ceiling's room over the budget is all taken by lateness (`SlotPolicy.grace`
    for slots used late, the rest for sends delayed on their way): a burst filled it at
    once (2 slots due together at 29/30, then 28 more in that second), so a burst used a
    few milliseconds late and another process's slot one second later, on time, made 31
    sends in one second at Telegram (measured: the fake Bot API's 429s with 2-3 processes).
    """
    return policy.tolerance if policy.keep_late else 0.0


def window_ceiling(max_per_second: float) -> float:
    """The most sends any 1 s window at Telegram may hold: the budget plus the default's room.

    The default budget (29) sits 1/29 under Telegram's bulk limit (30) and its windows are
    capped at exactly that limit; a raised budget (paid broadcasts) gets the same relative
    room (1,000 → 1,034). Sends stay evenly spaced at the budget while their answers are on
    the way (the cap only binds once answers take longer than about 1/29 s), and a budget
    set like the default, 1/30 under what Telegram allows, never overfills Telegram's window.
    """
    with_room = max_per_second * TELEGRAM_BULK_PER_SECOND / DEFAULT_MESSAGES_PER_SECOND
    return max(TELEGRAM_BULK_PER_SECOND, with_room)


class SlotSource(Protocol):
    """Where slots are reserved: the bank shared by every process sending for the bot."""

    async def reserve(
        self, now: float, count: int, spacing: float, tolerance: float, lanes: int
    ) -> float:
        """Take `count` consecutive slots of the lane free soonest (see `first_slot`);
        returns the first's time."""
        ...


class SharedSlots:
    """Slots from the database's `send_budget` row (every process on the database)."""

    def __init__(
        self, db: Database, name: str = BUDGET_NAME, clock: Callable[[], float] = time.time
    ) -> None:
        """Reserve from the budget called `name` in `db`; `clock` is the senders' clock
        (epoch seconds), on which a reservation measures its wait for a connection."""
        self.db = db
        self.name = name
        self.clock = clock
        self._lanes = 1  # lanes whose rows this process has made sure exist

    async def reserve(
        self, now: float, count: int, spacing: float, tolerance: float, lanes: int = 1
    ) -> float:
        """One statement, committed on its own: move a lane's clock past `count` slots.

        `now` moves on by the time a pooled connection took to come (a new one to PostgreSQL
        takes 50-150 ms), so the slots asked for are not stale before the statement runs.
        """
        asked = self.clock()
        async with self.db.autocommit() as session:
            await session.connection()
            ready = now + max(0.0, self.clock() - asked)
            repo = SendBudgetRepo(session)
            if lanes > self._lanes:  # the rows a budget kept with fewer lanes are not all
                await repo.add_lanes(self.name, lanes, ready - IDLE_WINDOW)
                self._lanes = lanes
            return await repo.reserve(
                self.name, ready, count, spacing, tolerance, IDLE_WINDOW, lanes=lanes
            )


class LocalSlots:
    """Slots from a bank in this process (SQLite: one process serves the database)."""

    def __init__(self, bank: SlotBank) -> None:
        """Reserve from `bank` (counted among its holders until `leave`)."""
        self.bank = bank
        self.joined = True
        bank.holders += 1

    @property
    def alone(self) -> bool:
        """Whether no other budget draws from this bank now."""
        return self.bank.holders <= 1

    def leave(self) -> None:
        """Stop counting among the bank's holders (once)."""
        if self.joined:
            self.joined = False
            self.bank.holders -= 1

    async def reserve(
        self, now: float, count: int, spacing: float, tolerance: float, lanes: int = 1
    ) -> float:
        """Move a lane's clock past `count` slots."""
        return self.bank.reserve(now, count, spacing, tolerance, lanes)


def slot_source(db: Database, clock: Callable[[], float] = time.time) -> SlotSource:
    """The database's row on PostgreSQL (`clock`: the senders' clock); else this process's
    bank for `db`."""
    if db.dialect == "postgresql":
        return SharedSlots(db, clock=clock)
    bank = _LOCAL_BANKS.get(db)
    if bank is None:
        bank = _LOCAL_BANKS[db] = SlotBank()
    return LocalSlots(bank)


class SendBudget:
    """This process's slots: reserved by demand, used one per send, in time order."""

    def __init__(
        self,
        source: SlotSource,
        policy: SlotPolicy,
        demand: Callable[[], int],
    ) -> None:
        """Reserve from `source` under `policy`, for `demand()` messages waiting."""
        self.source = source
        self.policy = policy
        self.demand = demand
        self.slots = SlotQueue(policy)
        self._keep_late()
        self.round_trip = 0.0  # seconds a reservation took lately (moving average)
        self._pending: asyncio.Task[None] | None = None  # a reservation on its way
        self._failing = False

    @property
    def max_per_second(self) -> float:
        """The bot's budget (all processes together)."""
        return self.policy.per_second

    @property
    def share(self) -> float:
        """The rate this process has been getting slots at lately (its demand's part)."""
        return self.policy.per_second * self.slots.fraction

    async def replenish(self, now: float) -> bool:
        """Reserve the next batch when it is needed; True when this waited for one (time
        passed: the caller looks at its clock again).

        With slots still held the reservation runs in the background and sends go on at
        those; with none held the caller waits for it.
        """
        if self._pending is None:
            self._keep_late()
            count = self.slots.needs(now, self.demand())
            if count == 0:
                return False
            self.slots.planned()
            self._pending = asyncio.create_task(self._reserve(now, count))
        if len(self.slots):
            return False
        await asyncio.shield(self._pending)
        return True

    async def _reserve(self, now: float, count: int) -> None:
        """Reserve `count` slots from a little after `now` (one round trip's lead)."""
        lead = min(MAX_LEAD, LEAD_FACTOR * self.round_trip)
        started = time.perf_counter()
        try:
            policy = self.slots.policy
            first = await self.source.reserve(
                now + lead, count, policy.lane_spacing, idle_burst(policy), policy.lanes
            )
        except Exception:
            if not self._failing:
                log.exception("reserving send slots failed; sends wait until it works again")
            self._failing = True
            return
        else:
            self._failing = False
            self.round_trip = (self.round_trip + time.perf_counter() - started) / 2
            self.slots.add(first, count, now + lead)
        finally:
            self._pending = None

    def _keep_late(self) -> None:
        """Use late slots while this budget alone draws from a bank in this process (one
        worker on SQLite: a late slot cannot crowd another's, and its rate limiter guards
        Telegram's window); drop them otherwise (see `SlotPolicy.grace`)."""
        alone = isinstance(self.source, LocalSlots) and self.source.alone
        if self.slots.policy.keep_late != alone:
            self.slots.policy = replace(self.policy, keep_late=alone)

    def wait(self, now: float) -> float:
        """Seconds until this process's next slot (0.0: one is due now, or none is held and
        the caller reserves at once; `RESERVE_RETRY` while reservations fail)."""
        wait = self.slots.wait(now)
        if wait is not None:
            return wait
        return RESERVE_RETRY if self._failing else 0.0

    def take(self, now: float) -> bool:
        """Use the slot due now; True when one was."""
        return self.slots.take(now)

    def release(self) -> int:
        """Give up the slots held and any reservation on its way (the process stops
        sending); returns how many slots."""
        if self._pending is not None:
            self._pending.cancel()
        if isinstance(self.source, LocalSlots):
            self.source.leave()
        return self.slots.clear()
