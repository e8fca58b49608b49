"""Batched outbox marks: the SENT/FOLDED marks of concurrent sends, and rows given back.

Marks are collected in memory and written in one transaction every ``flush_interval``
seconds, or as soon as ``flush_rows`` sent messages are waiting, and always at the end of
each pass and when the worker stops. One commit per flush instead of one per message
keeps SQLite's single writer free at 1,000 msg/s.

The repeat bound after ``kill -9`` rests on `MarkBuffer.wait_for_room`: a send only starts
while fewer than ``flush_rows`` sent messages are unrecorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from storage.db import Database
from storage.repos.deliveries import DeliveryRepo

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Marks:
    """Outcomes waiting for the next flush."""

    sent: list[tuple[int, int | None, datetime]] = field(default_factory=list)
    folded: list[tuple[int, int, datetime]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        """Whether anything is waiting."""
        return bool(self.sent or self.folded or self.released)

    def merge(self, other: Marks) -> None:
        """Put back marks whose flush failed (they are retried at the next flush)."""
        self.sent.extend(other.sent)
        self.folded.extend(other.folded)
        self.released.extend(other.released)

    async def write(self, repo: DeliveryRepo, holder: str) -> None:
        """Write every mark in the caller's transaction."""
        await repo.mark_sent_many(self.sent)
        await repo.mark_folded_many(self.folded)
        if self.released:
            await repo.release(holder, self.released)


class MarkBuffer:
    """Holds a worker's marks until they are flushed, one transaction per flush."""

    def __init__(
        self, db: Database, holder: str, *, flush_interval: float, flush_rows: int
    ) -> None:
        """Flush every `flush_interval` seconds or once `flush_rows` sent messages wait."""
        self.db = db
        self.holder = holder
        self.flush_interval = flush_interval
        self.flush_rows = max(1, flush_rows)
        self._marks = Marks()
        self._flushing = 0  # sent messages inside the flush now committing
        self._lock = asyncio.Lock()
        self._flushed = asyncio.Event()  # set (and replaced) when a flush ends

    def sent(
        self, row_id: int, message_id: int | None, folded: Iterable[int], at: datetime
    ) -> None:
        """Record a sent message (its first row) and the rows folded into it."""
        self._marks.sent.append((row_id, message_id, at))
        self._marks.folded.extend((other, row_id, at) for other in folded)

    def release(self, row_ids: Iterable[int]) -> None:
        """Give rows back as pending at the next flush (only those still claimed)."""
        self._marks.released.extend(row_ids)

    @property
    def full(self) -> bool:
        """Whether `flush_rows` sent messages wait and no flush is under way."""
        return len(self._marks.sent) >= self.flush_rows and not self._lock.locked()

    async def flush(self) -> None:
        """Write every waiting mark in one transaction (kept for the next flush on failure)."""
        async with self._lock:
            marks, self._marks = self._marks, Marks()
            if not marks:
                return
            self._flushing = len(marks.sent)
            try:
                async with self.db.unit_of_work() as session:
                    await marks.write(DeliveryRepo(session), self.holder)
            except BaseException:
                marks.merge(self._marks)
                self._marks = marks
                raise
            finally:
                self._flushing = 0
                ended, self._flushed = self._flushed, asyncio.Event()
                ended.set()

    async def flush_periodically(self, done: asyncio.Event) -> None:
        """Flush the waiting marks every `flush_interval` seconds until `done`."""
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=self.flush_interval)
            try:
                await self.flush()
            except Exception:
                log.exception("flushing delivery outcomes failed; retrying at the next flush")

    async def wait_for_room(self) -> None:
        """Hold a new send while `flush_rows` sent messages are unrecorded (the repeat bound)."""
        while len(self._marks.sent) + self._flushing >= self.flush_rows:
            if self._lock.locked():
                await self._flushed.wait()  # one flush for every waiting sender
            else:
                await self.flush()
