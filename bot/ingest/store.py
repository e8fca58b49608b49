"""The store step of ingest: a batch of normalised articles into one unit of work.

Per batch, whatever its size: the identity lookups, the id reservation, the story
inserts, one article executemany (story ids and near-duplicate links set at insert time),
the rare updates and one story save. What to do with each article is `plan_batch`'s pure
decision. One bad article never costs the others: when a batch's unit of work fails, its
articles are stored one by one and only those that fail again are skipped (logged and
counted); when every one of them fails, the error is raised (the database, not an item).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace

from bot.domain import Article, ArticleDraft, Clock
from bot.ingest.assign import assign_stories, cluster_view
from bot.ingest.fingerprints import FINGERPRINT_CAPACITY, FINGERPRINT_WINDOW, FingerprintIndex
from bot.ingest.report import IngestReport
from bot.pipeline.ingest_plan import NewArticle, plan_batch
from bot.pipeline.normalise import Normalised
from bot.stories import StoryService
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.stories import StoryRepo

log = logging.getLogger("akhbar.ingest")


class BatchStore:
    """Writes batches of drafts: duplicates skipped, edits applied, new articles linked and clustered."""

    def __init__(self, db: Database, stories: StoryService, clock: Clock) -> None:
        """Bind to the database and the story service; `lock` serialises writers."""
        self.db = db
        self.stories = stories
        self.clock = clock
        self.fingerprints = FingerprintIndex()
        self.lock = asyncio.Lock()  # one writer per process keeps SQLite free of lock upgrades
        self._seeded = False

    async def store(self, batch: Sequence[Normalised]) -> IngestReport:
        """Store a batch (the caller holds `lock`); a failing batch is retried item by item."""
        if not batch:
            return IngestReport()
        try:
            return await self._store_together(batch)
        except Exception as exc:
            if len(batch) == 1:
                raise
            log.warning("ingest batch of %d failed (%s); storing one by one", len(batch), exc)
        report = IngestReport()
        last: Exception | None = None
        for item in batch:
            try:
                report.merge(await self._store_together([item]))
            except Exception as exc:
                last = exc
                error = f"{item.draft.url[:200]}: not stored: {type(exc).__name__}: {exc}"
                log.warning("article skipped: %s", error[:1000])
                report.fail(error)
        if last is not None and report.failed == len(batch):
            raise last
        return report

    async def _seed(self, articles: ArticleRepo) -> None:
        """Load recent originals' fingerprints once per process."""
        if self._seeded:
            return
        since = self.clock() - FINGERPRINT_WINDOW
        rows = await articles.recent_fingerprints(since, FINGERPRINT_CAPACITY)
        for article_id, fp in reversed(rows):
            self.fingerprints.add(article_id, fp)
        self._seeded = True

    async def _store_together(self, batch: Sequence[Normalised]) -> IngestReport:
        """Store a batch in one unit of work (story state reloaded if it fails)."""
        report = IngestReport()
        added: list[tuple[int, int]] = []
        try:
            async with self.db.unit_of_work() as session:
                articles, stories = ArticleRepo(session), StoryRepo(session)
                await self._seed(articles)
                await self._write(articles, stories, batch, report, added)
                await self.stories.flush(stories)
        except Exception:
            await self.stories.reset()
            raise
        for article_id, fp in added:
            self.fingerprints.add(article_id, fp)
        return report

    async def _write(
        self,
        articles: ArticleRepo,
        stories: StoryRepo,
        batch: Sequence[Normalised],
        report: IngestReport,
        added: list[tuple[int, int]],
    ) -> None:
        """Insert, update or skip each article of a batch, as `plan_batch` decides."""
        drafts = [(item.draft, item.keep_existing) for item in batch]
        found = await articles.find_existing_many(
            [(d.url, d.source_id, d.guid) for d, _keep in drafts]
        )
        plan = plan_batch(drafts, found)
        report.duplicate += plan.duplicate
        report.updated += plan.updated
        for article_id, draft in plan.updates.items():
            await articles.replace(article_id, draft)
        if plan.new:
            await self._insert_new(articles, stories, plan.new, report, added)

    async def _insert_new(
        self,
        articles: ArticleRepo,
        stories: StoryRepo,
        new: Sequence[NewArticle[ArticleDraft]],
        report: IngestReport,
        added: list[tuple[int, int]],
    ) -> None:
        """Give new articles ids, link near-duplicates, cluster them, insert them in one go."""
        ids = await articles.reserve_ids(len(new))
        views: list[Article] = []
        originals: list[int | None] = []
        for entry, article_id in zip(new, ids, strict=True):
            draft = entry.first
            original = self.fingerprints.original_of(draft.fingerprint, added)
            originals.append(original)
            if original is not None:
                report.syndicated += 1
            elif draft.fingerprint is not None:
                added.append((article_id, draft.fingerprint))
            views.append(cluster_view(article_id, draft, original))
        story_ids = await assign_stories(self.stories, stories, views)
        rows = [
            replace(entry.final, duplicate_of=original, story_id=story_id)
            for entry, original, story_id in zip(new, originals, story_ids, strict=True)
        ]
        await articles.insert_many(rows, ids=ids)
        report.new += len(rows)
        report.new_article_ids.extend(ids)
