"""Stories: creation, statistics, persisted clusterer state, trending lists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Story
from storage.mappers import to_story
from storage.models import ArticleRow, StoryRow
from storage.repos.articles import reserve_ids

STORIES = cast(Table, StoryRow.__table__)


@dataclass(frozen=True, slots=True)
class StoryFigures:
    """One story's figures and clusterer state, as `StoryRepo.save` stores them."""

    story_id: int
    label: str
    article_count: int
    source_count: int
    languages: Iterable[str]
    last_seen: datetime
    state: dict[str, Any] | None


class StoryRepo:
    """Read and write stories."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def create(self, label: str, at: datetime, story_id: int | None = None) -> Story:
        """Start a new story (optionally with a chosen id) seen first at `at`."""
        row = StoryRow(label=label, first_seen=at, last_seen=at, article_count=0, source_count=0)
        if story_id is not None:
            row.id = story_id
        self.session.add(row)
        await self.session.flush()
        return to_story(row)

    async def create_many(self, items: Sequence[tuple[str, datetime]]) -> list[int]:
        """Start new stories, each (label, first seen), with one executemany; ids in input order.

        The ids are reserved first (see `reserve_ids`): SQLite cannot return the ids of a
        multi-row insert in a guaranteed order, so SQLAlchemy would insert row by row.
        """
        if not items:
            return []
        rows = [
            {
                "label": label,
                "first_seen": at,
                "last_seen": at,
                "article_count": 0,
                "source_count": 0,
                "languages": "",
                "closed": False,
            }
            for label, at in items
        ]
        ids = await reserve_ids(self.session, STORIES, len(rows))
        for row, story_id in zip(rows, ids, strict=True):
            row["id"] = story_id
        await self.session.execute(insert(STORIES), rows)
        return ids

    async def get(self, story_id: int) -> Story | None:
        """One story by id."""
        row = await self.session.get(StoryRow, story_id)
        return None if row is None else to_story(row)

    async def get_many(self, ids: Iterable[int]) -> dict[int, Story]:
        """Stories by id."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.session.scalars(select(StoryRow).where(StoryRow.id.in_(wanted)))
        return {r.id: to_story(r) for r in rows}

    async def save(
        self,
        story_id: int,
        *,
        label: str,
        article_count: int,
        source_count: int,
        languages: Iterable[str],
        last_seen: datetime,
        state: dict[str, Any] | None,
    ) -> None:
        """Store a story's figures and the clusterer's state for it."""
        await self.session.execute(
            update(StoryRow)
            .where(StoryRow.id == story_id)
            .values(
                label=label,
                article_count=article_count,
                source_count=source_count,
                languages=",".join(sorted(set(languages))),
                last_seen=last_seen,
                state=state,
                closed=False,
            )
        )

    async def save_many(self, items: Iterable[StoryFigures]) -> int:
        """`save` for many stories with one executemany; return how many were given."""
        params = [
            {
                "b_id": f.story_id,
                "b_label": f.label,
                "b_article_count": f.article_count,
                "b_source_count": f.source_count,
                "b_languages": ",".join(sorted(set(f.languages))),
                "b_last_seen": f.last_seen,
                "b_state": f.state,
            }
            for f in items
        ]
        if params:
            await self.session.execute(
                update(STORIES)
                .where(STORIES.c.id == bindparam("b_id"))
                .values(
                    label=bindparam("b_label"),
                    article_count=bindparam("b_article_count"),
                    source_count=bindparam("b_source_count"),
                    languages=bindparam("b_languages"),
                    last_seen=bindparam("b_last_seen", type_=STORIES.c.last_seen.type),
                    state=bindparam("b_state", type_=STORIES.c.state.type),
                    closed=False,
                ),
                params,
            )
        return len(params)

    async def active_states(self, since: datetime) -> list[tuple[int, dict[str, Any]]]:
        """(id, state) of open stories seen since `since` — what the clusterer reloads."""
        rows = await self.session.execute(
            select(StoryRow.id, StoryRow.state).where(
                StoryRow.closed.is_(False), StoryRow.last_seen >= since, StoryRow.state.is_not(None)
            )
        )
        return [(i, s) for i, s in rows if s is not None]

    async def close_quiet(self, before: datetime) -> int:
        """Close stories quiet since `before` and drop their in-database state."""
        result = await self.session.execute(
            update(StoryRow)
            .where(StoryRow.closed.is_(False), StoryRow.last_seen < before)
            .values(closed=True, state=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def trending(self, since: datetime, limit: int = 10, offset: int = 0) -> list[Story]:
        """Stories with the most articles since `since`, then the most recent."""
        recent = (
            select(ArticleRow.story_id, func.count(ArticleRow.id).label("n"))
            .where(ArticleRow.published_at >= since, ArticleRow.story_id.is_not(None))
            .group_by(ArticleRow.story_id)
            .subquery()
        )
        rows = await self.session.scalars(
            select(StoryRow)
            .join(recent, recent.c.story_id == StoryRow.id)
            .order_by(recent.c.n.desc(), StoryRow.last_seen.desc(), StoryRow.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [to_story(r) for r in rows]

    async def count(self) -> int:
        """How many stories exist."""
        return int(await self.session.scalar(select(func.count(StoryRow.id))) or 0)
