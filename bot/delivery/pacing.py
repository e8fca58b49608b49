"""Pacing: when a send may begin, under the shared budget, the rate limiter and the deadline.

A send begins at one of this process's send slots (`bot.delivery.budget.SendBudget`, the
bot's budget shared by demand among processes) and within the local `RateLimiter` (the
per-chat limits, 429 blocks, and the 1 s window counting sends still in flight). Per-chat
waits are slept alone; the global pace is waited for behind one gate, one sender at a time
in arrival order, so each send costs one timed wait instead of every sender waking for
every free slot; the sender in the gate also reserves the next slots when they run low. No send begins after the claim's deadline or once the worker
is stopping (checked right before the send): the caller then gives the chat's rows back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.delivery.budget import SendBudget
from bot.domain import Clock
from bot.pipeline.limits import RateLimiter
from bot.pipeline.outcomes import Pause

Sleep = Callable[[float], Awaitable[None]]

# The wait reported when a send may no longer begin (the claim's deadline has passed or
# the worker is stopping): the chat's rows go back to pending this far ahead.
TOO_LATE_WAIT = 1.0


class Pacer:
    """Spaces sends with a `RateLimiter`; every send begun must be `settle`d."""

    def __init__(
        self,
        limiter: RateLimiter,
        clock: Clock,
        sleep: Sleep,
        stopping: asyncio.Event,
        budget: SendBudget,
    ) -> None:
        """Pace with `budget` and `limiter` on `clock`; `stopping` set means no send may begin."""
        self.budget = budget
        self.limiter = limiter
        self.clock = clock
        self.sleep = sleep
        self.stopping = stopping
        self._gate = asyncio.Lock()  # one sender at a time waits for the global pace

    async def begin(self, chat_id: int, is_group: bool, deadline: datetime) -> datetime | None:
        """Wait until a send to the chat may begin and begin it (None); or, when the wait
        would outlast `deadline` or the worker stops, the time the chat's rows may be
        retried (nothing begun)."""
        while True:
            now = self.clock()
            wait = self.limiter.chat_wait(chat_id, is_group, now.timestamp())
            if wait <= 0:
                async with self._gate:
                    now, wait = await self._begin_in_turn(chat_id, is_group, deadline)
                if wait <= 0:
                    return None
            if now + timedelta(seconds=wait) >= deadline or self.stopping.is_set():
                return now + timedelta(seconds=wait)
            await self.sleep(wait)

    async def _begin_in_turn(
        self, chat_id: int, is_group: bool, deadline: datetime
    ) -> tuple[datetime, float]:
        """Holding the gate: wait out global limits and begin the send; (now, 0.0) when begun.

        Returns the wait instead when a per-chat limit binds (slept outside the gate) or
        when it would outlast the deadline or the worker is stopping.
        """
        while True:
            now = self.clock()
            if now >= deadline or self.stopping.is_set():
                # Checked here, right before a send begins: the claim may run out while a
                # sender waits for the gate, and a row must not go out once another claim
                # may have taken it.
                return now, TOO_LATE_WAIT
            stamp = now.timestamp()
            if await self.budget.replenish(stamp):
                continue  # slots reserved (time passed): look at the clock again
            chat_wait = self.limiter.chat_wait(chat_id, is_group, stamp)
            if chat_wait > 0:
                return now, chat_wait
            wait = max(self.budget.wait(stamp), self.limiter.next_allowed(chat_id, is_group, stamp))
            if wait <= 0 and self.budget.take(stamp):
                self.limiter.begin(chat_id, is_group, stamp)
                return now, 0.0
            if now + timedelta(seconds=wait) >= deadline or self.stopping.is_set():
                return now, wait
            await self.sleep(wait)

    def settle(self) -> None:
        """Count a begun send as answered now (whatever the answer)."""
        self.limiter.settle(self.clock().timestamp())

    def pause(self, pause: Pause, chat_id: int, until: datetime) -> None:
        """Hold back sends after a 429: to one chat, or to every chat."""
        if pause is Pause.GLOBAL:
            self.limiter.block_global(until.timestamp())
        else:
            self.limiter.block_chat(chat_id, until.timestamp())
