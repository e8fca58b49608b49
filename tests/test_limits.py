"""Pure rate limiting: global budget, per-chat spacing, group windows, 429 blocks."""

from __future__ import annotations

import itertools
from collections import deque

from bot.pipeline.limits import RateLimiter


def drive(limiter: RateLimiter, chats: list[tuple[int, bool]], n: int) -> list[tuple[float, int]]:
    """Send `n` messages round-robin over chats with a fake clock; returns (time, chat) sends."""
    now, i = 0.0, 0
    sent: list[tuple[float, int]] = []
    while len(sent) < n:
        chat, group = chats[i % len(chats)]
        wait = limiter.acquire(chat, group, now)
        if wait > 0:
            now += wait
            continue
        sent.append((now, chat))
        i += 1
    return sent


def max_in_window(times: list[float], window: float) -> int:
    """The most events in any half-open window of this length."""
    q: deque[float] = deque()
    best = 0
    for t in times:
        q.append(t)
        while t - q[0] >= window:
            q.popleft()
        best = max(best, len(q))
    return best


def test_global_budget_is_a_sliding_window() -> None:
    """No 1 s window holds more than the budget, and the rate is close to it."""
    limiter = RateLimiter(30)
    sends = drive(limiter, [(c, False) for c in range(1000)], 3000)
    times = [t for t, _ in sends]
    assert max_in_window(times, 1.0) <= 30
    rate = len(times) / (times[-1] - times[0])
    assert rate >= 28.5


def test_high_budget() -> None:
    """1,000 msg/s is reachable when the budget allows."""
    limiter = RateLimiter(1000)
    sends = drive(limiter, [(c, False) for c in range(5000)], 20000)
    times = [t for t, _ in sends]
    assert max_in_window(times, 1.0) <= 1000
    assert len(times) / (times[-1] - times[0]) >= 950


def test_private_chat_spacing() -> None:
    """Two sends to one private chat are at least a second apart."""
    limiter = RateLimiter(30)
    times = [t for t, _ in drive(limiter, [(7, False)], 5)]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


def test_group_twenty_per_minute() -> None:
    """A group gets at most 20 messages in any 60 s, but can burst up to that."""
    limiter = RateLimiter(30)
    times = [t for t, _ in drive(limiter, [(-100, True)], 45)]
    assert max_in_window(times, 60.0) <= 20
    assert times[19] < 1.0  # the first 20 go at once


def test_retry_after_blocks_chat_and_global() -> None:
    """A chat block holds only that chat; a global block holds everything."""
    limiter = RateLimiter(30)
    limiter.block_chat(1, 10.0)
    assert limiter.next_allowed(1, False, 0.0) == 10.0
    assert limiter.next_allowed(2, False, 0.0) == 0.0
    limiter.block_global(5.0)
    assert limiter.next_allowed(2, True, 1.0) == 4.0
    assert limiter.next_allowed(2, True, 5.0) == 0.0


def test_next_allowed_does_not_record_and_prune_bounds_memory() -> None:
    """Checking is free; old per-chat state is forgotten."""
    limiter = RateLimiter(100)
    assert limiter.next_allowed(1, False, 0.0) == 0.0
    assert limiter.next_allowed(1, False, 0.0) == 0.0
    for chat in range(500):
        limiter.record(chat, 0.0, chat % 2 == 0)
    assert limiter.tracked_chats() == 500
    limiter.prune(100.0)
    assert limiter.tracked_chats() == 0
