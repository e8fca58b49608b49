"""Related headlines: lexical candidates are kept only where the story vectors agree."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.linker import Linker
from storage.db import Database
from storage.models import ArticleRow
from storage.repos.articles import ArticleRepo
from tests.bot_harness import Harness, make_harness
from tests.linker_fakes import InlineEmbedder

FLOOD = "Floods cut the desert road overnight"
FLOOD_TOO = "Heavy rain swamps farms in the south"
FOOTBALL = "Football club wins the league match in stoppage time"


def _record(n: int, title: str, source: str) -> dict[str, Any]:
    """An English ingest record."""
    return {
        "id": f"rel{n}",
        "title": title,
        "text": title + ".",
        "source": source,
        "lang": "en",
        "url": f"https://news.invalid/rel{n}",
    }


async def _story(bot: Harness, n: int) -> int:
    """The story id of record n."""
    async with bot.services.db.unit_of_work() as session:
        found = await session.scalar(
            select(ArticleRow.story_id).where(ArticleRow.url == f"https://news.invalid/rel{n}")
        )
    assert found is not None
    return int(found)


async def _related_titles(bot: Harness) -> list[str]:
    """Titles of the headlines related to the first flood report."""
    async with bot.services.db.unit_of_work() as session:
        article_id = await session.scalar(
            select(ArticleRow.id).where(ArticleRow.url == "https://news.invalid/rel1")
        )
        found = await ArticleRepo(session).get(int(article_id or 0))
    assert found is not None
    return [a.title for a in await bot.services.stories.related(found)]


async def test_semantic_floor_drops_an_unrelated_candidate(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the football and the second flood story as word-level candidates: without
    vectors both are shown; with vectors the football story falls under the floor."""
    async with make_harness(db) as bot:
        await bot.add_articles(
            [_record(1, FLOOD, "A"), _record(2, FOOTBALL, "B"), _record(3, FLOOD_TOO, "C")]
        )
        candidates = [await _story(bot, 2), await _story(bot, 3)]
        assert len({await _story(bot, 1), *candidates}) == 3
        monkeypatch.setattr(bot.services.stories, "_lexical_candidates", lambda _: candidates)
        lexical = await _related_titles(bot)
        await Linker(db, InlineEmbedder(), clock=bot.clock).run_until_idle()
        semantic = await _related_titles(bot)
    assert FOOTBALL in lexical and FLOOD_TOO in lexical
    assert FOOTBALL not in semantic and FLOOD_TOO in semantic
