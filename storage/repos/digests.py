"""Set-based reads and writes for building a batch of daily digests at once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Select, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Chat, DeliveryState
from storage.mappers import to_chat
from storage.models import ChatRow, DeliveryRow
from storage.repos._dialect import is_postgres

IN_CHUNK = 5000
_DELIVERIES = cast(Table, DeliveryRow.__table__)
_CHATS = cast(Table, ChatRow.__table__)  # Core table: plain rows, no ORM identity map
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

    async def due_chats(self, now: datetime, limit: int) -> list[tuple[Chat, datetime | None]]:
        """Lock up to `limit` active chats whose digest is due (or never scheduled: None).

        Never-scheduled chats come first, then the longest due. Each part is one index range
        read in index order that stops at `limit` rows (an OR of the two, or a tie-break on
        id, would make the database sort every due chat on each call). On PostgreSQL rows
        are taken with `FOR UPDATE SKIP LOCKED`, so processes split the due chats.
        """
        table = _CHATS
        active = (table.c.paused.is_(False), table.c.blocked.is_(False))
        unscheduled = select(table).where(*active, table.c.next_digest_at.is_(None))
        found = await self._locked(unscheduled.limit(limit))
        if len(found) < limit:
            due = (
                select(table)
                .where(*active, table.c.next_digest_at <= now)
                .order_by(table.c.next_digest_at)
                .limit(limit - len(found))
            )
            found += await self._locked(due)
        return [(to_chat(cast(ChatRow, row)), row.next_digest_at) for row in found]

    async def _locked(self, query: Select[Any]) -> list[Row[Any]]:
        """The rows of a chats query, locked (skipping locked ones) on PostgreSQL."""
        if is_postgres(self.session):
            query = query.with_for_update(skip_locked=True)
        return list(await self.session.execute(query))

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
