"""Outcome writes: what the worker records for rows that were not simply sent.

Each write is its own transaction and only touches rows the worker still holds (with
``holder``), so a worker that stalled past its lease cannot undo another claim's outcome.
The outcome of a failed send is decided by the pure `bot.pipeline.outcomes.decide_outcome`;
`OutcomeWriter.apply` carries it out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from bot.delivery.pacing import Pacer
from bot.pipeline.outcomes import (
    Block,
    Outcome,
    Park,
    PlainFallback,
    Readdress,
    Retry,
    Scope,
    TopicFallback,
)
from storage.db import Database
from storage.repos.chat_moves import ChatMoveRepo
from storage.repos.chats import ChatRepo
from storage.repos.deliveries import DeliveryRepo
from storage.repos.topics import ForgottenTopic, TopicRepo

log = logging.getLogger(__name__)


class OutcomeWriter:
    """Writes skips, holds, retries, parks and blocks for one holder's claimed rows."""

    def __init__(self, db: Database, holder: str, pacer: Pacer) -> None:
        """Write through `db` as `holder`; 429 pauses go to `pacer`."""
        self.db = db
        self.holder = holder
        self.pacer = pacer

    async def _write(self, action: Callable[[DeliveryRepo], Awaitable[object]]) -> None:
        """Run one repository write in its own transaction."""
        async with self.db.unit_of_work() as session:
            await action(DeliveryRepo(session))

    async def skip(self, ids: Sequence[int], reason: str) -> None:
        """Skip rows for good (chat gone or paused, quiet-hours digest mode, empty digest)."""
        holder = self.holder
        await self._write(lambda r: r.skip_many(ids, reason, holder=holder))

    async def hold(self, ids: Sequence[int], until: datetime, reason: str) -> None:
        """Put rows back to pending until `until` without counting an attempt."""
        holder = self.holder
        await self._write(lambda r: r.retry_many(ids, until, reason, count=False, holder=holder))

    async def apply(
        self, outcome: Outcome, chat_id: int, message: Sequence[int], rest: Sequence[int]
    ) -> int:
        """Record a failed send's outcome; returns how many rows it covered.

        `message` are the rows of the message that failed, `rest` those and the chat's
        later rows in this claim.
        """
        holder = self.holder
        if isinstance(outcome, Retry):
            ids = list(rest if outcome.scope is Scope.REST else message)
            if outcome.pause is not None:
                self.pacer.pause(outcome.pause, chat_id, outcome.at)
            await self._write(
                lambda r: r.retry_many(
                    ids, outcome.at, outcome.reason, count=outcome.counted, holder=holder
                )
            )
            return len(ids)
        if isinstance(outcome, Park):
            ids = list(message)
            await self._write(lambda r: r.park_many(ids, outcome.reason, outcome.at, holder=holder))
            return len(ids)
        if isinstance(outcome, Block):
            log.info("chat %s blocked the bot or is gone; stopping its deliveries", chat_id)

            async def block(repo: DeliveryRepo) -> None:
                """Mark the chat blocked and skip everything it is still owed."""
                await ChatRepo(repo.session).update(chat_id, blocked=True)
                await repo.skip_chat(chat_id, outcome.reason)

            await self._write(block)
            return len(rest)
        if isinstance(outcome, Readdress):
            await self.readdress(chat_id, outcome, rest)
            return len(rest)
        if isinstance(outcome, PlainFallback | TopicFallback):
            raise ValueError("a fallback is a send, not a write")
        raise TypeError(f"unknown outcome {outcome!r}")

    async def forget_topic(self, chat_id: int, thread_id: int) -> ForgottenTopic:
        """A closed or deleted forum topic: the chat's follows, digest setting and owed rows
        point at the general topic from now on."""
        async with self.db.unit_of_work() as session:
            forgotten = await TopicRepo(session).forget_thread(chat_id, thread_id)
        log.info(
            "chat %s: topic %s is closed or gone: %d follows, %d owed rows moved to the "
            "general topic%s",
            chat_id,
            thread_id,
            forgotten.follows,
            forgotten.deliveries,
            " (and the digest)" if forgotten.digest else "",
        )
        return forgotten

    async def readdress(self, chat_id: int, outcome: Readdress, rest: Sequence[int]) -> None:
        """Move the chat to its new id; the rows of this claim are due again there at once."""
        ids, holder = list(rest), self.holder
        async with self.db.unit_of_work() as session:
            moved = await ChatMoveRepo(session).move(
                chat_id, outcome.chat_id, outcome.at, holder=holder, release=ids
            )
        log.info(
            "chat %s moved to %s (%s): %d follows, %d outbox rows moved",
            chat_id,
            outcome.chat_id,
            outcome.reason,
            moved.follows,
            moved.deliveries,
        )
