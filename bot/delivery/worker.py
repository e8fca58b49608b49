"""The delivery worker: claimed outbox rows → messages → paced sends → recorded outcomes.

A pass runs ``max_in_flight`` senders over a queue of chats (`bot.delivery.claims`); each
chat's rows are sent by `bot.delivery.chat_sender` (quiet hours, a story's burst folded into
one message, paced sends, outcomes as the pure `decide_outcome` says), and sent marks are
written in batches (`bot.delivery.marks`).

Repeat bound after ``kill -9``: only a message that Telegram accepted but whose mark had
not committed can be sent again, after its lease expires and another pass retakes the
row. At most ``max_in_flight`` sends run at once and a send only starts while fewer than
``flush_rows`` sent messages are unrecorded, so one killed process repeats at most
``max_in_flight + flush_rows`` messages (`WorkerTuning.repeat_bound`; 64 + 100 = 164),
plus, for a multi-part digest interrupted between parts, the parts already sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from datetime import timedelta

from bot.delivery.budget import SendBudget, slot_source, window_ceiling
from bot.delivery.chat_sender import ChatDone, ChatSender, WorkerResult
from bot.delivery.claims import (
    ChatPace,
    Claim,
    Claimer,
    ClaimSizing,
    Job,
    PrepareChats,
    Refill,
)
from bot.delivery.marks import MarkBuffer
from bot.delivery.messages import Composer, DigestComposer, FirstCompose
from bot.delivery.outcomes import OutcomeWriter
from bot.delivery.pacing import Pacer, Sleep
from bot.delivery.sender import Sender
from bot.domain import Clock, utc_now
from bot.pipeline.limits import RateLimiter
from bot.pipeline.outcomes import RetryPolicy
from bot.pipeline.send_slots import SlotPolicy
from bot.settings import DEFAULT_MESSAGES_PER_SECOND
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerTuning:
    """The worker's knobs: leases, claim sizes, concurrency, retries and mark batching."""

    lease_seconds: float = 60.0
    batch: int = 1000
    max_in_flight: int = 64
    max_attempts: int = 5
    backoff_base: float = 2.0
    backoff_cap: float = 900.0
    flush_interval: float = 0.05
    flush_rows: int = 100
    batch_seconds: float = 5.0
    refill_seconds: float = 1.0
    # One send is cut off (a counted transient attempt) after this long, so that a send
    # begun before its job's deadline ends while the claim still holds; see
    # `claims.send_margin`. It covers the transport's connect + write + read timeouts.
    send_timeout_seconds: float = 12.0

    @property
    def repeat_bound(self) -> int:
        """Most messages one ``kill -9`` of the worker's process can make repeat."""
        return self.max_in_flight + max(1, self.flush_rows)

    @property
    def retry(self) -> RetryPolicy:
        """How transient faults are retried."""
        return RetryPolicy(self.max_attempts, self.backoff_base, self.backoff_cap)


class DeliveryWorker:
    """Claims due outbox rows and sends them, many chats at once, within Telegram's limits."""

    def __init__(
        self,
        db: Database,
        sender: Sender,
        compose: Composer,
        *,
        compose_digest: DigestComposer | None = None,
        prepare: PrepareChats | None = None,
        holder: str = "worker",
        max_per_second: float = DEFAULT_MESSAGES_PER_SECOND,
        limiter: RateLimiter | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        tuning: WorkerTuning = WorkerTuning(),
    ) -> None:
        """Wire the sender, composers, limits and clock (all injectable for tests);
        `prepare` gets each claim's chats before they are composed."""
        self.db = db
        self.holder = holder
        self.tuning = tuning
        self.clock = clock
        self.limiter = limiter or RateLimiter(
            max_per_second, ceiling=window_ceiling(max_per_second)
        )
        lease = timedelta(seconds=tuning.lease_seconds)
        self.budget = SendBudget(
            slot_source(db, lambda: clock().timestamp()),
            SlotPolicy(max_per_second, window_ceiling(max_per_second)),
            demand=lambda: self.claims.holding,
        )
        sizing = ClaimSizing(tuning.batch, tuning.batch_seconds, tuning.max_in_flight)
        pace = ChatPace(
            timedelta(seconds=self.limiter.private_interval),
            timedelta(seconds=self.limiter.group_window),
        )
        longest_send = timedelta(seconds=tuning.send_timeout_seconds)
        self.claims = Claimer(
            db,
            holder,
            self.budget,
            lease=lease,
            sizing=sizing,
            clock=clock,
            pace=pace,
            longest_send=longest_send,
            prepare=prepare,
        )
        if self.claims.margin <= longest_send:
            log.warning(
                "a %.0f s lease leaves no room for a %.0f s send before it ends: a send that "
                "outlasts its claim could be repeated by another process (use at least %.0f s)",
                tuning.lease_seconds,
                tuning.send_timeout_seconds,
                2 * (tuning.send_timeout_seconds + 1),
            )
        self._stopping = asyncio.Event()
        self.pacer = Pacer(self.limiter, clock, sleep, self._stopping, self.budget)
        self.marks = MarkBuffer(
            db, holder, flush_interval=tuning.flush_interval, flush_rows=tuning.flush_rows
        )
        self.outcomes = OutcomeWriter(db, holder, self.pacer)
        self.chats = ChatSender(
            sender,
            FirstCompose(compose),
            compose_digest,
            pacer=self.pacer,
            marks=self.marks,
            outcomes=self.outcomes,
            retry=tuning.retry,
            clock=clock,
            stopping=self._stopping,
            send_timeout=tuning.send_timeout_seconds,
        )
        self._semaphore = asyncio.Semaphore(tuning.max_in_flight)
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def share(self) -> float:
        """This process's part of the send budget (messages per second)."""
        return self.budget.share

    # -- public

    async def run_once(self) -> WorkerResult:
        """Claim due rows and deliver them, claiming more while sending; returns what happened.

        When the queue runs low (about `refill_seconds` of sends left) the next batch is
        claimed while the senders go on; the pass ends when a claim finds nothing due and
        the queue is empty, or when the worker stops.
        """
        result = WorkerResult()
        if self._stopping.is_set():
            return result
        self._idle.clear()
        try:
            first = await self._claim()
            result.claimed = first.claimed
            if not first.jobs:
                return result
            started = asyncio.get_running_loop().time()
            queue = deque(first.jobs)
            refill = Refill(self._claim, queue, self._low_water(), self._stopping)
            done = asyncio.Event()
            flusher = asyncio.create_task(self.marks.flush_periodically(done))
            try:
                # Every sender from the start: refills may bring far more chats than the
                # first claim did (an idle sender waits on the refill, then stops).
                senders = self.tuning.max_in_flight
                await asyncio.gather(
                    *(self._run_jobs(queue, refill, result) for _ in range(senders))
                )
            finally:
                await refill.finish()
                result.claimed += refill.claimed
                for job in queue:  # left when a sender failed or was cancelled: give back
                    self.marks.release(r.id for r in job.rows)
                    self.claims.finished(job.rows)
                done.set()
                await flusher
                await self.marks.flush()
            self.chats.compose.clear()
            elapsed = asyncio.get_running_loop().time() - started
            self.claims.measure(first.claimed, first.limit, result.messages, elapsed)
            if result.messages:
                log.info(
                    "delivery pass: %d messages in %.2f s (%.1f msg/s; send slots dropped so far: %d)",
                    result.messages,
                    elapsed,
                    result.messages / max(elapsed, 1e-9),
                    self.budget.slots.dropped,
                )
            return result
        finally:
            self._idle.set()

    async def run_until_idle(self, max_batches: int = 1000) -> WorkerResult:
        """Repeat `run_once` until a pass settles nothing (or `max_batches`)."""
        total = WorkerResult()
        for _ in range(max_batches):
            result = await self.run_once()
            total.add(result)
            if not result.progressed:
                break
        return total

    async def stop(self) -> int:
        """Stop sending new messages, wait for in-flight sends, and release unsent claims."""
        self._stopping.set()
        await self._idle.wait()
        await self.marks.flush()
        released = await self.claims.release_all()
        self.budget.release()
        log.info("delivery worker %s stopped; released %d rows", self.holder, released)
        return released

    # -- claims

    async def _claim(self) -> Claim:
        """One claim (the first of a pass, or a refill)."""
        self.chats.compose.trim()
        return await self.claims.claim()

    def _low_water(self) -> int:
        """Queued chats below which the next batch is claimed (about `refill_seconds` of sends)."""
        return max(self.tuning.max_in_flight, int(self.share * self.tuning.refill_seconds))

    async def _run_jobs(self, queue: deque[Job], refill: Refill, result: WorkerResult) -> None:
        """One sender: deliver queued chats one at a time until the queue stays empty."""
        while True:
            if not queue:
                if not await refill.wait():
                    return
                continue
            job = queue.popleft()
            refill.maybe_start()
            try:
                result.add(await self._guarded(job))
            finally:
                self.claims.finished(job.rows)

    # -- per chat

    async def _guarded(self, job: Job) -> WorkerResult:
        """Deliver one chat's rows under the in-flight semaphore; never raises."""
        result = WorkerResult()
        async with self._semaphore:
            try:
                await self.chats.deliver(job, result)
            except ChatDone:
                pass
            except Exception:
                log.exception("delivery to chat failed unexpectedly; releasing its rows")
                # Released at the next flush, after the marks of anything already sent
                # (release only touches rows still claimed).
                self.marks.release(r.id for r in job.rows)
        return result
