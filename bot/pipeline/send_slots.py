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

Every function takes time as float seconds (a wall clock shared by the processes).
"""

from __future__ import annotations

import math
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


@dataclass(frozen=True, slots=True)
class SlotPolicy:
    """The budget as slots: their spacing, how late one may be used, how many to reserve."""

    per_second: float  # the bot's budget: slots per second, all processes together
    ceiling: float  # the most sends any 1 s window may hold (at least the budget)
    horizon: float = 0.2  # seconds of slots one reservation takes at most
    lookahead: float = 0.1  # reserve the next batch when held slots cover less than this
    burst: float = 0.1  # the fraction of a second's slots an idle bank may grant at once
    # Late slots are used, not dropped: for a bank only one budget draws from (SQLite, one
    # worker), where its rate limiter's window (sends in flight counted) already guards
    # Telegram's; two budgets on one bank each have their own limiter, so they drop them.
    keep_late: bool = False

    @property
    def spacing(self) -> float:
        """Seconds between consecutive slots."""
        return 1.0 / self.per_second

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
        """Slots to reserve for `wanted` more sends: at most one horizon's worth, at least 1."""
        most = max(1, math.ceil(self.per_second * self.horizon))
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
        spacing = self.policy.spacing
        self._slots.extend(max(now, first + n * spacing) for n in range(count))
        start = now if self._end is None else max(self._end, now)
        others = max(0.0, first - start) / spacing  # an idle bank's burst: none
        part = count / (count + others)
        self.fraction = SHARE_SMOOTHING * part + (1 - SHARE_SMOOTHING) * self.fraction
        self._end = first + count * spacing

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

        Reserves when no slot is held, or when the held ones cover less than the lookahead
        and fewer than the demand, so the next batch is there before the last slot passes.
        The batch is at most the current cap: halved after slots went stale (never under
        one lookahead's worth, so batches still follow each other without a gap), else
        doubled (up to one horizon) each time a batch is planned.
        """
        self._prune(now)
        wanted = max(1, demand) - len(self._slots)
        if wanted <= 0:
            return 0
        if self._slots and self._slots[-1] - now >= self.policy.lookahead:
            return 0
        return min(self.cap, self.policy.batch(wanted))

    def planned(self) -> None:
        """A reservation is being made: adjust the cap for the next one."""
        most = self.policy.batch(1 << 30)
        least = min(most, math.ceil(self.policy.per_second * self.policy.lookahead))
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
    """The bank's state where one process holds it (SQLite, tests): the next free slot."""

    def __init__(self) -> None:
        """Nothing reserved yet, no one drawing from it."""
        self.next_free = -math.inf
        self.holders = 0  # budgets drawing from this bank now

    def reserve(self, now: float, count: int, spacing: float, tolerance: float = 0.0) -> float:
        """Take `count` slots; returns the first."""
        first, self.next_free = reserve(self.next_free, now, count, spacing, tolerance)
        return first
