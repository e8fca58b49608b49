"""Tests of related-headline ranking."""

from datetime import datetime

from bot.pipeline.related import Headline, related_headlines


def _h(i: int, title: str, source: str, day: int, story: int = 1) -> Headline:
    return Headline(i, title, source, datetime(2024, 1, day), story)


def test_other_sources_first_newest_first_folded() -> None:
    art = _h(0, "Strike hits port city", "a", 1)
    story = [
        _h(1, "Strike hits the port city", "b", 3),  # near-identical: folded
        _h(2, "Dock workers stay home", "a", 5),
        _h(3, "Unions call second day", "c", 2),
        _h(4, "Ministers meet unions", "b", 4),
    ]
    out = related_headlines(art, story, limit=5)
    assert [h.id for h in out] == [4, 3, 2]


def test_top_up_from_similar() -> None:
    art = _h(0, "Strike hits port city", "a", 1)
    similar = [_h(9, "Rail strike looms", "d", 1, 2), _h(10, "Strike hits port city", "e", 1, 2)]
    out = related_headlines(art, [], similar, limit=3)
    assert [h.id for h in out] == [9]
