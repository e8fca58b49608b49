"""Daily digests: exactly one per chat per local day, at the chat's local digest time.

Each `tick()` locks the chats whose `next_digest_at` has passed (SKIP LOCKED on
PostgreSQL), works out the local day owed (`bot.pipeline.schedule.digest_day_due`),
enqueues one DIGEST outbox row for it and moves `last_digest_on`/`next_digest_at` on, all
in one transaction. Two guards make it once per day across restarts, several processes
and clock jumps: the outbox's unique (chat_id, digest_on), and `last_digest_on`, past
which every computation moves. The worker sends the row through `compose()`.

A chat never scheduled (`next_digest_at` NULL, e.g. just created) is scheduled for the
first digest instant after now; it gets no digest at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.delivery import Clock, Outgoing, strip_tags, utc_now
from bot.domain import Chat, Delivery, DeliveryKind, DeliveryState
from bot.pipeline.schedule import digest_day_due, first_digest_at, next_digest_at
from storage.db import Database
from storage.repos.deliveries import DeliveryRepo, NewDelivery

log = logging.getLogger(__name__)

DigestBuilder = Callable[[Chat, datetime], Awaitable[Sequence[str]]]
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


class DigestScheduler:
    """Enqueues each chat's daily digest once per local day; composes it when the worker sends."""

    def __init__(
        self,
        db: Database,
        build: DigestBuilder,
        *,
        empty_text: Callable[[Chat], str] = _default_empty_text,
        clock: Clock = utc_now,
        batch: int = 500,
        cache_limit: int = 200_000,
    ) -> None:
        """`build(chat, since)` returns the digest's HTML parts (empty: nothing to say)."""
        self.db = db
        self.build = build
        self.empty_text = empty_text
        self.clock = clock
        self.batch = batch
        self.cache_limit = cache_limit
        self._parts: dict[tuple[int, date], list[str]] = {}

    async def tick(self) -> DigestTickResult:
        """Handle one batch of due chats in one transaction, with set-based writes.

        Every due chat's new schedule and every digest row of the batch are written with
        one executemany and one multi-row insert, so the write lock is held for
        milliseconds per batch rather than one statement per chat.
        """
        now = self.clock()
        due = empty = rescheduled = 0
        schedule: list[tuple[int, datetime, date | None]] = []
        rows: list[NewDelivery] = []
        skipped: list[NewDelivery] = []
        parts_by_key: dict[tuple[int, date], list[str]] = {}
        async with self.db.unit_of_work() as session:
            repo = DeliveryRepo(session)
            for chat, scheduled in await repo.due_digest_chats(now, self.batch):
                due += 1
                if scheduled is None:
                    schedule.append(
                        (chat.id, first_digest_at(now, chat.timezone, chat.digest_time), None)
                    )
                    rescheduled += 1
                    continue
                day = digest_day_due(now, chat.timezone, chat.digest_time, chat.last_digest_on)
                if day is None:
                    next_at = next_digest_at(
                        now, chat.timezone, chat.digest_time, chat.last_digest_on
                    )
                    schedule.append((chat.id, next_at, None))
                    rescheduled += 1
                    continue
                parts = list(await self.build(chat, now - DIGEST_WINDOW))
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
                    empty += 1
                schedule.append(
                    (chat.id, next_digest_at(now, chat.timezone, chat.digest_time, day), day)
                )
            enqueued = await repo.enqueue_many(rows, now)  # rows already owed are ignored
            await repo.enqueue_many(skipped, now)
            await repo.set_next_digests(schedule)
        for key, parts in parts_by_key.items():
            if len(self._parts) >= self.cache_limit:
                break
            self._parts[key] = parts
        if due:
            log.info("digests: %d due, %d enqueued, %d empty", due, enqueued, empty)
        return DigestTickResult(due, enqueued, empty, rescheduled)

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

    async def compose(self, chat: Chat, delivery: Delivery) -> list[Outgoing]:
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
        return [Outgoing(part, strip_tags(part)) for part in cached]
