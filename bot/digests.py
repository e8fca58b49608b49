"""Daily digests: exactly one per chat per local day, at the chat's local digest time.

Each `tick()` locks a batch of chats whose `next_digest_at` has passed (SKIP LOCKED on
PostgreSQL), works out the local day owed (`bot.pipeline.schedule.digest_day_due`, once
per distinct zone, time and last day in the batch), builds the batch's digests together
(`build_many`: a few set-based queries, then pure per-chat composition), enqueues one
DIGEST outbox row per chat and moves `last_digest_on`/`next_digest_at` on, all in one
transaction. Two guards make it once per day across restarts, several processes
and clock jumps: the outbox's unique (chat_id, digest_on), and `last_digest_on`, past
which every computation moves. The worker sends the row through `compose()`.

A chat never scheduled (`next_digest_at` NULL, e.g. just created) is scheduled for the
first digest instant after now; it gets no digest at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bot.domain import Chat, Clock, Delivery, DeliveryKind, DeliveryState, NewDelivery, utc_now
from bot.pipeline.schedule import digest_day_due, first_digest_at, next_digest_at
from bot.presentation.message import Rendered
from storage.db import Database
from storage.repos.deliveries import DeliveryRepo
from storage.repos.digests import DigestRepo

log = logging.getLogger(__name__)

DigestBuilder = Callable[[Chat, datetime], Awaitable[Sequence[str]]]
BatchDigestBuilder = Callable[[Sequence[Chat], datetime], Awaitable[Mapping[int, Sequence[str]]]]
DIGEST_WINDOW = timedelta(hours=24)


def _default_empty_text(chat: Chat) -> str:
    """The message of an empty digest for chats that asked for one."""
    if chat.language == "ar":
        return "لا جديد في متابعاتك خلال آخر 24 ساعة."
    return "Nothing new in your follows in the last 24 hours."


@dataclass(frozen=True, slots=True)
class DigestTickResult:
    """What one tick did."""

    due: int = 0
    enqueued: int = 0
    empty: int = 0
    rescheduled: int = 0


@dataclass(slots=True)
class DigestPlan:
    """What a batch of due chats needs: new schedules, and the chats owed a digest (with its day)."""

    schedule: list[tuple[int, datetime, date | None]] = field(default_factory=list)
    owed: list[tuple[Chat, date]] = field(default_factory=list)
    rescheduled: int = 0


def plan_digests(due: Sequence[tuple[Chat, datetime | None]], now: datetime) -> DigestPlan:
    """Sort due chats into those owed a digest now and those only to be rescheduled.

    Pure; the schedule arithmetic is done once per (timezone, digest time, last day) in the
    batch, since `now` is the same for every chat in it.
    """
    plan = DigestPlan()
    firsts: dict[tuple[str, time], datetime] = {}
    days: dict[tuple[str, time, date | None], tuple[date | None, datetime]] = {}
    for chat, scheduled in due:
        tz, at = chat.timezone, chat.digest_time
        if scheduled is None:
            first = firsts.get((tz, at))
            if first is None:
                first = firsts[(tz, at)] = first_digest_at(now, tz, at)
            plan.schedule.append((chat.id, first, None))
            plan.rescheduled += 1
            continue
        key = (tz, at, chat.last_digest_on)
        known = days.get(key)
        if known is None:
            day = digest_day_due(now, tz, at, chat.last_digest_on)
            next_at = next_digest_at(now, tz, at, chat.last_digest_on if day is None else day)
            known = days[key] = (day, next_at)
        day, next_at = known
        plan.schedule.append((chat.id, next_at, day))
        if day is None:
            plan.rescheduled += 1
        else:
            plan.owed.append((chat, day))
    return plan


class DigestScheduler:
    """Enqueues each chat's daily digest once per local day; composes it when the worker sends."""

    def __init__(
        self,
        db: Database,
        build: DigestBuilder,
        *,
        build_many: BatchDigestBuilder | None = None,
        empty_text: Callable[[Chat], str] = _default_empty_text,
        clock: Clock = utc_now,
        batch: int = 500,
        cache_limit: int = 200_000,
    ) -> None:
        """`build(chat, since)` returns the digest's HTML parts (empty: nothing to say);
        `build_many(chats, since)` the same for a whole batch by chat id (when given, ticks
        use it rather than one `build` per chat)."""
        self.db = db
        self.build = build
        self.build_many = build_many
        self.empty_text = empty_text
        self.clock = clock
        self.batch = batch
        self.cache_limit = cache_limit
        self._parts: dict[tuple[int, date], list[str]] = {}

    async def _build_batch(self, chats: Sequence[Chat], since: datetime) -> dict[int, list[str]]:
        """Every chat's digest parts, by chat id, with `build_many` or one `build` per chat."""
        if self.build_many is not None:
            built = await self.build_many(chats, since)
            return {chat.id: list(built.get(chat.id, ())) for chat in chats}
        return {chat.id: list(await self.build(chat, since)) for chat in chats}

    async def tick(self) -> DigestTickResult:
        """Handle one batch of due chats in one transaction, with set-based reads and writes.

        The batch's digests are built together (`build_many`), and every due chat's new
        schedule and every digest row of the batch are written with a few executemany
        statements, so the write lock is held for milliseconds per batch rather than one
        statement per chat.
        """
        now = self.clock()
        rows: list[NewDelivery] = []
        skipped: list[NewDelivery] = []
        parts_by_key: dict[tuple[int, date], list[str]] = {}
        async with self.db.unit_of_work() as session:
            repo = DigestRepo(session)
            due = await repo.due_chats(now, self.batch)
            plan = plan_digests(due, now)
            built = await self._build_batch([chat for chat, _ in plan.owed], now - DIGEST_WINDOW)
            for chat, day in plan.owed:
                parts = built[chat.id]
                if parts or chat.empty_digest:
                    rows.append(
                        NewDelivery(chat_id=chat.id, kind=DeliveryKind.DIGEST, digest_on=day)
                    )
                    parts_by_key[(chat.id, day)] = parts
                else:
                    skipped.append(
                        NewDelivery(
                            chat_id=chat.id,
                            kind=DeliveryKind.DIGEST,
                            digest_on=day,
                            state=DeliveryState.SKIPPED,
                            note="empty digest",
                        )
                    )
            enqueued = await repo.enqueue(rows, now)  # days already owed are ignored
            await repo.enqueue(skipped, now)
            await DeliveryRepo(session).set_next_digests(plan.schedule)
        for key, parts in parts_by_key.items():
            if len(self._parts) >= self.cache_limit:
                break
            self._parts[key] = parts
        if due:
            log.info("digests: %d due, %d enqueued, %d empty", len(due), enqueued, len(skipped))
        return DigestTickResult(len(due), enqueued, len(skipped), plan.rescheduled)

    async def run_until_idle(self, max_batches: int = 1000) -> DigestTickResult:
        """Repeat `tick` until no chat is due (or `max_batches`)."""
        totals = [0, 0, 0, 0]
        for _ in range(max_batches):
            result = await self.tick()
            for i, value in enumerate(
                (result.due, result.enqueued, result.empty, result.rescheduled)
            ):
                totals[i] += value
            if result.due == 0:
                break
        return DigestTickResult(*totals)

    async def compose(self, chat: Chat, delivery: Delivery) -> list[Rendered]:
        """The digest's messages (a `DigestComposer` for `DeliveryWorker`); [] → nothing to send."""
        day = delivery.digest_on
        cached = self._parts.pop((chat.id, day), None) if day is not None else None
        if cached is None:
            created = delivery.created_at or self.clock()
            cached = list(await self.build(chat, created - DIGEST_WINDOW))
        if not cached:
            if not chat.empty_digest:
                return []
            cached = [self.empty_text(chat)]
        return [Rendered(part) for part in cached]
