"""The delivery worker: claimed outbox rows → messages → paced sends → recorded outcomes.

A pass runs ``max_in_flight`` senders over a queue of chats (`bot.delivery.claims`), folds
a chat's burst of one story into one message (`bot.delivery.messages`), honours quiet hours
(HOLD puts article rows back until the window ends without counting an attempt; DIGEST
skips them with reason ``quiet-digest``, the digest then covers them), paces each send
(`bot.delivery.pacing`) and records what happened: sent marks in batches
(`bot.delivery.marks`), failures as the pure `decide_outcome` says
(`bot.delivery.outcomes`).

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
from datetime import datetime, timedelta

from bot.delivery.budget import BudgetShare, window_ceiling
from bot.delivery.claims import Claim, Claimer, ClaimSizing, Job, Refill
from bot.delivery.marks import MarkBuffer
from bot.delivery.messages import Composer, DigestComposer, FirstCompose, Message, group_messages
from bot.delivery.outcomes import OutcomeWriter
from bot.delivery.pacing import Pacer, Sleep
from bot.delivery.sender import Sender
from bot.domain import Chat, ChatType, Clock, Delivery, DeliveryKind, QuietMode, utc_now
from bot.pipeline.limits import RateLimiter
from bot.pipeline.outcomes import (
    Block,
    Outcome,
    Park,
    PlainFallback,
    Retry,
    RetryPolicy,
    SendError,
    decide_outcome,
    ends_chat,
)
from bot.pipeline.schedule import in_quiet_hours, quiet_ends_at
from bot.presentation.message import Rendered
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

    @property
    def repeat_bound(self) -> int:
        """Most messages one ``kill -9`` of the worker's process can make repeat."""
        return self.max_in_flight + max(1, self.flush_rows)

    @property
    def retry(self) -> RetryPolicy:
        """How transient faults are retried."""
        return RetryPolicy(self.max_attempts, self.backoff_base, self.backoff_cap)


@dataclass(slots=True)
class WorkerResult:
    """Counts from one worker pass."""

    claimed: int = 0
    messages: int = 0
    sent: int = 0
    folded: int = 0
    retried: int = 0
    held: int = 0
    failed: int = 0
    skipped: int = 0
    released: int = 0
    plain_fallbacks: int = 0

    def add(self, other: WorkerResult) -> None:
        """Accumulate another result."""
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class _ChatDone(Exception):
    """Stop working on one chat (blocked, or its rows were rescheduled)."""


class DeliveryWorker:
    """Claims due outbox rows and sends them, many chats at once, within Telegram's limits."""

    def __init__(
        self,
        db: Database,
        sender: Sender,
        compose: Composer,
        *,
        compose_digest: DigestComposer | None = None,
        holder: str = "worker",
        max_per_second: float = DEFAULT_MESSAGES_PER_SECOND,
        limiter: RateLimiter | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        tuning: WorkerTuning = WorkerTuning(),
    ) -> None:
        """Wire the sender, composers, limits and clock (all injectable for tests)."""
        self.db = db
        self.sender = sender
        self.compose = FirstCompose(compose)
        self.compose_digest = compose_digest
        self.holder = holder
        self.tuning = tuning
        self.clock = clock
        self.limiter = limiter or RateLimiter(
            max_per_second, ceiling=window_ceiling(max_per_second)
        )
        lease = timedelta(seconds=tuning.lease_seconds)
        self.budget = BudgetShare(
            db, holder, self.limiter, max_per_second=max_per_second, lease=lease, clock=clock
        )
        sizing = ClaimSizing(tuning.batch, tuning.batch_seconds, tuning.max_in_flight)
        self.claims = Claimer(db, holder, self.budget, lease=lease, sizing=sizing, clock=clock)
        self._stopping = asyncio.Event()
        self.pacer = Pacer(self.limiter, clock, sleep, self._stopping)
        self.marks = MarkBuffer(
            db, holder, flush_interval=tuning.flush_interval, flush_rows=tuning.flush_rows
        )
        self.outcomes = OutcomeWriter(db, holder, self.pacer)
        self._semaphore = asyncio.Semaphore(tuning.max_in_flight)
        self._digest_progress: dict[int, int] = {}
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
            self.compose.clear()
            elapsed = asyncio.get_running_loop().time() - started
            self.claims.measure(first.claimed, first.limit, result.messages, elapsed)
            return result
        finally:
            self._idle.set()

    async def run_until_idle(self, max_batches: int = 1000) -> WorkerResult:
        """Repeat `run_once` until a pass claims nothing (or `max_batches`)."""
        total = WorkerResult()
        for _ in range(max_batches):
            result = await self.run_once()
            total.add(result)
            if result.claimed == 0:
                break
        return total

    async def stop(self) -> int:
        """Stop sending new messages, wait for in-flight sends, and release unsent claims."""
        self._stopping.set()
        await self._idle.wait()
        await self.marks.flush()
        released = await self.claims.release_all()
        await self.budget.release()
        log.info("delivery worker %s stopped; released %d rows", self.holder, released)
        return released

    # -- claims

    async def _claim(self) -> Claim:
        """One claim (the first of a pass, or a refill)."""
        self.compose.trim()
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
                await self._deliver_chat(job, result)
            except _ChatDone:
                pass
            except Exception:
                log.exception("delivery to chat failed unexpectedly; releasing its rows")
                # Released at the next flush, after the marks of anything already sent
                # (release only touches rows still claimed).
                self.marks.release(r.id for r in job.rows)
        return result

    async def _deliver_chat(self, job: Job, result: WorkerResult) -> None:
        """Apply chat state and quiet hours, fold bursts, and send each message in order."""
        chat, rows = job.chat, job.rows
        if chat is None or chat.blocked or chat.paused:
            reason = (
                "chat gone" if chat is None else ("chat blocked" if chat.blocked else "chat paused")
            )
            await self.outcomes.skip([x.id for x in rows], reason)
            result.skipped += len(rows)
            return
        article_rows = [r for r in rows if r.kind == DeliveryKind.ARTICLE]
        now = self.clock()
        if article_rows and in_quiet_hours(now, chat.timezone, chat.quiet_start, chat.quiet_end):
            ids = [r.id for r in article_rows]
            if chat.quiet_mode == QuietMode.DIGEST:
                await self.outcomes.skip(ids, "quiet-digest")
                result.skipped += len(ids)
            else:
                until = quiet_ends_at(now, chat.timezone, chat.quiet_start, chat.quiet_end)
                await self.outcomes.hold(ids, until, "quiet-hours")
                result.held += len(ids)
            rows = [r for r in rows if r.kind != DeliveryKind.ARTICLE]
        messages = group_messages(rows, job.articles)
        for index, message in enumerate(messages):
            rest = [r for m in messages[index:] for r in m.rows]
            if self._stopping.is_set() or self.clock() >= job.deadline:
                self.marks.release(r.id for r in rest)
                result.released += len(rest)
                return
            await self._send_message(chat, message, rest, job.deadline, result)

    async def _send_message(
        self,
        chat: Chat,
        message: Message,
        rest: list[Delivery],
        deadline: datetime,
        result: WorkerResult,
    ) -> None:
        """Compose and send one message, then record the outcome of its rows."""
        primary = message.rows[0]
        is_digest = primary.kind == DeliveryKind.DIGEST
        if is_digest:
            parts = list(await self.compose_digest(chat, primary)) if self.compose_digest else []
            if not parts:
                await self.outcomes.skip([primary.id], "empty digest")
                result.skipped += 1
                return
        else:
            parts = [await self.compose(chat, message)]
        done = self._digest_progress.get(primary.id, 0) if is_digest else 0
        first_id: int | None = None
        for number, part in enumerate(parts):
            if number < done:
                continue
            sent_id = await self._send_part(chat, message, part, rest, deadline, result)
            if sent_id is None:
                return
            first_id = sent_id if first_id is None else first_id
            if is_digest:
                self._digest_progress[primary.id] = number + 1
        self._digest_progress.pop(primary.id, None)
        folded = message.ids[1:]
        self.marks.sent(primary.id, first_id, folded, self.clock())
        if self.marks.full:
            await self.marks.flush()
        result.messages += 1
        result.sent += 1
        result.folded += len(folded)

    async def _send_part(
        self,
        chat: Chat,
        message: Message,
        part: Rendered,
        rest: list[Delivery],
        deadline: datetime,
        result: WorkerResult,
    ) -> int | None:
        """Send one part, once more as plain text if Telegram rejects the HTML; None when the
        message did not go (its outcome is recorded; `_ChatDone` when the chat is over)."""
        plain = False
        while True:
            try:
                text = part.plain_text if plain else part.text
                return await self._paced_send(chat, part, text, rest, deadline, result, plain)
            except SendError as exc:
                now = self.clock()
                policy = self.tuning.retry
                outcome = decide_outcome(
                    exc, message.rows[0].attempts, now, plain=plain, policy=policy
                )
                if isinstance(outcome, PlainFallback):
                    log.warning("chat %s: bad HTML (%s); sending plain text once", chat.id, exc)
                    result.plain_fallbacks += 1
                    plain = True
                    continue
                covered = await self.outcomes.apply(
                    outcome, chat.id, message.ids, [r.id for r in rest]
                )
                self._count(outcome, covered, result)
                if ends_chat(outcome):
                    raise _ChatDone from exc
                return None

    @staticmethod
    def _count(outcome: Outcome, covered: int, result: WorkerResult) -> None:
        """Add an applied outcome's rows to the pass's counts."""
        if isinstance(outcome, Retry):
            result.retried += covered
        elif isinstance(outcome, Park):
            result.failed += covered
        elif isinstance(outcome, Block):
            result.skipped += covered

    async def _paced_send(
        self,
        chat: Chat,
        part: Rendered,
        text: str,
        rest: list[Delivery],
        deadline: datetime,
        result: WorkerResult,
        plain: bool,
    ) -> int:
        """Wait for room and the pace, send `text` with the part's buttons, and settle the
        send whatever the answer; raises the sender's errors, `_ChatDone` when too late."""
        await self.marks.wait_for_room()
        retry_at = await self.pacer.begin(chat.id, chat.type != ChatType.PRIVATE, deadline)
        if retry_at is not None:
            await self.outcomes.hold([r.id for r in rest], retry_at, "rate limit")
            result.retried += len(rest)
            raise _ChatDone
        try:
            return await self.sender.send(
                chat.id, text, part.buttons, part.disable_preview, html=not plain
            )
        finally:
            self.pacer.settle()
