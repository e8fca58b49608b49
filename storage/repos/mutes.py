"""Chats' mutes: word queries and sources whose articles a chat does not want to see."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Mute, MuteKind
from bot.pipeline.mutes import MuteFilter, mute_filter
from storage.mappers import to_mute
from storage.models import ArticleRow, MuteRow, SourceRow
from storage.repos._dialect import insert_for

IN_CHUNK = 5000
QUERY_CHARS = 500  # mutes.query is VARCHAR(500)
TERMS_CHARS = 1000  # mutes.terms is VARCHAR(1000)
_MUTES = cast(Table, MuteRow.__table__)


class MuteRepo:
    """Read and write mutes."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    def _with_names(self) -> Any:
        """Mute rows with their source's name (NULL for word mutes)."""
        return select(MuteRow, SourceRow.name).outerjoin(
            SourceRow, SourceRow.id == MuteRow.source_id
        )

    async def for_chat(self, chat_id: int) -> list[Mute]:
        """A chat's mutes, oldest first, source mutes with their source's name."""
        rows = await self.session.execute(
            self._with_names().where(MuteRow.chat_id == chat_id).order_by(MuteRow.id)
        )
        return [to_mute(row, name) for row, name in rows]

    async def filter_for(self, chat_id: int) -> MuteFilter:
        """A chat's mutes as the filter that hides articles (empty when it muted nothing)."""
        return mute_filter(await self.for_chat(chat_id))

    async def for_chats(self, chat_ids: Iterable[int]) -> dict[int, list[Mute]]:
        """Many chats' mutes by chat (plain Core rows, one query per IN chunk); none → absent."""
        wanted = sorted(set(chat_ids))
        found: dict[int, list[Mute]] = {}
        table = _MUTES
        for start in range(0, len(wanted), IN_CHUNK):
            rows = await self.session.execute(
                select(table)
                .where(table.c.chat_id.in_(wanted[start : start + IN_CHUNK]))
                .order_by(table.c.id)
            )
            for row in rows:
                found.setdefault(row.chat_id, []).append(to_mute(cast(MuteRow, row)))
        return found

    async def count(self, chat_id: int) -> int:
        """How many mutes a chat has."""
        total = await self.session.scalar(
            select(func.count(MuteRow.id)).where(MuteRow.chat_id == chat_id)
        )
        return int(total or 0)

    async def _one(self, *where: Any) -> Mute | None:
        """The one mute matching `where`, with its source's name."""
        row = (await self.session.execute(self._with_names().where(*where))).first()
        return None if row is None else to_mute(row[0], row[1])

    async def _insert(self, values: dict[str, Any]) -> bool:
        """Insert one mute unless an equal one exists; True when inserted."""
        statement = insert_for(self.session, _MUTES).values(**values).on_conflict_do_nothing()
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def add_words(self, chat_id: int, query: str, terms: Iterable[str]) -> tuple[Mute, bool]:
        """Mute a word query by its matching terms (idempotent); the bool says it was new."""
        key = " ".join(sorted(set(terms)))[:TERMS_CHARS]
        created = await self._insert(
            {
                "chat_id": chat_id,
                "kind": str(MuteKind.WORD),
                "query": query[:QUERY_CHARS],
                "terms": key,
            }
        )
        mute = await self._one(MuteRow.chat_id == chat_id, MuteRow.terms == key)
        if mute is None:  # pragma: no cover - the row was just written or already there
            raise LookupError(f"word mute of chat {chat_id} vanished")
        return mute, created

    async def add_source(self, chat_id: int, source_id: int) -> tuple[Mute, bool]:
        """Mute a source (idempotent); the bool says it was new."""
        created = await self._insert(
            {"chat_id": chat_id, "kind": str(MuteKind.SOURCE), "source_id": source_id}
        )
        mute = await self._one(MuteRow.chat_id == chat_id, MuteRow.source_id == source_id)
        if mute is None:  # pragma: no cover - the row was just written or already there
            raise LookupError(f"source mute of chat {chat_id} vanished")
        return mute, created

    async def remove(self, chat_id: int, mute_id: int) -> bool:
        """Delete one of the chat's mutes; False if it was not theirs or is gone."""
        result = await self.session.execute(
            delete(MuteRow).where(MuteRow.id == mute_id, MuteRow.chat_id == chat_id)
        )
        return bool(getattr(result, "rowcount", 0))

    async def story_sources(self, story_ids: Iterable[int]) -> dict[int, set[int]]:
        """The ids of the sources of each story's articles (for hiding muted sources' stories)."""
        wanted = sorted(set(story_ids))
        found: dict[int, set[int]] = {}
        for start in range(0, len(wanted), IN_CHUNK):
            rows = await self.session.execute(
                select(ArticleRow.story_id, ArticleRow.source_id)
                .where(ArticleRow.story_id.in_(wanted[start : start + IN_CHUNK]))
                .distinct()
            )
            for story_id, source_id in rows:
                if story_id is not None and source_id is not None:
                    found.setdefault(story_id, set()).add(source_id)
        return found
