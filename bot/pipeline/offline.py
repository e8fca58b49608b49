"""Offline batch helpers behind `akhbar cluster` and `akhbar summarize` (records in, records out)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.pipeline.cluster import ClusterConfig, ClusterDoc, StoryClusterer
from bot.pipeline.encoder import embedding_text
from bot.pipeline.summarise import summarise
from bot.pipeline.xlink import LinkArticle, LinkConfig, link_stories, merged_story_keys

LINKED_LANGUAGES = frozenset({"ar", "en"})
_UNDATED = datetime(1970, 1, 1)  # records undated from the start count as published together


def _published(value: Any) -> datetime | None:
    """Parse an ISO 8601 `published` field (None when missing or unreadable)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def cluster_doc(record: dict[str, Any]) -> ClusterDoc:
    """ClusterDoc from a JSONL record with id, title, text, published, lang (source, lede)."""
    published = _published(record.get("published"))
    if published is not None and published.tzinfo is not None:
        published = published.astimezone(UTC).replace(tzinfo=None)
    return ClusterDoc(
        id=record["id"],
        title=record.get("title") or "",
        text=record.get("text") or "",
        lede=record.get("lede") or "",
        lang=record.get("lang"),
        published=published,
        source=record.get("source"),
    )


def cluster_records(
    records: Iterable[dict[str, Any]], config: ClusterConfig | None = None
) -> Iterator[dict[str, Any]]:
    """Cluster records in the given order; yield {"id", "story"} per record."""
    clusterer = StoryClusterer(config)
    for record in records:
        yield {"id": record["id"], "story": clusterer.add(cluster_doc(record)).story}


def language_code(value: Any) -> str | None:
    """A record's `lang` as a bare lower-case code ("AR", "ar-SA", "ar_EG" -> "ar")."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower().replace("_", "-").split("-")[0]


def needs_linking(records: Sequence[dict[str, Any]]) -> bool:
    """Whether the records hold both Arabic and English articles (else there is nothing to link)."""
    return {language_code(record.get("lang")) for record in records} >= LINKED_LANGUAGES


def linking_texts(records: Sequence[dict[str, Any]]) -> list[str]:
    """The text each record is embedded by for linking: headline and lead."""
    return [
        embedding_text(
            record.get("title") or "", record.get("text") or "", record.get("lede") or ""
        )
        for record in records
    ]


def link_records(
    records: Sequence[dict[str, Any]],
    stories: Sequence[dict[str, Any]],
    vectors: npt.NDArray[np.float32],
    config: LinkConfig | None = None,
) -> list[dict[str, Any]]:
    """`stories` ({"id", "story"} per record) after linking Arabic and English stories of one
    event (bot.pipeline.xlink, one pass over all records): a linked pair answers under one key."""
    articles = []
    clock: datetime | None = None  # an undated record takes the latest time before it
    for record, row, vector in zip(records, stories, vectors, strict=True):
        doc = cluster_doc(record)
        published = doc.published or clock or _UNDATED
        clock = published if clock is None else max(clock, published)
        articles.append(
            LinkArticle(row["id"], row["story"], language_code(doc.lang), published, vector)
        )
    merged = merged_story_keys(link_stories(articles, config))
    return [{"id": row["id"], "story": merged.get(row["story"], row["story"])} for row in stories]


def summarise_records(
    records: Iterable[dict[str, Any]],
    sentences: int | None = None,
    words: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Summarise records; yield {"id", "summary": [sentence, ...]} per record.

    A record's `budget_words` overrides `words`; a word budget is approached by whole
    sentences; without any budget, 3 sentences.
    """
    for record in records:
        budget = record.get("budget_words", words)
        text = record.get("text") or ""
        title = record.get("title") or ""
        if budget is not None:
            summary = summarise(
                title,
                text,
                record.get("lang"),
                max_sentences=sentences or 1000,
                target_words=int(budget),
            )
        else:
            summary = summarise(title, text, record.get("lang"), max_sentences=sentences or 3)
        yield {"id": record["id"], "summary": summary}
