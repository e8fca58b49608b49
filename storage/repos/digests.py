"""Set-based reads and writes for building a batch of daily digests at once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import DeliveryState
from storage.models import DeliveryRow
from storage.repos._dialect import insert_for
from storage.repos.deliveries import NewDelivery

IN_CHUNK = 5000
_DELIVERIES = cast(Table, DeliveryRow.__table__)
_RECEIVED = (str(DeliveryState.SENT), str(DeliveryState.FOLDED))


def _chunks(items: Sequence[int], size: int = IN_CHUNK) -> Iterable[Sequence[int]]:
    """Split ids into IN-clause-sized pieces."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DigestRepo:
    """Reads and writes that serve many chats' digests with a few statements."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def received_article_ids(
        self, chat_ids: Iterable[int], article_ids: Iterable[int], since: datetime
    ) -> dict[int, set[int]]:
        """Of these articles, those each chat got in full (sent or folded) from rows created
        since `since`; chats that got none of them are absent."""
        chats, articles = sorted(set(chat_ids)), sorted(set(article_ids))
        found: dict[int, set[int]] = {}
        for chat_part in _chunks(chats):
            for article_part in _chunks(articles):
                rows = await self.session.execute(
                    select(DeliveryRow.chat_id, DeliveryRow.article_id).where(
                        DeliveryRow.chat_id.in_(chat_part),
                        DeliveryRow.article_id.in_(article_part),
                        DeliveryRow.created_at >= since,
                        DeliveryRow.state.in_(_RECEIVED),
                    )
                )
                for chat_id, article_id in rows:
                    if article_id is not None:
                        found.setdefault(int(chat_id), set()).add(int(article_id))
        return found

    async def enqueue(self, rows: Sequence[NewDelivery], now: datetime) -> int:
        """Insert outbox rows with one compiled statement run for all of them (executemany),
        ignoring any already owed (same chat and digest day, or chat and article); returns
        how many were inserted."""
        if not rows:
            return 0
        params = [
            {
                "chat_id": r.chat_id,
                "kind": str(r.kind),
                "state": str(r.state),
                "article_id": r.article_id,
                "story_id": r.story_id,
                "follow_id": r.follow_id,
                "digest_on": r.digest_on,
                "attempts": 0,
                "next_attempt_at": r.next_attempt_at or now,
                "last_error": r.note,
                "created_at": now,
            }
            for r in rows
        ]
        stmt = (
            insert_for(self.session, _DELIVERIES)
            .on_conflict_do_nothing()
            .returning(_DELIVERIES.c.id)
        )
        result = await self.session.execute(stmt, params)
        return len(result.all())
