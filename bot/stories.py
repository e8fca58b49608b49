"""Story service: the online clusterer around the database (stable story ids, persisted state).

The clusterer issues its own positive keys for new stories; the service creates the
StoryRow, so the database issues the story id, and keeps a key → id map. Restored
stories get the key `-id`, which can never collide with a fresh positive key. The
persisted state always carries the database id as its key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Article, Clock, utc_now
from bot.pipeline.cluster import ClusterDoc, StoryClusterer
from bot.pipeline.encoder import mean_vector
from bot.pipeline.related import Headline, related_headlines
from bot.pipeline.xlink import Coverage, CoverageItem, coverage
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.links import LinkRepo
from storage.repos.stories import StoryFigures, StoryRepo

SIMILAR_STORIES = 3
# Story-vector cosine (title + lead embeddings, use-m3) a related story needs where both
# stories have vectors; measured by `benchmarks/bench_encoder.py --related` (README).
RELATED_MIN_COSINE = 0.35
# Centroid cosine below which another story is not "related" at all: on the saudinewsnet
# stream, pairs under ~0.08 are unrelated news (a Greek loan law next to a Saudi royal
# reception), 0.08-0.15 share a field (two football transfers), above 0.15 a subject.
RELATED_MIN_SIMILARITY = 0.1
STORY_ARTICLES = 50


def _headline(article: Article) -> Headline:
    """The related-headline view of an article."""
    return Headline(
        id=article.id,
        title=article.title,
        source=str(article.source_id) if article.source_id is not None else None,
        published=article.published_at,
        story=article.story_id,
    )


class StoryService:
    """Assigns each new article to a story and keeps story rows and clusterer state in step."""

    def __init__(
        self, db: Database, clusterer: StoryClusterer | None = None, now: Clock = utc_now
    ) -> None:
        """Wrap a clusterer (a fresh default one if None); `now` is the clock."""
        self.db = db
        self.clusterer = clusterer or StoryClusterer()
        self.now = now
        self._ids: dict[int, int] = {}  # clusterer key -> story id
        self._keys: dict[int, int] = {}  # story id -> clusterer key
        self._dirty: set[int] = set()  # clusterer keys whose row needs saving

    @property
    def window(self) -> timedelta:
        """How long a quiet story stays open."""
        return timedelta(days=self.clusterer.config.window_days)

    def story_id(self, key: int) -> int | None:
        """The database id of a clusterer key, if known."""
        return self._ids.get(key)

    def _bind(self, key: int, story_id: int) -> None:
        """Remember that clusterer key `key` is story `story_id`."""
        self._ids[key] = story_id
        self._keys[story_id] = key

    async def load(self) -> int:
        """Restore active stories' state from the database; return how many were loaded."""
        async with self.db.unit_of_work() as session:
            states = await StoryRepo(session).active_states(self.now() - self.window)
        for story_id, state in states:
            data = dict(state)
            data["key"] = -story_id
            try:
                self.clusterer.restore_story(data)
            except (KeyError, TypeError, ValueError):
                continue  # an unreadable state: the story simply stops attracting articles
            self._bind(-story_id, story_id)
        return len(self._ids)

    async def reset(self) -> int:
        """Drop in-memory state (e.g. after a rolled-back batch) and reload from the database."""
        self.clusterer = type(self.clusterer)(self.clusterer.config)
        self._ids.clear()
        self._keys.clear()
        self._dirty.clear()
        return await self.load()

    def _doc(self, article: Article) -> ClusterDoc:
        """The clusterer's view of an article."""
        return ClusterDoc(
            id=article.id,
            title=article.title,
            text=article.text,
            lede=article.lede,
            lang=article.lang,
            published=article.published_at or self.now(),
            source=str(article.source_id) if article.source_id is not None else None,
        )

    async def assign_many(self, stories: StoryRepo, articles: Sequence[Article]) -> list[int]:
        """Cluster articles (with their final ids, not necessarily inserted yet) in order.

        Creates the rows of new stories with one statement through `stories` (the caller's
        unit of work), so the caller can insert the articles with their story ids already
        set; it does not touch the articles' rows. The story rows are saved by the next
        `flush`. Returns story ids in order.
        """
        keys: list[int] = []
        fresh: dict[int, tuple[str, datetime]] = {}  # new clusterer key -> (label, first seen)
        for article in articles:
            doc = self._doc(article)
            key = self.clusterer.add(doc).story
            keys.append(key)
            self._dirty.add(key)
            if key not in self._ids and key not in fresh:
                fresh[key] = (article.title, doc.published or self.now())
        if fresh:
            created = await stories.create_many(list(fresh.values()))
            for key, story_id in zip(fresh, created, strict=True):
                self._bind(key, story_id)
        story_ids = [self._ids[key] for key in keys]
        if len(self._ids) > 2 * len(self.clusterer.active_keys) + 1000:
            self._prune()
        return story_ids

    async def flush(self, stories: StoryRepo) -> int:
        """Save the figures and state of every story changed since the last flush, through
        `stories` (the caller's unit of work)."""
        active = set(self.clusterer.active_keys)
        figures: list[StoryFigures] = []
        for key in sorted(self._dirty):
            story_id = self._ids.get(key)
            if story_id is None or key not in active:
                continue
            info = self.clusterer.story_info(key)
            state: dict[str, Any] = self.clusterer.export_story(key)
            state["key"] = story_id
            figures.append(
                StoryFigures(
                    story_id=story_id,
                    label=str(info["label"]),
                    article_count=int(info["article_count"]),
                    source_count=len(info["sources"]),
                    languages=info["languages"],
                    last_seen=info["last_seen"],
                    state=state,
                )
            )
        self._dirty.clear()
        return await stories.save_many(figures)

    def _prune(self) -> None:
        """Forget key mappings of stories the clusterer has evicted."""
        active = set(self.clusterer.active_keys)
        for key in [k for k in self._ids if k not in active]:
            story_id = self._ids.pop(key)
            self._keys.pop(story_id, None)
            self._dirty.discard(key)

    async def close_quiet(self, now: datetime | None = None) -> int:
        """Close stories quiet for the window: evict them from memory and their DB state."""
        at = now or self.now()
        self.clusterer.close_quiet(at)
        self._prune()
        async with self.db.unit_of_work() as session:
            return await StoryRepo(session).close_quiet(at - self.window)

    def _lexical_candidates(self, story_id: int) -> list[int]:
        """Active stories similar to this one by their words (above the lexical floor), best first."""
        key = self._keys.get(story_id)
        if key is None or key not in set(self.clusterer.active_keys):
            return []
        found = []
        for other_key, score in self.clusterer.similar_stories(key, SIMILAR_STORIES):
            if score < RELATED_MIN_SIMILARITY:
                break  # best first: the rest are less similar still
            other_id = self._ids.get(other_key)
            if other_id is not None:
                found.append(other_id)
        return found

    async def _related_stories(
        self, session: AsyncSession, story_id: int, members: list[int]
    ) -> list[int]:
        """Lexical candidates kept where the story vectors agree: a candidate whose vector
        and this story's both exist must reach `RELATED_MIN_COSINE`."""
        candidates = [c for c in self._lexical_candidates(story_id) if c not in members]
        if not candidates:
            return []
        packed = await LinkRepo(session).story_vectors([*members, *candidates])
        mine = mean_vector([blob for m in members for blob in packed.get(m, [])])
        kept = []
        for other in candidates:
            theirs = mean_vector(packed.get(other, []))
            if mine is None or theirs is None or float(mine @ theirs) >= RELATED_MIN_COSINE:
                kept.append(other)
        return kept

    async def related(self, article: Article, limit: int = 5) -> list[Article]:
        """Related articles: the story's other reports, topped up from similar active stories."""
        if article.story_id is None:
            return []
        async with self.db.unit_of_work() as session:
            repo = ArticleRepo(session)
            members = await LinkRepo(session).with_partners(article.story_id)
            own: list[Article] = []
            for member in members:  # the story and its other-language partner
                own.extend(await repo.for_story(member, STORY_ARTICLES))
            similar: list[Article] = []
            for other_id in await self._related_stories(session, article.story_id, members):
                similar.extend(await repo.for_story(other_id, limit))
        by_id = {a.id: a for a in [*own, *similar]}
        chosen = related_headlines(
            _headline(article),
            [_headline(a) for a in own],
            [_headline(a) for a in similar],
            limit=limit,
        )
        return [by_id[int(h.id)] for h in chosen]

    async def coverage(self, story_id: int) -> Coverage:
        """Who covers a story and its linked partner: sources per language, first report."""
        async with self.db.unit_of_work() as session:
            repo = ArticleRepo(session)
            articles: list[Article] = []
            for member in await LinkRepo(session).with_partners(story_id):
                articles.extend(await repo.for_story(member, STORY_ARTICLES))
        return coverage(
            CoverageItem(a.source_name or "?", a.lang, when)
            for a in articles
            if a.duplicate_of is None and (when := a.published_at or a.fetched_at) is not None
        )
