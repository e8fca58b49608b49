"""Pure send-rate limiting for Telegram (the clock is passed in as float seconds).

Limits enforced, each as a sliding window so a Telegram-like enforcer never sees an excess:
- global: sends at `max_per_second`, exactly the budget (no margin: a budget of 1,000
  sends at 1,000 msg/s; the safety margin against Telegram's own limit lives in the
  configured budget, see `bot.settings`), at most `ceiling` (default: the budget) in any
  `global_window` (1 s) as the far end counts them, and spread out: sends are
  spaced `global_window / count` apart, with back-to-back bursts of at most `burst` of the
  window's count. Without the spreading, a whole window's sends leave at once and reach
  Telegram over tens of milliseconds (serialisation, one socket each), while the next
  window's first send arrives at once: a strict sliding window at the far end then counts
  one too many. Evenly spaced sends arrive with even delays, and `begin`/`settle` count each
  send in the global window from the moment it is allowed until its answer comes, then at
  the answer's time (never earlier than Telegram saw it), so a send delayed on its way (a
  busy event loop) cannot overfill the far window: the global window needs no margin.
  Counting a send until its answer costs one round trip per window (the rate is the
  budget divided by 1 + round trip), unless a `ceiling` above the budget (Telegram's own
  limit) leaves room for the sends still on their way: then the spacing alone sets the
  rate and the window only caps it at the ceiling;
- private chat: at most one send per `private_interval` (1 s, plus `margin`);
- group / supergroup / channel: at most `group_count` (20) sends in any `group_window`
  (60 s, plus `margin`). Per-chat sends are counted when they start, not when answered, so
  a first send delayed on its way could reach Telegram less than a window before the next:
  the per-chat windows keep the margin;
- blocks from 429 answers: until a time, for one chat or for everything.

`acquire()` is check-and-record in one step, so concurrent asyncio tasks cannot both take
the last slot (there is no await between the check and the record).
"""

from __future__ import annotations

import bisect
import math
from collections import deque

PRUNE_EVERY = 4096
MIN_WAIT = 0.001  # never ask for a wait too small to move a float clock


class RateLimiter:
    """Global, per-chat and 429-block limits; every method takes `now` in seconds."""

    def __init__(
        self,
        max_per_second: float = 30.0,
        *,
        global_window: float = 1.0,
        private_interval: float = 1.0,
        group_count: int = 20,
        group_window: float = 60.0,
        margin: float = 0.03,
        burst: float = 0.1,
        ceiling: float | None = None,
    ) -> None:
        """Configure the limits; `margin` widens the per-chat windows (fraction) against jitter.

        The global window is exactly `global_window`: `max_per_second` is what is sent.
        `burst` is the fraction of the global count that may go back to back (at least one).
        `ceiling` (per second, default the budget) is the most sends any global window may
        hold as the far end counts them; above the budget, it lets sends keep their even
        spacing while their answers are on the way, and still caps every window.
        """
        self.global_window = global_window
        self.burst = burst
        self.retune(max_per_second, ceiling)
        self.private_interval = private_interval * (1 + margin)
        self.group_count = group_count
        self.group_window = group_window * (1 + margin)
        self._global_tat = -math.inf  # when the next evenly spaced send is due (GCRA)
        self._global: deque[float] = deque()
        self._in_flight = 0  # sends begun and not settled: inside every global window
        self._private_last: dict[int, float] = {}
        self._groups: dict[int, deque[float]] = {}
        self._chat_blocked: dict[int, float] = {}
        self._global_blocked = 0.0
        self._records = 0

    def retune(self, max_per_second: float, ceiling: float | None = None) -> None:
        """Set the global budget (and ceiling); sends already counted stay counted.

        A worker that shares the budget with other processes retunes to its share.
        """
        if max_per_second <= 0:
            raise ValueError("max_per_second must be positive")
        self.global_count = max(1, math.floor(max_per_second * self.global_window))
        cap = self.global_count if ceiling is None else math.floor(ceiling * self.global_window)
        self.window_count = max(self.global_count, cap)
        self.global_spacing = self.global_window / self.global_count
        burst_count = max(1, math.floor(self.global_count * self.burst))
        self.burst_tolerance = (burst_count - 1) * self.global_spacing

    def next_allowed(self, chat_id: int, chat_is_group: bool, now: float) -> float:
        """Seconds to wait before a send to this chat is allowed (0.0 when allowed now)."""
        wait = max(
            self._global_blocked - now,
            self._window_wait(now),
            self._global_tat - self.burst_tolerance - now,
            self.chat_wait(chat_id, chat_is_group, now),
        )
        if wait <= 0:
            return 0.0
        return max(wait, MIN_WAIT)

    def _window_wait(self, now: float) -> float:
        """Seconds until the global window, sends in flight included, has room for one more."""
        q = self._global
        while q and now - q[0] >= self.global_window:
            q.popleft()
        over = len(q) + self._in_flight - self.window_count  # counted sends that must leave
        if over < 0:
            return 0.0
        if over < len(q):  # the oldest `over + 1` answered sends leave first, in time order
            return self.global_window - (now - q[over])
        return self.global_spacing  # only sends in flight: until an answer settles one

    def chat_wait(self, chat_id: int, chat_is_group: bool, now: float) -> float:
        """Seconds the per-chat limits alone hold this chat (its spacing, window, 429 block)."""
        wait = self._chat_blocked.get(chat_id, 0.0) - now
        if chat_is_group:
            q = self._groups.get(chat_id)
            if q is not None:
                wait = max(wait, _window_wait(q, self.group_count, self.group_window, now))
        else:
            last = self._private_last.get(chat_id)
            if last is not None:
                wait = max(wait, last + self.private_interval - now)
        return max(wait, 0.0)

    def record(
        self,
        chat_id: int,
        now: float,
        chat_is_group: bool = False,
        *,
        global_at: float | None = math.nan,
    ) -> None:
        """Count one send to this chat at `now` (globally at `global_at`; None: in flight)."""
        if global_at is None:
            self._in_flight += 1
        else:
            self._global.append(now if math.isnan(global_at) else global_at)
        self._global_tat = max(self._global_tat, now) + self.global_spacing
        if chat_is_group:
            self._groups.setdefault(chat_id, deque()).append(now)
        else:
            self._private_last[chat_id] = now
        self._records += 1
        if self._records % PRUNE_EVERY == 0:
            self.prune(now)

    def acquire(self, chat_id: int, chat_is_group: bool, now: float) -> float:
        """Record a send and return 0.0 if allowed now; otherwise return the wait, recording nothing.

        The send counts globally at `now`; real sends use `begin`/`settle` instead.
        """
        wait = self.next_allowed(chat_id, chat_is_group, now)
        if wait <= 0:
            self.record(chat_id, now, chat_is_group)
        return wait

    def begin(self, chat_id: int, chat_is_group: bool, now: float) -> float:
        """`acquire` for a send whose answer will be `settle`d: 0.0 when it may go now.

        Until settled, the send counts in every global window.
        """
        wait = self.next_allowed(chat_id, chat_is_group, now)
        if wait <= 0:
            self.record(chat_id, now, chat_is_group, global_at=None)
        return wait

    def settle(self, now: float) -> None:
        """The answer to a begun send arrived at `now`: count it at that time from now on."""
        self._in_flight = max(0, self._in_flight - 1)
        bisect.insort(self._global, now)

    def block_chat(self, chat_id: int, until: float) -> None:
        """Hold every send to one chat until `until` (a 429 for that chat)."""
        self._chat_blocked[chat_id] = max(until, self._chat_blocked.get(chat_id, 0.0))

    def block_global(self, until: float) -> None:
        """Hold every send until `until` (a global 429)."""
        self._global_blocked = max(until, self._global_blocked)

    def prune(self, now: float) -> None:
        """Forget per-chat state that can no longer delay anything (bounded memory)."""
        self._private_last = {
            c: t for c, t in self._private_last.items() if t + self.private_interval > now
        }
        for chat_id in [
            c for c, q in self._groups.items() if not q or now - q[-1] >= self.group_window
        ]:
            del self._groups[chat_id]
        self._chat_blocked = {c: t for c, t in self._chat_blocked.items() if t > now}

    def tracked_chats(self) -> int:
        """How many chats have per-chat state (for memory checks)."""
        return len(self._private_last) + len(self._groups) + len(self._chat_blocked)


def _window_wait(q: deque[float], count: int, window: float, now: float) -> float:
    """Seconds until one more event fits in a sliding window of `count` per `window`."""
    while q and now - q[0] >= window:
        q.popleft()
    if len(q) < count:
        return 0.0
    return window - (now - q[-count])
