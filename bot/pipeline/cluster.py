"""Online story clustering: each arriving article joins an active story or starts one.

Articles are turned into sparse TF-IDF vectors of their matching terms (headline and
lede weighted up, IDF streamed from the articles seen so far). A candidate story is
scored against its recent articles *and* its centroid, so a story cannot chain away
from what it is about; the bar rises with the time since the story's last article,
and a story quiet for `window_days` closes and its state is evicted (bounded memory).
A near-duplicate of a recent article (same headline terms, near-identical text) joins
that article's story directly. Story state exports to plain JSON-able dicts.
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.pipeline.text import matching_terms, term_of

# A capitalised word inside a sentence (not sentence-initial): likely a name or place.
_ENTITY = re.compile(r"(?<=[a-z0-9,;:] )[A-Z][A-Za-z'\-]+(?: [A-Z][A-Za-z'\-]+)*")

Vector = dict[str, float]


@dataclass(frozen=True, slots=True)
class ClusterDoc:
    """An article as the clusterer sees it."""

    id: str | int
    title: str
    text: str = ""
    lede: str = ""
    lang: str | None = None
    published: datetime | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where one article went."""

    doc_id: str | int
    story: int
    is_new: bool
    similarity: float
    duplicate_of: str | int | None = None


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Tunable settings of the clusterer."""

    threshold: float = 0.15  # combined similarity needed to join a story
    gap_penalty: float = 0.04  # the bar rises with log(1 + days since the story's last article)
    centroid_weight: float = 0.5  # share of centroid cosine in the combined similarity
    min_centroid: float = 0.15  # the centroid must agree at least this much (anti-chaining)
    window_days: float = 30.0  # a story quiet this long closes
    title_weight: float = 3.0
    lede_weight: float = 2.0
    body_weight: float = 1.0
    entity_weight: float = 0.0  # extra weight of in-sentence capitalised names (English)
    body_terms: int = 400  # matching terms read from the body
    lede_terms: int = 60  # body terms that count as lede when no lede is given
    doc_terms: int = 80  # terms kept per article vector
    centroid_terms: int = 200  # terms kept in a story centroid
    recent_articles: int = 8  # articles per story compared directly
    candidates: int = 10  # stories scored per article
    vote_terms: int = 20  # heaviest article terms used to find candidate stories
    near_duplicate: float = 0.9  # cosine for the near-duplicate shortcut
    near_duplicate_title: float = 0.6  # headline-term Jaccard for the shortcut
    max_vocabulary: int = 400_000  # document-frequency table size before pruning


@dataclass(slots=True)
class _Recent:
    """A recent article of a story."""

    id: str | int
    title: str
    vector: Vector
    title_terms: frozenset[str]
    published: datetime


@dataclass(slots=True)
class _Story:
    """State of one active story."""

    key: int
    first_seen: datetime
    last_seen: datetime
    count: int = 0
    sources: set[str] = field(default_factory=set)
    languages: set[str] = field(default_factory=set)
    centroid: Vector = field(default_factory=dict)
    recent: deque[_Recent] = field(default_factory=deque)
    label: str = ""
    label_score: float = -1.0


def _cosine(a: Vector, b: Vector) -> float:
    """Dot product of two unit-normalised sparse vectors."""
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b[t] for t, w in a.items() if t in b)


def _normalise(vec: dict[str, float], keep: int) -> Vector:
    """Keep the `keep` heaviest terms and scale to unit length."""
    if len(vec) > keep:
        vec = dict(heapq.nlargest(keep, vec.items(), key=lambda kv: kv[1]))
    norm = math.sqrt(sum(w * w for w in vec.values()))
    if not norm:
        return {}
    return {t: w / norm for t, w in vec.items()}


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard overlap of two term sets."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _iso(value: datetime) -> str:
    """ISO text of a datetime."""
    return value.isoformat()


class StoryClusterer:
    """Online clusterer of an article stream into stories with stable integer keys."""

    def __init__(
        self,
        config: ClusterConfig | None = None,
        key_factory: Callable[[], int] | None = None,
    ) -> None:
        """Create an empty clusterer; `key_factory` issues new story keys (default 1, 2, ...)."""
        self.config = config or ClusterConfig()
        self._counter = itertools.count(1)
        self._key_factory = key_factory or (lambda: next(self._counter))
        self._stories: dict[int, _Story] = {}
        self._index: dict[str, set[int]] = {}
        self._df: Counter[str] = Counter()
        self._n_docs = 0
        self._clock: datetime | None = None
        self._last_sweep: datetime | None = None
        self.closed: list[int] = []

    # ------------------------------------------------------------------ public API
    @property
    def active_keys(self) -> list[int]:
        """Keys of the stories currently held in memory."""
        return list(self._stories)

    def add(self, doc: ClusterDoc) -> Assignment:
        """Assign one article to an existing story or a new one, immediately."""
        cfg = self.config
        now = doc.published or self._clock or datetime(1970, 1, 1)
        if self._clock is None or now > self._clock:
            self._clock = now
        self._evict(self._clock)
        title_terms, weighted = self._weighted_terms(doc)
        self._n_docs += 1
        self._df.update(weighted.keys())
        vector = self._vectorise(weighted)
        title_set = frozenset(title_terms)
        best_key, best_sim, duplicate_of = self._best_story(vector, title_set, now)
        is_new = best_key is None
        if best_key is None:
            key = self._key_factory()
            story = _Story(key=key, first_seen=now, last_seen=now)
            self._stories[key] = story
            best_sim = 0.0
        else:
            key = best_key
            story = self._stories[key]
        self._join(story, doc, vector, title_set, now)
        if len(self._df) > cfg.max_vocabulary:
            self._prune_vocabulary()
        return Assignment(doc.id, key, is_new, best_sim, duplicate_of)

    def story_info(self, key: int) -> dict[str, Any]:
        """Summary of an active story: label, counts, sources, languages, first/last seen."""
        story = self._stories[key]
        return {
            "key": story.key,
            "label": story.label,
            "article_count": story.count,
            "sources": sorted(story.sources),
            "languages": sorted(story.languages),
            "first_seen": story.first_seen,
            "last_seen": story.last_seen,
        }

    def similar_stories(self, key: int, limit: int = 3) -> list[tuple[int, float]]:
        """Active stories most similar to story `key` by centroid cosine, best first."""
        story = self._stories[key]
        scores: dict[int, float] = {}
        for term, weight in story.centroid.items():
            for other in self._index.get(term, ()):
                if other != key:
                    gain = weight * self._stories[other].centroid.get(term, 0.0)
                    scores[other] = scores.get(other, 0.0) + gain
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])[:limit]
        return [(k, s) for k, s in ranked if s > 0]

    def export_story(self, key: int) -> dict[str, Any]:
        """State of an active story as a JSON-able dict."""
        s = self._stories[key]
        return {
            "key": s.key,
            "label": s.label,
            "label_score": s.label_score,
            "count": s.count,
            "sources": sorted(s.sources),
            "languages": sorted(s.languages),
            "first_seen": _iso(s.first_seen),
            "last_seen": _iso(s.last_seen),
            "centroid": dict(s.centroid),
            "recent": [
                {
                    "id": r.id,
                    "title": r.title,
                    "vector": dict(r.vector),
                    "title_terms": sorted(r.title_terms),
                    "published": _iso(r.published),
                }
                for r in s.recent
            ],
        }

    def restore_story(self, data: dict[str, Any]) -> None:
        """Load a story exported by `export_story` (e.g. after a restart)."""
        story = _Story(
            key=int(data["key"]),
            first_seen=datetime.fromisoformat(data["first_seen"]),
            last_seen=datetime.fromisoformat(data["last_seen"]),
            count=int(data["count"]),
            sources=set(data["sources"]),
            languages=set(data["languages"]),
            centroid={str(t): float(w) for t, w in data["centroid"].items()},
            recent=deque(
                (
                    _Recent(
                        id=r["id"],
                        title=r["title"],
                        vector={str(t): float(w) for t, w in r["vector"].items()},
                        title_terms=frozenset(r["title_terms"]),
                        published=datetime.fromisoformat(r["published"]),
                    )
                    for r in data["recent"]
                ),
                maxlen=self.config.recent_articles,
            ),
            label=data["label"],
            label_score=float(data["label_score"]),
        )
        self._stories[story.key] = story
        self._reindex(story, ())
        if self._clock is None or story.last_seen > self._clock:
            self._clock = story.last_seen

    def export_vocabulary(self) -> dict[str, Any]:
        """Streaming document frequencies as a JSON-able dict."""
        return {"n_docs": self._n_docs, "df": dict(self._df)}

    def restore_vocabulary(self, data: dict[str, Any]) -> None:
        """Load document frequencies exported by `export_vocabulary`."""
        self._n_docs = int(data["n_docs"])
        self._df = Counter({str(t): int(c) for t, c in data["df"].items()})

    def close_quiet(self, now: datetime) -> list[int]:
        """Close and evict stories quiet for the window as of `now`; return their keys."""
        before = len(self.closed)
        self._sweep(now)
        return self.closed[before:]

    # ------------------------------------------------------------------ internals
    def _weighted_terms(self, doc: ClusterDoc) -> tuple[list[str], dict[str, float]]:
        """Headline terms and the weighted term frequencies of a document."""
        cfg = self.config
        title_terms = matching_terms(doc.title)
        body = matching_terms(doc.text[: cfg.body_terms * 12])[: cfg.body_terms]
        if doc.lede:
            lede = matching_terms(doc.lede)
        else:
            lede, body = body[: cfg.lede_terms], body[cfg.lede_terms :]
        tf: dict[str, float] = {}
        for terms, weight in (
            (title_terms, cfg.title_weight),
            (lede, cfg.lede_weight),
            (body, cfg.body_weight),
        ):
            for term in terms:
                tf[term] = tf.get(term, 0.0) + weight
        if cfg.entity_weight:
            for name in _ENTITY.findall(doc.title + ". " + doc.text[: cfg.body_terms * 12]):
                for part in name.lower().split():
                    term = term_of(part)
                    if term:
                        key = "@" + term
                        tf[key] = tf.get(key, 0.0) + cfg.entity_weight
        return title_terms, tf

    def _vectorise(self, tf: dict[str, float]) -> Vector:
        """Sublinear TF times streaming IDF, pruned and unit-normalised."""
        n = self._n_docs
        df = self._df
        vec = {t: (1.0 + math.log(f)) * math.log((n + 1) / (df[t] + 0.5)) for t, f in tf.items()}
        return _normalise({t: w for t, w in vec.items() if w > 0}, self.config.doc_terms)

    def _best_story(
        self, vector: Vector, title_set: frozenset[str], now: datetime
    ) -> tuple[int | None, float, str | int | None]:
        """Best matching active story (key, similarity margin, duplicate) or (None, 0, None)."""
        cfg = self.config
        votes: dict[int, float] = {}
        top = heapq.nlargest(cfg.vote_terms, vector.items(), key=lambda kv: kv[1])
        for term, weight in top:
            for key in self._index.get(term, ()):
                gain = weight * self._stories[key].centroid.get(term, 0.0)
                votes[key] = votes.get(key, 0.0) + gain
        best_key: int | None = None
        best_margin = -1.0
        best_sim = 0.0
        for key in heapq.nlargest(cfg.candidates, votes, key=votes.__getitem__):
            story = self._stories[key]
            recent_best = 0.0
            for r in story.recent:
                sim = _cosine(vector, r.vector)
                if sim >= cfg.near_duplicate and (
                    _jaccard(title_set, r.title_terms) >= cfg.near_duplicate_title
                ):
                    return key, sim, r.id
                recent_best = max(recent_best, sim)
            centroid = _cosine(vector, story.centroid)
            if centroid < cfg.min_centroid:
                continue
            combined = (1 - cfg.centroid_weight) * recent_best + cfg.centroid_weight * centroid
            gap_days = max(0.0, (now - story.last_seen).total_seconds() / 86400.0)
            margin = combined - (cfg.threshold + cfg.gap_penalty * math.log1p(gap_days))
            if margin >= 0 and margin > best_margin:
                best_key, best_margin, best_sim = key, margin, combined
        if best_key is None:
            return None, 0.0, None
        return best_key, best_sim, None

    def _join(
        self,
        story: _Story,
        doc: ClusterDoc,
        vector: Vector,
        title_set: frozenset[str],
        now: datetime,
    ) -> None:
        """Add a document to a story and update its state and the term index."""
        cfg = self.config
        old_terms = tuple(story.centroid)
        story.count += 1
        if doc.source:
            story.sources.add(doc.source)
        if doc.lang:
            story.languages.add(doc.lang)
        story.last_seen = max(story.last_seen, now)
        story.first_seen = min(story.first_seen, now)
        merged = dict(story.centroid)
        decay = story.count - 1
        for term in merged:
            merged[term] *= decay
        for term, weight in vector.items():
            merged[term] = merged.get(term, 0.0) + weight
        story.centroid = _normalise(merged, cfg.centroid_terms)
        if story.recent.maxlen != cfg.recent_articles:
            story.recent = deque(story.recent, maxlen=cfg.recent_articles)
        story.recent.append(_Recent(doc.id, doc.title, vector, title_set, now))
        self._relabel(story)
        self._reindex(story, old_terms)

    def _relabel(self, story: _Story) -> None:
        """Label = headline of the recent article closest to the centroid (ties: earliest)."""
        for r in story.recent:
            score = _cosine(r.vector, story.centroid)
            if r.title and score > story.label_score + 1e-9:
                story.label, story.label_score = r.title, score
        if not story.label and story.recent:
            story.label = story.recent[0].title

    def _reindex(self, story: _Story, old_terms: tuple[str, ...]) -> None:
        """Point the term index at the story's current centroid terms."""
        new_terms = story.centroid.keys()
        for term in old_terms:
            if term not in new_terms:
                keys = self._index.get(term)
                if keys is not None:
                    keys.discard(story.key)
                    if not keys:
                        del self._index[term]
        for term in new_terms:
            self._index.setdefault(term, set()).add(story.key)

    def _evict(self, now: datetime) -> None:
        """Sweep quiet stories at most every hour of stream time."""
        if self._last_sweep is None or now - self._last_sweep >= timedelta(hours=1):
            self._sweep(now)

    def _sweep(self, now: datetime) -> None:
        """Close stories whose last article is older than the window."""
        self._last_sweep = now
        horizon = now - timedelta(days=self.config.window_days)
        for key in [k for k, s in self._stories.items() if s.last_seen < horizon]:
            story = self._stories.pop(key)
            for term in story.centroid:
                keys = self._index.get(term)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._index[term]
            self.closed.append(key)
        if len(self.closed) > 10_000:
            del self.closed[:-10_000]

    def _prune_vocabulary(self) -> None:
        """Drop terms seen only once to bound the document-frequency table."""
        self._df = Counter({t: c for t, c in self._df.items() if c > 1})
