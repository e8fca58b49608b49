"""`akhbar demo` links its Arabic and English reports: one /topics entry, a coverage line."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from bot.demo import DemoSession
from storage.models import ArticleRow

FUEL_EN = "Energy ministry raises petrol and diesel prices by 8 percent"
FUEL_AR = "وزارة الطاقة ترفع أسعار البنزين والديزل بنسبة 8 بالمئة"


async def test_demo_shows_a_bilingual_story_with_its_coverage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fuel story is listed once in English, and its card counts the Arabic and English
    sources (the lexicon encoder in the worker process stands in for the model)."""
    monkeypatch.setenv("AKHBAR_ENCODER", "tests.linker_fakes:lexicon_encoder")
    out = io.StringIO()
    session = DemoSession(out)
    await session.start()
    try:
        await session.handle_line("/start")
        await session.handle_line("/topics")
        assert session.services is not None
        async with session.services.db.unit_of_work() as db:
            story = await db.scalar(select(ArticleRow.story_id).where(ArticleRow.title == FUEL_AR))
        await session.handle_line(f"/story {story}")
    finally:
        await session.close()
    blocks = out.getvalue().split("\n🤖\n")
    topics = next(block for block in blocks if "Trending stories" in block)
    card = blocks[-1]
    assert FUEL_EN in topics and FUEL_AR not in topics
    assert "3 sources · 1 Arabic · 2 English · first:" in card
