"""The story-assignment step of ingest: new articles join stories, in slices that yield."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Final

from bot.domain import Article, ArticleDraft
from bot.stories import StoryService
from storage.repos.stories import StoryRepo

CLUSTER_SLICE: Final = 16  # articles clustered between two yields to the event loop
CLUSTER_LEDE_CHARS: Final = 20_000  # a lede longer than this is read only this far


def cluster_view(article_id: int, draft: ArticleDraft, duplicate_of: int | None) -> Article:
    """The article the clusterer reads: its leading sentences, not a megabyte of text."""
    text = draft.text if draft.cluster_text is None else draft.cluster_text
    return Article(
        id=article_id,
        source_id=draft.source_id,
        url=draft.url,
        title=draft.title,
        lede=draft.lede[:CLUSTER_LEDE_CHARS],
        text=text,
        lang=draft.lang,
        guid=draft.guid,
        published_at=draft.published_at,
        fetched_at=draft.fetched_at,
        content_hash=draft.content_hash,
        fingerprint=draft.fingerprint,
        duplicate_of=duplicate_of,
        image_caption=draft.image_caption,
        image_url=draft.image_url,
        summary=tuple(draft.summary),
    )


async def assign_stories(
    stories: StoryService,
    repo: StoryRepo,
    articles: Sequence[Article],
    slice_size: int = CLUSTER_SLICE,
) -> list[int]:
    """Story ids of articles in order, clustered `slice_size` at a time with a yield between
    (the same ids as one call: new stories are created in order of first appearance)."""
    story_ids: list[int] = []
    for start in range(0, len(articles), max(1, slice_size)):
        if start:
            await asyncio.sleep(0)
        story_ids.extend(await stories.assign_many(repo, articles[start : start + slice_size]))
    return story_ids
