"""Related headlines topped up from other stories only when those stories are similar enough."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.fetch import Fetcher
from bot.ingest import IngestService
from bot.settings import Settings
from bot.stories import RELATED_MIN_SIMILARITY, StoryService
from storage.db import Database
from storage.repos.articles import ArticleRepo
from tests.datapaths import data_path

NOW = datetime(2015, 8, 1, tzinfo=UTC)
STREAM = 300


def stream() -> list[dict[str, object]]:
    """The first articles of the saudinewsnet stream in time order."""
    path = data_path("saudinewsnet", "articles.jsonl")
    with path.open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    records.sort(key=lambda r: str(r.get("published") or ""))
    return records[:STREAM]


async def test_top_up_only_from_similar_stories(db: Database) -> None:
    """Every article lent by another story comes from one at least RELATED_MIN_SIMILARITY
    alike; stories with only a faint likeness (there are some) lend nothing."""
    stories = StoryService(db, now=lambda: NOW)
    async with Fetcher(allow_private=True) as fetcher:
        service = IngestService(db, fetcher, stories, Settings(), clock=lambda: NOW)
        report = await service.ingest_records(stream())
    assert report.new > 200
    clusterer = stories.clusterer
    faint_seen = lent_seen = 0
    async with db.unit_of_work() as session:
        articles = await ArticleRepo(session).get_many(report.new_article_ids)
    for article in articles[:120]:
        assert article.story_id is not None
        key = stories._keys[article.story_id]
        scores = {stories._ids[k]: score for k, score in clusterer.similar_stories(key, 3)}
        faint_seen += any(0 < s < RELATED_MIN_SIMILARITY for s in scores.values())
        for other in await stories.related(article):
            if other.story_id != article.story_id:
                lent_seen += 1
                assert scores.get(other.story_id, 0.0) >= RELATED_MIN_SIMILARITY
    assert faint_seen > 0, "the data should hold faintly similar stories for this test to bite"
    assert lent_seen > 0, "some small stories should still be topped up"
