"""Pure allocation of the bot's send budget among processes, as timed send slots.

The budget (messages per second) is one clock of evenly spaced send slots shared by every
sending process: the bank keeps the time of the next free slot, and a process that has
messages to send reserves a small batch of consecutive slots from it (`reserve`). Slots
go to whoever asks, so the aggregate rate follows the budget whenever any process has
work, and a process that stops asking (idle, stopped or dead) leaves the next slots to the
others at once: nothing is split by head count and nothing waits for a lease to expire.

A process sends each message at one of its slots (`SlotQueue`), never before it, and
drops a slot it could not use within `SlotPolicy.grace` of its time: every 1 s window
then holds at most budget x (1 + grace) sends, which the grace keeps within the ceiling
(Telegram's limit, see `bot.delivery.budget.window_ceiling`) however the processes
interleave. Reserved batches are sized by the process's demand (messages it holds) and a
short horizon, so an idle process wastes at most the slots of its last batch; a process
that lets slots go stale (it cannot keep up: a busy CPU, slow answers) halves its next
batches, and doubles them again once it uses what it reserves, so a slow process does not
hold slots the others could use.

Lanes: a batch is consecutive slots, which its process must use at the pace of the clock
they come from. A high budget is dealt from several clocks (`SlotPolicy.lanes`, each at
budget / lanes, and a reservation takes the lane that is free soonest), so no process must
keep the whole budget's pace: at 1,000 msg/s one clock's 200-slot batches had each process
send 1,000 msg/s in turn, which none kept up on a loaded machine (it fell the grace behind
and dropped a slot in every few); four lanes at 250 msg/s interleave the processes' batches.
Each lane's 1 s windows hold at most one slot more than its share, so lanes are only as
many as a quarter of the ceiling's room over the budget allows (`LANE_ROOM_SHARE`).

Every function takes time as float seconds (a wall clock shared by the processes).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass

# Weight of the newest reservation in a process's estimate of its part of the slots.
SHARE_SMOOTHING = 0.5
# A slot this close ahead is due now (float epoch seconds and datetimes round to about
# a microsecond); a longer wait is at least MIN_WAIT, so it always moves a clock.
DUE_WITHIN = 1e-6
MIN_WAIT = 0.001
IDLE_WINDOW = 1.0  # the window Telegram counts sends in (seconds)
# The part of the ceiling's room over the budget a late slot may use (the rest absorbs
# sends delayed between their slot and Telegram, which no process sees).
LATENESS_SHARE = 0.5
# The part of that room the lanes may use (each lane may put one slot more in a window).
LANE_ROOM_SHARE = 0.25
MAX_LANES = 4


@dataclass(frozen=True, slots=True)
class SlotPolicy:
    """The budget as slots: their spacing, how late one may be used, how many to reserve."""

    per_second: float  # the bot's budget: slots per second, all processes together
    ceiling: float  # the most sends any 1 s window may hold (at least the budget)
    horizon: float = 0.2  # seconds of slots one reservation takes at most
    lookahead: float = 0.1  # reserve the next batch when held slots cover less than this
    burst: float = 0.1  # the fraction of a second's slots an idle bank may grant at once
    max_lanes: int = MAX_LANES  # clocks the budget may be dealt from (see `lanes`)
    # Late slots are used, not dropped: for a bank only one budget draws from (SQLite, one
    # worker), where its rate limiter's window (sends in flight counted) already guards
    # Telegram's; two budgets on one bank each have their own limiter, so they drop them.
    keep_late: bool = False

    @property
    def spacing(self) -> float:
        """Seconds between consecutive slots of the whole budget."""
        return 1.0 / self.per_second

    @property
    def lanes(self) -> int:
        """Clocks the budget is dealt from: as many as a quarter of the ceiling's room over
        the budget allows (one at 29/30, four at 1,000/1,034), at most `max_lanes`."""
        room = (self.ceiling - self.per_second) * LANE_ROOM_SHARE
        return max(1, min(self.max_lanes, math.floor(room + 1e-9)))

    @property
    def lane_spacing(self) -> float:
        """Seconds between consecutive slots of one lane (and of one batch)."""
        return self.lanes / self.per_second

    @property
    def grace(self) -> float:
        """How late a slot may still be used: half the lateness that keeps every 1 s window
        within the ceiling (budget x (1 + lateness) <= ceiling), the other half being left
        for sends delayed on their way; at least a millisecond."""
        if self.keep_late:
            return math.inf
        return max(0.001, (self.ceiling / self.per_second - 1.0) * LATENESS_SHARE)

    @property
    def tolerance(self) -> float:
        """How far behind now a bank idle for a whole window starts: its first slots (a
        `burst` of the budget, at most the ceiling's room over the budget) are then due at
        once, like the rate limiter's bursts after a pause. The window before is empty, so no
        1 s window gets more than the ceiling as long as the slots are used on time; that
        holds for one worker alone on its bank (its rate limiter keeps late slots in line),
        so a bank shared by several processes is given no burst (`bot.delivery.budget`)."""
        room = math.floor(self.ceiling - self.per_second + 1e-9)
        extra = min(max(1, math.floor(self.per_second * self.burst)) - 1, room)
        return max(0, extra) * self.spacing

    def batch(self, wanted: int) -> int:
        """Slots to reserve for `wanted` more sends: at most one horizon of one lane's
        slots, at least 1."""
        most = max(1, math.ceil(self.per_second / self.lanes * self.horizon))
        return max(1, min(most, wanted))


def first_slot(next_free: float, now: float, tolerance: float) -> float:
    """The first slot a reservation at `now` gets: right after the last one taken, never
    before now, except that a bank idle for a whole window (`IDLE_WINDOW`) starts
    `tolerance` before now (a burst, see `SlotPolicy.tolerance`)."""
    if next_free <= now - IDLE_WINDOW:
        return now - tolerance
    return max(next_free, now)


def reserve(
    next_free: float, now: float, count: int, spacing: float, tolerance: float = 0.0
) -> tuple[float, float]:
    """Take `count` slots from a bank whose next free slot is at `next_free`.

    Returns (the first slot, the bank's next free slot after them); see `first_slot`.
    """
    first = first_slot(next_free, now, tolerance)
    return first, first + count * spacing


class SlotQueue:
    """One process's reserved slots, used in time order; stale ones are dropped."""

    def __init__(self, policy: SlotPolicy) -> None:
        """No slots yet; the process's estimated part of the budget starts at all of it."""
        self.policy = policy
        self._slots: deque[float] = deque()
        self._end: float | None = None  # just after the last slot reserved
        self._busy_until = -math.inf  # the bank's next slots are taken until about then
        self.fraction = 1.0  # this process's part of the recent slots (0..1]
        self.dropped = 0  # slots not used in time (lost budget, for the logs)
        self.cap = policy.batch(1 << 30)  # the most one reservation takes now
        self._stale = False  # a slot went stale since the last reservation

    def __len__(self) -> int:
        """Slots held and not yet used or dropped."""
        return len(self._slots)

    def add(self, first: float, count: int, now: float) -> None:
        """Hold `count` slots from `first` (a reservation made at `now`; slots before `now`,
        an idle bank's burst, are due at `now`), and update the estimate of this process's
        part: the slots others took between its own batches."""
        spacing = self.policy.lane_spacing
        added = [max(now, first + n * spacing) for n in range(count)]
        if self._slots and added[0] < self._slots[-1]:  # another lane's: merged in order
            added = sorted([*self._slots, *added])
            self._slots.clear()
        self._slots.extend(added)
        start = now if self._end is None else max(self._end, now)
        others = max(0.0, first - start) / spacing  # an idle bank's burst: none
        part = count / (count + others)
        self.fraction = SHARE_SMOOTHING * part + (1 - SHARE_SMOOTHING) * self.fraction
        self._end = first + count * spacing
        # Slots from well ahead: every lane is taken until then, so asking again sooner
        # would only reserve further ahead (hoarding what others may need first).
        self._busy_until = first - self.policy.lookahead

    def _prune(self, now: float) -> None:
        """Drop slots older than the grace allows."""
        grace = self.policy.grace
        stale = 0
        while self._slots and now - self._slots[0] > grace:
            self._slots.popleft()
            stale += 1
        if stale:
            self.dropped += stale
            self._stale = True

    def needs(self, now: float, demand: int) -> int:
        """How many slots to reserve now for `demand` messages waiting (0: none).

        Reserves when no slot is held, or when fewer than the demand are held and the held
        ones cover less than the lookahead, so the next batch is there before the last slot
        passes. With lanes, also when those due within the lookahead are fewer than the
        whole budget's slots in it (a process alone takes every lane), unless the last batch
        came from well ahead (every lane is taken until then). The batch is at most the
        current cap: halved after slots went stale (never under one lookahead's worth of a
        lane, so batches still follow each other without a gap), else doubled (up to one
        horizon) each time a batch is planned.
        """
        self._prune(now)
        wanted = max(1, demand) - len(self._slots)
        if wanted <= 0:
            return 0
        policy = self.policy
        if self._slots and self._slots[-1] - now >= policy.lookahead:
            if policy.lanes == 1 or now < self._busy_until:
                return 0
            due_soon = bisect_left(self._slots, now + policy.lookahead)  # held in time order
            if due_soon >= policy.per_second * policy.lookahead - 1e-9:
                return 0
        return min(self.cap, policy.batch(wanted))

    def planned(self) -> None:
        """A reservation is being made: adjust the cap for the next one."""
        most = self.policy.batch(1 << 30)
        lane_rate = self.policy.per_second / self.policy.lanes
        least = min(most, math.ceil(lane_rate * self.policy.lookahead))
        self.cap = max(least, self.cap // 2) if self._stale else min(most, self.cap * 2)
        self._stale = False

    def wait(self, now: float) -> float | None:
        """Seconds until the next held slot (0.0 when usable now); None when none is held."""
        self._prune(now)
        if not self._slots:
            return None
        wait = self._slots[0] - now
        return 0.0 if wait <= DUE_WITHIN else max(wait, MIN_WAIT)

    def take(self, now: float) -> bool:
        """Use the next slot if it is due and not stale; True when one was used."""
        wait = self.wait(now)
        if wait is None or wait > 0:
            return False
        self._slots.popleft()
        return True

    def clear(self) -> int:
        """Give up every held slot (they are lost to the budget); returns how many."""
        n = len(self._slots)
        self._slots.clear()
        return n


class SlotBank:
    """The bank's state where one process holds it (SQLite, tests): each lane's next free
    slot."""

    def __init__(self) -> None:
        """Nothing reserved yet, no one drawing from it."""
        self.next_free: list[float] = []  # per lane
        self.holders = 0  # budgets drawing from this bank now

    def reserve(
        self, now: float, count: int, spacing: float, tolerance: float = 0.0, lanes: int = 1
    ) -> float:
        """Take `count` slots `spacing` apart from the lane free soonest; returns the first."""
        while len(self.next_free) < lanes:
            self.next_free.append(-math.inf)
        lane = min(range(lanes), key=self.next_free.__getitem__)
        first, self.next_free[lane] = reserve(self.next_free[lane], now, count, spacing, tolerance)
        return first
