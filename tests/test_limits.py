"""Pure rate limiting: global budget, per-chat spacing, group windows, 429 blocks."""

from __future__ import annotations

import heapq
import itertools
import random
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


def rate_of(times: list[float]) -> float:
    """Sends per second from the first send to the last."""
    return (len(times) - 1) / (times[-1] - times[0])


def test_global_budget_is_a_sliding_window() -> None:
    """No 1 s window holds more than the budget, and the rate is the budget itself."""
    limiter = RateLimiter(30)
    sends = drive(limiter, [(c, False) for c in range(1000)], 3000)
    times = [t for t, _ in sends]
    assert max_in_window(times, 1.0) == 30
    assert 29.9 <= rate_of(times) <= 30.1


def test_budget_means_what_it_says() -> None:
    """Any budget is reached (within 0.5 %) and never exceeded: no hidden margin."""
    for budget in (29, 100, 1000, 2500):
        limiter = RateLimiter(budget)
        sends = drive(limiter, [(c, False) for c in range(5 * budget)], 20 * budget)
        times = [t for t, _ in sends]
        assert max_in_window(times, 1.0) == budget
        assert budget * 0.995 <= rate_of(times) <= budget * 1.01


def drive_with_answers(limiter: RateLimiter, n: int, seed: int) -> tuple[list[float], list[float]]:
    """Send `n` messages with begin/settle over random round trips; (begins, far-end arrivals).

    Each send reaches the far end at a random point of its round trip (3-40 ms) and is
    answered at its end, as a loaded event loop and network would make it.
    """
    rng = random.Random(seed)
    now, chat = 0.0, 0
    begins: list[float] = []
    arrivals: list[float] = []
    answers: list[float] = []  # pending answer times (a min-heap)
    while len(begins) < n:
        while answers and answers[0] <= now:
            limiter.settle(heapq.heappop(answers))
        wait = limiter.begin(chat, False, now)
        if wait > 0:
            now = min(now + wait, answers[0]) if answers else now + wait
            continue
        trip = rng.uniform(0.003, 0.040)
        begins.append(now)
        arrivals.append(now + rng.uniform(0.0, trip))
        heapq.heappush(answers, now + trip)
        chat += 1
    return begins, sorted(arrivals)


def test_far_end_never_sees_more_than_the_budget() -> None:
    """Counting a send until its answer keeps every far-end 1 s window within the budget."""
    for budget, seed in ((29, 1), (30, 2), (1000, 3)):
        begins, arrivals = drive_with_answers(RateLimiter(budget), 12 * budget, seed)
        assert max_in_window(arrivals, 1.0) <= budget
        # The only loss is the round trip: within 4 % (40 ms per second) of the budget.
        assert rate_of(begins) >= budget * 0.96


def test_ceiling_keeps_the_budget_rate_under_slow_answers() -> None:
    """Budget 29 under a ceiling of 30: the spacing sets the rate, the far end sees ≤ 30."""
    for seed in (4, 5, 6):
        begins, arrivals = drive_with_answers(RateLimiter(29, ceiling=30), 600, seed)
        assert max_in_window(arrivals, 1.0) <= 30
        assert rate_of(begins) >= 28.9
    begins, _ = drive_with_answers(RateLimiter(29), 600, 4)
    assert rate_of(begins) < 28.9  # without the ceiling each window also waits an answer


def test_private_chat_spacing() -> None:
    """Two sends to one private chat are a second apart plus the per-chat margin."""
    limiter = RateLimiter(30, margin=0.03)
    times = [t for t, _ in drive(limiter, [(7, False)], 5)]
    assert all(b - a >= 1.03 - 1e-9 for a, b in itertools.pairwise(times))


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


def test_chat_wait_ignores_the_global_limits() -> None:
    """`chat_wait` is the per-chat part of `next_allowed`: spacing, group window, chat blocks."""
    limiter = RateLimiter(1, margin=0.0)
    limiter.record(7, 0.0)
    assert limiter.next_allowed(8, False, 0.5) > 0  # the global budget of 1 is spent
    assert limiter.chat_wait(8, False, 0.5) == 0.0
    assert limiter.chat_wait(7, False, 0.5) == 0.5  # private spacing
    limiter.block_global(10.0)
    limiter.block_chat(9, 3.0)
    assert limiter.chat_wait(9, True, 1.0) == 2.0 and limiter.chat_wait(8, True, 1.0) == 0.0
    for _ in range(20):
        limiter.record(-5, 2.0, True)
    assert limiter.chat_wait(-5, True, 2.0) == 60.0
