"""Operational rows: notices, leases, callback tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import OperatorNotice
from storage.mappers import to_notice
from storage.models import CallbackTokenRow, LeaseRow, NoticeRow
from storage.repos._dialect import insert_for


class NoticeRepo:
    """Operator notices."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def add(self, text: str, source_id: int | None = None) -> None:
        """Record a notice."""
        self.session.add(NoticeRow(text=text, source_id=source_id, seen=False))

    async def recent(self, limit: int = 20) -> list[OperatorNotice]:
        """The newest notices."""
        rows = await self.session.scalars(
            select(NoticeRow).order_by(NoticeRow.id.desc()).limit(limit)
        )
        return [to_notice(r) for r in rows]

    async def unseen(self, limit: int) -> list[OperatorNotice]:
        """The oldest notices not yet sent to the operators, at most `limit`."""
        rows = await self.session.scalars(
            select(NoticeRow).where(NoticeRow.seen.is_(False)).order_by(NoticeRow.id).limit(limit)
        )
        return [to_notice(r) for r in rows]

    async def count_unseen(self) -> int:
        """How many notices wait to be sent."""
        n = await self.session.scalar(
            select(func.count()).select_from(NoticeRow).where(NoticeRow.seen.is_(False))
        )
        return int(n or 0)

    async def mark_seen(self, ids: list[int]) -> None:
        """Mark these notices as sent."""
        if ids:
            await self.session.execute(
                update(NoticeRow).where(NoticeRow.id.in_(ids)).values(seen=True)
            )


class LeaseRepo:
    """Named leases: one holder at a time until expiry (e.g. the update receiver)."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lease if free, expired or already ours; True when we hold it."""
        stmt = insert_for(self.session, LeaseRow).values(
            name=name, holder=holder, expires_at=now + ttl
        )
        await self.session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        await self.session.execute(
            update(LeaseRow)
            .where(
                LeaseRow.name == name,
                (LeaseRow.holder == holder) | (LeaseRow.expires_at < now),
            )
            .values(holder=holder, expires_at=now + ttl)
        )
        current = await self.session.scalar(select(LeaseRow.holder).where(LeaseRow.name == name))
        return current == holder

    async def count_live(self, prefix: str, now: datetime) -> int:
        """How many unexpired leases have a name starting with `prefix`."""
        n = await self.session.scalar(
            select(func.count())
            .select_from(LeaseRow)
            .where(LeaseRow.name.startswith(prefix, autoescape=True), LeaseRow.expires_at >= now)
        )
        return int(n or 0)

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up if we hold it."""
        await self.session.execute(
            delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.holder == holder)
        )


class CallbackTokenRepo:
    """Server-side payloads for buttons whose data would not fit in 64 bytes."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def put(self, chat_id: int, payload: dict[str, Any]) -> int:
        """Store a payload for a chat and return its token."""
        row = CallbackTokenRow(chat_id=chat_id, payload=payload)
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def get(self, chat_id: int, token: int) -> dict[str, Any] | None:
        """The payload behind a token, only for the chat it was made for."""
        row = await self.session.get(CallbackTokenRow, token)
        if row is None or row.chat_id != chat_id:
            return None
        return dict(row.payload)

    async def prune(self, before: datetime) -> None:
        """Forget tokens older than `before`."""
        await self.session.execute(
            delete(CallbackTokenRow).where(CallbackTokenRow.created_at < before)
        )
