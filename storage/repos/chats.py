"""Chats (with settings) and their follows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Chat, ChatType, DeliveryMode, Follow, FollowKind, QuietMode
from storage.mappers import to_chat, to_follow
from storage.models import ChatRow, FollowRow

IN_CHUNK = 5000
_FOLLOWS = cast(Table, FollowRow.__table__)  # Core tables: plain rows, no ORM identity map
_CHATS = cast(Table, ChatRow.__table__)

CHAT_SETTING_FIELDS = frozenset(
    {
        "title",
        "language",
        "timezone",
        "digest_time",
        "quiet_start",
        "quiet_end",
        "quiet_mode",
        "empty_digest",
        "paused",
        "blocked",
        "last_digest_on",
        "next_digest_at",
        "type",
        "news_langs",
        "is_forum",
        "digest_thread_id",
        "preview",
    }
)


class ChatRepo:
    """Read and write chats and their settings."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def ensure(
        self,
        chat_id: int,
        *,
        type: ChatType = ChatType.PRIVATE,
        title: str | None = None,
        language: str = "en",
        timezone: str = "UTC",
        digest_time: time = time(8, 0),
    ) -> tuple[Chat, bool]:
        """Return the chat, creating it with these defaults if new; the bool says it was created."""
        row = await self.session.get(ChatRow, chat_id)
        if row is not None:
            return to_chat(row), False
        row = ChatRow(
            id=chat_id,
            type=str(type),
            title=title,
            language=language,
            timezone=timezone,
            digest_time=digest_time,
            quiet_mode=str(QuietMode.HOLD),
            empty_digest=False,
            paused=False,
            blocked=False,
        )
        self.session.add(row)
        await self.session.flush()
        return to_chat(row), True

    async def get(self, chat_id: int) -> Chat | None:
        """One chat by Telegram id."""
        row = await self.session.get(ChatRow, chat_id)
        return None if row is None else to_chat(row)

    async def update(self, chat_id: int, **values: Any) -> Chat | None:
        """Change settings (only known fields); returns the updated chat."""
        unknown = set(values) - CHAT_SETTING_FIELDS
        if unknown:
            raise ValueError(f"unknown chat fields: {sorted(unknown)}")
        row = await self.session.get(ChatRow, chat_id)
        if row is None:
            return None
        for key, value in values.items():
            setattr(row, key, str(value) if key in ("quiet_mode", "type", "preview") else value)
        await self.session.flush()
        return to_chat(row)

    async def get_many(self, ids: Iterable[int]) -> dict[int, Chat]:
        """Chats by id (plain Core rows, read in IN-clause-sized chunks)."""
        wanted = sorted(set(ids))
        found: dict[int, Chat] = {}
        table = _CHATS
        for start in range(0, len(wanted), IN_CHUNK):
            part = wanted[start : start + IN_CHUNK]
            rows = await self.session.execute(select(table).where(table.c.id.in_(part)))
            # Plain rows carry the ORM row's attribute names, which is all the mapper reads.
            found.update((r.id, to_chat(cast(ChatRow, r))) for r in rows)
        return found

    async def counts(self) -> tuple[int, int]:
        """(all chats, blocked chats)."""
        total = await self.session.scalar(select(func.count(ChatRow.id)))
        blocked = await self.session.scalar(
            select(func.count(ChatRow.id)).where(ChatRow.blocked.is_(True))
        )
        return int(total or 0), int(blocked or 0)


class FollowRepo:
    """Read and write follows."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def follow_story(
        self,
        chat_id: int,
        story_id: int,
        mode: DeliveryMode = DeliveryMode.INSTANT,
        thread_id: int | None = None,
    ) -> tuple[Follow, bool]:
        """Follow a story (idempotent); the bool says it was new."""
        row = await self.session.scalar(
            select(FollowRow).where(FollowRow.chat_id == chat_id, FollowRow.story_id == story_id)
        )
        if row is not None:
            return to_follow(row), False
        row = FollowRow(
            chat_id=chat_id,
            kind=str(FollowKind.STORY),
            story_id=story_id,
            mode=str(mode),
            muted=False,
            thread_id=thread_id,
        )
        self.session.add(row)
        await self.session.flush()
        return to_follow(row), True

    async def follow_keyword(
        self,
        chat_id: int,
        query: str,
        terms: Iterable[str],
        mode: DeliveryMode = DeliveryMode.INSTANT,
        thread_id: int | None = None,
    ) -> tuple[Follow, bool]:
        """Follow a keyword query by its matching terms (idempotent); the bool says it was new."""
        key = " ".join(sorted(set(terms)))
        row = await self.session.scalar(
            select(FollowRow).where(FollowRow.chat_id == chat_id, FollowRow.terms == key)
        )
        if row is not None:
            return to_follow(row), False
        row = FollowRow(
            chat_id=chat_id,
            kind=str(FollowKind.KEYWORD),
            query=query[:500],
            terms=key,
            mode=str(mode),
            muted=False,
            thread_id=thread_id,
        )
        self.session.add(row)
        await self.session.flush()
        return to_follow(row), True

    async def get(self, follow_id: int) -> Follow | None:
        """One follow by id."""
        row = await self.session.get(FollowRow, follow_id)
        return None if row is None else to_follow(row)

    async def for_chat(self, chat_id: int) -> list[Follow]:
        """A chat's follows, oldest first."""
        rows = await self.session.scalars(
            select(FollowRow).where(FollowRow.chat_id == chat_id).order_by(FollowRow.id)
        )
        return [to_follow(r) for r in rows]

    async def for_chats(self, chat_ids: Iterable[int]) -> dict[int, list[Follow]]:
        """Many chats' follows (muted included), each chat's oldest first; none → absent."""
        wanted = sorted(set(chat_ids))
        found: dict[int, list[Follow]] = {}
        table = _FOLLOWS
        for start in range(0, len(wanted), IN_CHUNK):
            rows = await self.session.execute(
                select(table)
                .where(table.c.chat_id.in_(wanted[start : start + IN_CHUNK]))
                .order_by(table.c.id)
            )
            for row in rows:
                found.setdefault(row.chat_id, []).append(to_follow(cast(FollowRow, row)))
        return found

    async def remove(self, chat_id: int, follow_id: int) -> bool:
        """Delete one of the chat's follows; False if it was not theirs or is gone."""
        result = await self.session.execute(
            delete(FollowRow).where(FollowRow.id == follow_id, FollowRow.chat_id == chat_id)
        )
        return bool(getattr(result, "rowcount", 0))

    async def update(self, chat_id: int, follow_id: int, **values: Any) -> Follow | None:
        """Set `mode` and/or `muted` on one of the chat's follows."""
        row = await self.session.get(FollowRow, follow_id)
        if row is None or row.chat_id != chat_id:
            return None
        if "mode" in values:
            row.mode = str(DeliveryMode(values["mode"]))
        if "muted" in values:
            row.muted = bool(values["muted"])
        await self.session.flush()
        return to_follow(row)

    async def story_followers(self, story_id: int) -> list[Follow]:
        """Unmuted follows of one story."""
        rows = await self.session.scalars(
            select(FollowRow).where(FollowRow.story_id == story_id, FollowRow.muted.is_(False))
        )
        return [to_follow(r) for r in rows]

    async def muted_story_chats(self, story_id: int) -> set[int]:
        """Chats that muted this story (they get none of its articles, even via keywords)."""
        rows = await self.session.scalars(
            select(FollowRow.chat_id).where(
                FollowRow.story_id == story_id, FollowRow.muted.is_(True)
            )
        )
        return set(rows)

    async def keyword_follows(self, after_id: int = 0) -> list[Follow]:
        """Every keyword follow with id > after_id (for building the term index)."""
        rows = await self.session.scalars(
            select(FollowRow)
            .where(FollowRow.kind == str(FollowKind.KEYWORD), FollowRow.id > after_id)
            .order_by(FollowRow.id)
        )
        return [to_follow(r) for r in rows]

    async def count(self) -> int:
        """How many follows exist."""
        return int(await self.session.scalar(select(func.count(FollowRow.id))) or 0)
