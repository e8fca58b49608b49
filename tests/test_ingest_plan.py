"""The pure ingest decider: duplicates, updates and new articles of a batch, in order."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import Article
from bot.pipeline.ingest_plan import plan_batch


@dataclass(frozen=True)
class Fields:
    """The identity-relevant fields of an article to store."""

    url: str
    guid: str | None = None
    source_id: int | None = 1
    content_hash: str | None = "h1"
    duplicate_of: int | None = None
    title: str = "t"


def stored(article_id: int, url: str, **kw: object) -> Article:
    """A stored article."""
    values: dict[str, object] = {"source_id": 1, "content_hash": "h1", **kw}
    return Article(article_id, values.pop("source_id"), url, "t", **values)  # type: ignore[arg-type]


def test_unchanged_foreign_and_kept_copies_are_duplicates() -> None:
    """Same content, another source's article, or a copy to keep: skipped."""
    found = [stored(10, "u1"), stored(11, "u2", source_id=2), stored(12, "u3")]
    batch = [
        (Fields("u1"), False),
        (Fields("u2", content_hash="new"), False),
        (Fields("u3", content_hash="new"), True),
    ]
    plan = plan_batch(batch, found)
    assert (plan.duplicate, plan.updated, plan.updates, plan.new) == (3, 0, {}, [])


def test_changed_content_updates_the_stored_article() -> None:
    """Found by guid under a new URL: the stored URL and duplicate link stay."""
    found = [stored(10, "old-url", guid="g1", duplicate_of=7)]
    plan = plan_batch([(Fields("new-url", guid="g1", content_hash="h2"), False)], found)
    assert plan.updated == 1 and not plan.new
    assert plan.updates == {10: Fields("old-url", "g1", 1, "h2", duplicate_of=7)}


def test_a_batch_sees_its_own_articles() -> None:
    """An item repeated in one batch: inserted once, then updated in place (the insert
    carries the last content), then a duplicate; a guid change moves the lookup."""
    batch = [
        (Fields("a", guid="g1"), False),
        (Fields("a", guid="g2", content_hash="h2"), False),
        (Fields("b", guid="g2", content_hash="h2"), False),
        (Fields("c", guid="g1", content_hash="h9"), False),
        (Fields("a", content_hash="h2"), False),
    ]
    plan = plan_batch(batch, [None] * len(batch))
    assert [(n.first.url, n.final.content_hash, n.final.guid) for n in plan.new] == [
        ("a", "h2", "g2"),
        ("c", "h9", "g1"),
    ]
    assert (plan.duplicate, plan.updated, plan.updates) == (2, 1, {})
