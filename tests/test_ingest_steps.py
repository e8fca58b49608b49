"""The ingest steps on their own: parse and normalise (pure), and running them off the loop."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

import bot.pipeline.normalise as normalise_module
from bot.domain import ArticleDraft, Source, SourceKind
from bot.fetch import Fetcher
from bot.ingest import IngestService
from bot.ingest.offloop import OffLoop
from bot.pipeline.candidates import Candidate, parse_body
from bot.pipeline.normalise import leading_sentences, normalise, normalise_many
from bot.pipeline.sentences import analyse
from bot.pipeline.storable import MAX_KEY_BYTES
from bot.settings import Settings
from bot.stories import StoryService
from storage.db import Database
from storage.models import ArticleRow

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SOURCE = Source(id=7, name="N", url="https://n.example/feed", lang="en")
FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>'
    b"<item><guid>a</guid><link>https://n.example/a</link><title>Port strike talks stall</title>"
    b"<description>Dock workers stayed out. Talks with the port authority stalled on Monday."
    b"</description></item>"
    b"<item><guid>b</guid><link>https://n.example/b</link><title>Floods close the valley road</title>"
    b"<description>Rain fell for a third day. The valley road is closed.</description></item>"
    b"</channel></rss>"
)


def hostile_text(paragraphs: int) -> str:
    """Text full of abbreviation dots, with long runs of letters without a space."""
    unit = "Prices rose for rice, flour, sugar etc. and traders said etc. etc. that more would follow. "
    return "\n\n".join(("x" * 5000 if i % 7 == 0 else "") + unit * 12 for i in range(paragraphs))


def test_normalise_returns_the_domain_draft_with_storable_keys() -> None:
    """A draft (not a storage type): NUL-free text, a bounded URL key, hash, fingerprint,
    search text and summary; a source's summary-only item is marked to keep a stored copy."""
    candidate = Candidate(
        url="https://n.example/a?" + "q" * 3000,
        title="Port strike\x00 talks stall",
        text="Dock workers stayed out for a third day. Talks with the port authority stalled. "
        "Ships waited offshore as the union met.",
        guid="id\x00-1",
        summary_only=True,
    )
    draft = normalise(candidate, SOURCE, NOW)
    assert type(draft) is ArticleDraft
    assert draft.title == "Port strike talks stall" and draft.guid == "id-1"
    assert len(draft.url.encode()) <= MAX_KEY_BYTES and draft.url.startswith("https://n.example/a?")
    assert draft.source_id == 7 and draft.lang == "en" and draft.content_hash
    assert draft.fingerprint is not None and "strike" in draft.search_text
    assert draft.summary and all(s in draft.text for s in draft.summary)
    assert draft.cluster_text is None  # the clusterer reads the (memoised) whole text
    leading = normalise(candidate, SOURCE, NOW, cluster_terms=3).cluster_text
    assert leading == "Dock workers stayed out for a third day."
    sourced = replace(SOURCE, fetch_full_pages=3)
    batch = normalise_many([(candidate, sourced), (candidate, SOURCE)], NOW)
    assert [item.keep_existing for item in batch.items] == [True, False]


def test_leading_sentences_give_the_clusterer_the_same_terms() -> None:
    """The clusterer reads its first N terms from the leading sentences exactly as from the
    whole hostile text, and the prefix is far shorter."""
    text = hostile_text(400)
    for terms in (400, 60, 1):
        prefix = leading_sentences(text, analyse(text), terms)
        assert prefix is not None and len(prefix) < len(text) // 20
        assert text.startswith(prefix)
        assert analyse(prefix).leading_terms(terms) == analyse(text).leading_terms(terms)
    short = "One sentence. Another one."
    assert leading_sentences(short, analyse(short), 400) is None


def test_parse_body_kinds() -> None:
    """A feed gives its items, a page its article, garbage a failure (nothing raised)."""
    parsed = parse_body(FEED, "https://n.example/feed", {}, NOW)
    assert parsed.kind is SourceKind.FEED and parsed.failure is None
    assert [c.url for c in parsed.candidates] == ["https://n.example/a", "https://n.example/b"]
    page = (
        b"<html><head><title>Floods</title></head><body><article><h1>Floods close roads</h1>"
        + (b"<p>Rain fell for a third day and the valley road is closed to traffic.</p>" * 8)
        + b"</article></body></html>"
    )
    parsed_page = parse_body(page, "https://n.example/floods", {"Content-Type": "text/html"}, NOW)
    assert parsed_page.kind is SourceKind.PAGE and len(parsed_page.candidates) == 1
    assert "valley road" in parsed_page.candidates[0].text
    broken = parse_body(b'<?xml version="1.0"?><rss version="2.0"><chan', "https://x/", {}, NOW)
    assert broken.failure is not None and not broken.candidates


async def test_offloop_routes_by_size_and_a_worker_process_gives_the_same_results() -> None:
    """Below `heavy_chars` work runs in a thread, from it in a worker process; both give the
    same parse and the same drafts."""
    offloop = OffLoop(heavy_chars=1000)
    assert not offloop.in_process(999) and offloop.in_process(1000)
    assert not OffLoop(heavy_chars=0, processes=0).in_process(10**9)
    here = parse_body(FEED, "https://n.example/feed", {}, NOW)
    there = await offloop.run(10**6, parse_body, FEED, "https://n.example/feed", {}, NOW)
    assert there == here
    batch = [(c, SOURCE) for c in here.candidates]
    drafts = await offloop.run(10**6, normalise_many, batch, NOW, 400)
    assert drafts == normalise_many(batch, NOW, 400)
    assert await offloop.run(10, normalise_many, batch, NOW, 400) == drafts


async def test_heavy_items_are_normalised_in_the_worker_process(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed item of `heavy_chars` or more is normalised in the worker process (this
    process's summariser never sees it), the others in a thread here; all are stored with
    their stories."""
    seen: list[str] = []
    real = normalise_module.summarise

    def summarise(title: str, body: str, *args: Any, **kwargs: Any) -> list[str]:
        seen.append(title)
        return real(title, body, *args, **kwargs)

    monkeypatch.setattr(normalise_module, "summarise", summarise)
    long_text = " ".join(f"Sentence {i} about the harbour strike talks." for i in range(200))
    items = [("Harbour strike talks resume", long_text), ("Floods close the valley road", "")]
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>'
        + "".join(
            f"<item><guid>g{i}</guid><link>https://n.example/{i}</link><title>{title}</title>"
            f"<description>{text or 'Rain fell for a third day. The road is shut.'}</description>"
            "</item>"
            for i, (title, text) in enumerate(items)
        )
        + "</channel></rss>"
    ).encode()
    stories = StoryService(db, now=lambda: NOW)
    await stories.load()
    async with Fetcher(allow_private=True) as fetcher:
        service = IngestService(
            db, fetcher, stories, Settings(), clock=lambda: NOW, heavy_chars=len(long_text)
        )
        report = await service.ingest_bytes(feed, "https://n.example/feed.xml")
    assert (report.new, report.failed) == (2, 0), report.errors
    assert seen == ["Floods close the valley road"]
    async with db.unit_of_work() as session:
        rows = list(await session.scalars(select(ArticleRow).order_by(ArticleRow.id)))
    assert [r.title for r in rows] == [title for title, _text in items]
    assert all(r.story_id is not None and r.summary for r in rows)
