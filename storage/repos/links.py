"""Cross-language links: stored article vectors and linked story pairs (revision 0005).

A link is stored once, lower story id first; `partners` answers for either side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ArticleRow, SourceRow, StoryLinkRow
from storage.repos._dialect import insert_for

IN_CHUNK = 500
_ARTICLES = cast(Table, ArticleRow.__table__)
_LINKS = cast(Table, StoryLinkRow.__table__)


@dataclass(frozen=True, slots=True)
class TextToEmbed:
    """An article still lacking a vector: what the encoder needs of it."""

    article_id: int
    title: str
    lede: str
    text: str


@dataclass(frozen=True, slots=True)
class StoredVector:
    """An embedded article as the linker loads it (vector still packed)."""

    article_id: int
    story_id: int
    lang: str
    published_at: datetime
    source: str | None
    vector: bytes


@dataclass(frozen=True, slots=True)
class StoredLink:
    """Two linked stories (lower id first), the cosine that linked them and when."""

    story_a: int
    story_b: int
    score: float
    linked_at: datetime


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    """Ids in IN-clause-sized parts."""
    for start in range(0, len(ids), IN_CHUNK):
        yield ids[start : start + IN_CHUNK]


class LinkRepo:
    """Read and write article vectors and story links."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    # ------------------------------------------------------------ vectors
    async def unembedded(self, since: datetime, limit: int) -> list[TextToEmbed]:
        """Stored articles published since `since` with a story but no vector, oldest id first."""
        rows = await self.session.execute(
            select(ArticleRow.id, ArticleRow.title, ArticleRow.lede, ArticleRow.text)
            .where(
                ArticleRow.embedding.is_(None),
                ArticleRow.story_id.is_not(None),
                ArticleRow.published_at >= since,
            )
            .order_by(ArticleRow.id)
            .limit(limit)
        )
        return [TextToEmbed(r.id, r.title or "", r.lede or "", r.text or "") for r in rows]

    async def store_vectors(self, vectors: Sequence[tuple[int, bytes]]) -> None:
        """Store packed vectors, (article id, bytes), with one executemany."""
        if not vectors:
            return
        stmt = (
            update(_ARTICLES)
            .where(_ARTICLES.c.id == bindparam("b_id"))
            .values(embedding=bindparam("b_vector"))
        )
        params = [{"b_id": article_id, "b_vector": blob} for article_id, blob in vectors]
        await self.session.execute(stmt.execution_options(synchronize_session=False), params)

    async def vectors_since(
        self, since: datetime, article_ids: Sequence[int] | None = None
    ) -> list[StoredVector]:
        """Embedded originals (not syndicated copies) published since `since`, with their
        source names; only the given articles when `article_ids` is set."""
        query = (
            select(
                ArticleRow.id,
                ArticleRow.story_id,
                ArticleRow.lang,
                ArticleRow.published_at,
                SourceRow.name,
                ArticleRow.embedding,
            )
            .outerjoin(SourceRow, SourceRow.id == ArticleRow.source_id)
            .where(
                ArticleRow.embedding.is_not(None),
                ArticleRow.story_id.is_not(None),
                ArticleRow.duplicate_of.is_(None),
                ArticleRow.published_at >= since,
            )
            .order_by(ArticleRow.id)
        )
        parts: list[Sequence[int] | None] = (
            [None] if article_ids is None else list(_chunks(sorted(set(article_ids))))
        )
        found: list[StoredVector] = []
        for part in parts:
            chunk = query if part is None else query.where(ArticleRow.id.in_(part))
            for r in await self.session.execute(chunk):
                found.append(StoredVector(r[0], r[1], r[2] or "", r[3], r[4], bytes(r[5])))
        return found

    async def story_vectors(self, story_ids: Iterable[int]) -> dict[int, list[bytes]]:
        """Packed vectors of the given stories' embedded originals, by story."""
        wanted = sorted(set(story_ids))
        found: dict[int, list[bytes]] = {}
        for part in _chunks(wanted):
            rows = await self.session.execute(
                select(ArticleRow.story_id, ArticleRow.embedding).where(
                    ArticleRow.story_id.in_(part),
                    ArticleRow.embedding.is_not(None),
                    ArticleRow.duplicate_of.is_(None),
                )
            )
            for story_id, blob in rows:
                found.setdefault(int(story_id), []).append(bytes(blob))
        return found

    async def count_embedded(self) -> tuple[int, int]:
        """(articles with a vector, articles with a story but none)."""
        embedded = await self.session.scalar(
            select(func.count(ArticleRow.id)).where(ArticleRow.embedding.is_not(None))
        )
        waiting = await self.session.scalar(
            select(func.count(ArticleRow.id)).where(
                ArticleRow.embedding.is_(None), ArticleRow.story_id.is_not(None)
            )
        )
        return int(embedded or 0), int(waiting or 0)

    # ------------------------------------------------------------ links
    async def add_links(self, links: Sequence[tuple[int, int, float]], at: datetime) -> int:
        """Store links (story, story, cosine), lower id first, ignoring pairs already stored."""
        if not links:
            return 0
        params = [
            {"story_a": min(a, b), "story_b": max(a, b), "score": float(s), "linked_at": at}
            for a, b, s in links
            if a != b
        ]
        if not params:
            return 0
        stmt = insert_for(self.session, _LINKS).on_conflict_do_nothing().returning(_LINKS.c.story_a)
        result = await self.session.execute(stmt, params)
        return len(result.all())

    async def links_since(self, since: datetime) -> list[StoredLink]:
        """Links made since `since`, oldest first."""
        rows = await self.session.scalars(
            select(StoryLinkRow)
            .where(StoryLinkRow.linked_at >= since)
            .order_by(StoryLinkRow.linked_at, StoryLinkRow.story_a)
        )
        return [StoredLink(r.story_a, r.story_b, r.score, r.linked_at) for r in rows]

    async def partners(self, story_ids: Iterable[int]) -> dict[int, set[int]]:
        """For each given story that has links, the stories linked to it."""
        wanted = sorted(set(story_ids))
        found: dict[int, set[int]] = {}
        for part in _chunks(wanted):
            rows = await self.session.execute(
                select(StoryLinkRow.story_a, StoryLinkRow.story_b).where(
                    or_(StoryLinkRow.story_a.in_(part), StoryLinkRow.story_b.in_(part))
                )
            )
            chosen = set(part)
            for a, b in rows:
                if a in chosen:
                    found.setdefault(a, set()).add(b)
                if b in chosen:
                    found.setdefault(b, set()).add(a)
        return found

    async def with_partners(self, story_id: int) -> list[int]:
        """The story and the stories linked to it, ascending."""
        return sorted({story_id} | (await self.partners([story_id])).get(story_id, set()))

    async def count_links(self) -> int:
        """How many story links exist."""
        return int(await self.session.scalar(select(func.count()).select_from(_LINKS)) or 0)
