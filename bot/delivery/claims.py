"""Claims: due outbox rows taken with a lease, grouped into one job per chat, and refills.

Claims are sized from the measured send rate: each claim takes about what the worker
achieved per second times ``batch_seconds`` (at most the budget allows and ``batch``), so
rows are rarely claimed only to be released at the lease deadline. Each job carries a
deadline before the lease ends, far enough that a send begun by then ends (it is cut off at
the longest send) and is recorded while the claim still holds; no send begins after it.
The budget part in the sizing is the rate this process has lately been getting send slots
at (`SendBudget.share`), so a long pass adapts when other processes start or stop sending.

Per-chat pace across processes: a claim takes only rows of chats that no other process
paces, and paces the chats it takes until its lease ends (groups a group window longer),
so every send to one chat goes through one process's rate limiter; when the worker stops
it hands its chats back after one more pace interval (`ChatPace`).

A pass claims the next batch (`Refill`) when about ``refill_seconds`` of sends are left,
so sending never stops between batches. A row still in one of this process's unfinished
jobs is never queued again by a refill (its claim may have run out while queued).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.delivery.budget import SendBudget
from bot.domain import Article, Chat, Clock, Delivery
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.chats import ChatRepo
from storage.repos.deliveries import DeliveryRepo

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Job:
    """One chat's claimed rows, with what sending them needs."""

    chat: Chat | None
    chat_id: int
    rows: list[Delivery]
    articles: dict[int, Article]
    deadline: datetime


# Told a claim's chat ids before their jobs are queued (the composer reads what it needs
# for all of them at once, e.g. `bot.pushes.PushComposer.prepare`).
PrepareChats = Callable[[list[int]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Claim:
    """What one claim took: rows queued, rows asked for, and the jobs."""

    claimed: int
    limit: int
    jobs: list[Job]


@dataclass(frozen=True, slots=True)
class ClaimSizing:
    """How much to claim: at most `batch` rows, about `batch_seconds` of sends."""

    batch: int = 1000
    batch_seconds: float = 5.0
    max_in_flight: int = 64


@dataclass(frozen=True, slots=True)
class ChatPace:
    """How long a chat stays with the process that last sent to it: private, group."""

    private: timedelta = timedelta(seconds=1.03)
    group: timedelta = timedelta(seconds=61.8)


def send_margin(lease: timedelta, longest_send: timedelta) -> timedelta:
    """How long before its lease ends a job begins no send: the longest send plus a second to
    record it (at least a quarter lease, capped at 10 s), but never over half the lease."""
    floor = min(lease / 4, timedelta(seconds=10))
    return min(max(floor, longest_send + timedelta(seconds=1)), lease / 2)


class Claimer:
    """Claims due rows for one holder and remembers which rows its unfinished jobs hold."""

    def __init__(
        self,
        db: Database,
        holder: str,
        budget: SendBudget,
        *,
        lease: timedelta,
        sizing: ClaimSizing,
        clock: Clock,
        longest_send: timedelta,
        pace: ChatPace = ChatPace(),
        prepare: PrepareChats | None = None,
    ) -> None:
        """Claim for `holder` with leases of `lease`, sized by `sizing` and the budget; no
        send begins later than `longest_send` (plus a second) before a lease ends;
        `prepare` is told each claim's chats before their jobs are queued."""
        self.db = db
        self.holder = holder
        self.budget = budget
        self.lease = lease
        self.sizing = sizing
        self.clock = clock
        self.pace = pace
        self.margin = send_margin(lease, longest_send)
        self.prepare = prepare
        self._live: set[int] = set()  # ids of rows in this process's unfinished jobs
        self._rate: float | None = None  # measured messages per second (moving average)

    @property
    def held(self) -> frozenset[int]:
        """Ids of the rows in jobs not yet finished."""
        return frozenset(self._live)

    @property
    def holding(self) -> int:
        """How many rows are in jobs not yet finished (this process's demand for slots)."""
        return len(self._live)

    def claim_size(self) -> int:
        """Rows to claim next: the measured rate over one batch horizon, within the budget."""
        sizing = self.sizing
        horizon = min(self.lease.total_seconds() / 2, sizing.batch_seconds)
        cap = max(1, min(sizing.batch, int(self.budget.share * horizon)))
        if self._rate is None:
            return cap  # nothing measured yet: assume the budget is reachable
        return max(1, min(cap, max(sizing.max_in_flight, int(self._rate * horizon))))

    def measure(self, claimed: int, limit: int, messages: int, seconds: float) -> None:
        """Fold one pass's rate into the estimate (only full passes tell the achievable rate)."""
        if claimed < limit or messages == 0 or seconds <= 0:
            return
        rate = messages / seconds
        self._rate = rate if self._rate is None else (self._rate + rate) / 2

    async def claim(self) -> Claim:
        """Claim due rows and group them by chat, with their chats and articles."""
        now = self.clock()
        limit = self.claim_size()
        async with self.db.unit_of_work() as session:
            claimed = await DeliveryRepo(session).claim(
                now, self.holder, now + self.lease, limit, group_pace=self.pace.group
            )
        if not claimed:
            return Claim(0, limit, [])
        deadline = now + self.lease - self.margin
        by_chat: dict[int, list[Delivery]] = {}
        for row in claimed:
            if row.id in self._live:
                # Still in one of this process's jobs (its claim ran out while queued):
                # that job sends it or gives it back; a second job could send it twice.
                continue
            by_chat.setdefault(row.chat_id, []).append(row)
        if not by_chat:
            return Claim(0, limit, [])
        async with self.db.unit_of_work() as session:
            chats = await ChatRepo(session).get_many(by_chat)
            article_ids = [r.article_id for r in claimed if r.article_id is not None]
            articles = {a.id: a for a in await ArticleRepo(session).get_many(article_ids)}
        if self.prepare is not None:
            try:
                await self.prepare(list(by_chat))
            except Exception:  # the composer then reads what it needs chat by chat
                log.warning("preparing %d chats for composing failed", len(by_chat), exc_info=True)
        jobs = [Job(chats.get(c), c, rows, articles, deadline) for c, rows in by_chat.items()]
        queued = [r.id for rows in by_chat.values() for r in rows]
        self._live.update(queued)  # only once the jobs exist: a failed read leaves none
        return Claim(len(queued), limit, jobs)

    async def release_all(self) -> int:
        """Give every row this holder still has claimed back as pending, and its chats to
        the other processes one pace interval from now; returns how many rows."""
        now = self.clock()
        async with self.db.unit_of_work() as session:
            repo = DeliveryRepo(session)
            released = await repo.release(self.holder)
            await repo.release_paces(self.holder, now + self.pace.private, now + self.pace.group)
        return released

    def finished(self, rows: Iterable[Delivery]) -> None:
        """Forget rows whose job is over (sent, given back or rescheduled)."""
        self._live.difference_update(r.id for r in rows)


ClaimJobs = Callable[[], Awaitable[Claim]]


class Refill:
    """Claims the next batch into a pass's queue while its senders are still busy."""

    def __init__(
        self,
        claim: ClaimJobs,
        queue: deque[Job],
        low_water: int,
        stopping: asyncio.Event,
    ) -> None:
        """Refill `queue` through `claim` whenever it holds `low_water` chats or fewer."""
        self.claim = claim
        self.queue = queue
        self.low_water = low_water
        self.stopping = stopping
        self.claimed = 0  # rows queued by refills
        self.exhausted = False  # a claim found nothing (or failed): no more this pass
        self.task: asyncio.Task[None] | None = None

    def maybe_start(self) -> None:
        """Start a claim if the queue is low and none is running."""
        if self.task is not None or self.exhausted or len(self.queue) > self.low_water:
            return
        if self.stopping.is_set():
            self.exhausted = True
            return
        self.task = asyncio.create_task(self._claim())

    async def _claim(self) -> None:
        """Claim one batch and queue its chats; nothing found ends the refills."""
        try:
            found = await self.claim()
            claimed, jobs = found.claimed, found.jobs
        except Exception:
            log.exception("claiming more deliveries failed; finishing the pass")
            claimed, jobs = 0, []
        self.claimed += claimed
        self.queue.extend(jobs)
        self.exhausted = self.exhausted or not jobs
        self.task = None

    async def wait(self) -> bool:
        """With the queue empty: wait for (or start) a claim; False when nothing more comes."""
        self.maybe_start()
        task = self.task
        if task is None:
            return bool(self.queue)
        await asyncio.shield(task)
        return True

    async def finish(self) -> None:
        """Wait for a claim still running (its rows are then queued but unsent: released)."""
        self.exhausted = True
        if self.task is not None:
            await asyncio.shield(self.task)
