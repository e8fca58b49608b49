"""Online story clustering: each arriving article joins an active story or starts one.

Articles are turned into sparse TF-IDF vectors of their matching terms (headline and
lede weighted up, IDF streamed from the articles seen so far, as if `idf_prior_docs`
articles without those terms had come first, so that at the start of a stream the words
two reports share do not count as common). A candidate story is
scored against its recent articles *and* its centroid, so a story cannot chain away
from what it is about; the bar rises with the time since the story's last article, and
after `evidence_days` of quiet an article must also share rare terms (names, places,
numbers seen in few articles) with the story. At any gap an article joins only if it
shares `min_story_terms` of the story's distinctive terms (terms the story took while they
were rare and that have not spread much beyond it), so two reports worded alike about
different people and places ("prosecutors seek death penalty" in New York and at LAX)
stay apart. Candidates come from an inverted index of
each story's heaviest centroid terms and rare terms; very common terms do not vote.
Memory is bounded by `max_active` (the least recently joined story closes first) and a
story quiet for `window_days` closes. A near-duplicate of a recent article (same headline terms, near-identical text) joins
that article's story directly. Story state exports to plain JSON-able dicts.

Optionally (off by default) an article may carry a unit sentence-encoder vector: a story
then keeps the sum of its articles' vectors, and a candidate story can be gated
(`encoder_gate`) or scored (`encoder_weight`, `encoder_offset`) by the article's cosine to
that mean direction. Articles or stories without vectors are scored on terms alone. The
sum is not exported (a restored story is scored on terms until an article with a vector
joins it).

Optionally (off by default, `learned_merge`) a candidate is scored by a learned merge
probability instead: a logistic regression over the pair's MERGE_FEATURES, fitted on the
gva dev events by tools/train_merge_scorer.py (weights in merge_weights.py); the story
is joined at probability >= `merge_probability`, and the encoder blend does not apply.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import repeat
from operator import add, itemgetter, mul, sub
from typing import Any

from bot.pipeline.merge_weights import WEIGHTS as MERGE_WEIGHTS
from bot.pipeline.sentences import analyse
from bot.pipeline.text import headline_terms, matching_terms, term_of

# A capitalised word inside a sentence (not sentence-initial): likely a name or place.
_ENTITY = re.compile(r"(?<=[a-z0-9,;:] )[A-Z][A-Za-z'\-]+(?: [A-Z][A-Za-z'\-]+)*")

# " - ", " | ", " – ", " — " between a headline and a site's name ("... - WALB.com, South
# Georgia News"); a colon is left alone (headlines use it: "Floods: rescue teams ...").
_TITLE_SEPARATOR = re.compile(r"\s+[-|\u2013\u2014]\s+")

Vector = dict[str, float]
_weight = itemgetter(1)
_SWEEP_EVERY = timedelta(hours=1)


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
    vector: Sequence[float] | None = None  # unit sentence-encoder vector (optional)


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
    window_days: float = 365.0  # a story quiet this long closes
    evidence_days: float = 30.0  # a longer gap needs shared rare terms (names, places, numbers)
    min_shared_rare: int = 2  # rare terms an article must share with a story after a long gap
    min_story_terms: int = 2  # distinctive story terms an article must share to join (0: off)
    rare_df: int = 3  # a term seen in at most max(rare_df, rare_fraction * n) articles is rare
    rare_fraction: float = 0.002
    story_rare_terms: int = 60  # rare terms remembered per story
    max_active: int = 20_000  # stories held in memory; the quietest beyond this close (LRU)
    title_weight: float = 3.0
    lede_weight: float = 2.0
    body_weight: float = 1.0
    entity_weight: float = 0.0  # extra weight of in-sentence capitalised names (English)
    body_terms: int = 400  # matching terms read from the body
    lede_terms: int = 60  # body terms that count as lede when no lede is given
    doc_terms: int = 80  # terms kept per article vector
    centroid_terms: int = 100  # terms kept in a story centroid
    index_terms: int = 20  # heaviest centroid terms through which a story can be found
    recent_articles: int = 5  # articles per story compared directly
    candidates: int = 5  # stories scored per article
    rare_candidates: int = 0  # extra stories scored: those sharing most rare terms (0: off)
    vote_terms: int = 20  # heaviest article terms used to find candidate stories
    vote_max_df: float = 0.05  # terms in more than this share of articles do not vote
    near_duplicate: float = 0.9  # cosine for the near-duplicate shortcut
    near_duplicate_title: float = 0.6  # headline-term Jaccard for the shortcut
    max_vocabulary: int = 400_000  # document-frequency table size before pruning
    idf_prior_docs: float = 2.0  # documents assumed seen before the stream (cold-start IDF)
    # Encoder signal, used only where the article and the story both have vectors:
    encoder_gate: float = -1.0  # a story is a candidate only at this cosine or more (-1: off)
    encoder_weight: float = 0.0  # similarity += weight * (cosine - offset) (0: off)
    encoder_offset: float = 0.0
    # Learned merge scorer (see MERGE_FEATURES): logistic weights, one per feature and a
    # bias last; a story is joined at probability >= merge_probability. Empty: the
    # hand-weighted combined similarity against `threshold` (and `gap_penalty`).
    merge_weights: tuple[float, ...] = ()
    merge_probability: float = 0.5


# Features of an (article, story) pair for the learned merge scorer, in weight order.
MERGE_FEATURES: tuple[str, ...] = (
    "recent_cosine",  # best cosine with the story's recent articles
    "centroid_cosine",  # cosine with the story's centroid
    "title_jaccard",  # best headline-term Jaccard with the story's recent articles
    "shared_rare",  # log(1 + rare terms shared with the story): names, places, numbers
    "rare_share",  # share of the article's rare terms the story has
    "title_rare",  # log(1 + headline terms among the story's rare terms)
    "shared_numbers",  # log(1 + numbers among the article's terms in the story's centroid)
    "log_gap_days",  # log(1 + days since the story's last article)
    "rare_after_gap",  # shared_rare * log_gap_days: a late report needs shared names
    "log_story_size",  # log of the story's article count
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One scored (article, story) pair: the story key, the score and its features."""

    key: int
    combined: float  # the hand-weighted combined similarity
    gap_days: float  # days since the story's last article
    features: tuple[float, ...]  # MERGE_FEATURES values (empty unless asked for)
    duplicate_of: str | int | None = None  # a near-duplicate recent article of the story


def learned_merge(config: ClusterConfig | None = None) -> ClusterConfig:
    """`config` with the learned merge scorer on: merge_weights.py's weights, no centroid floor
    and no shared-terms gate (the scorer weighs the centroid cosine and the shared rare terms
    itself), as tools/train_merge_scorer.py fits them."""
    return replace(
        config or ClusterConfig(), merge_weights=MERGE_WEIGHTS, min_centroid=0.0, min_story_terms=0
    )


def merge_probability(weights: Sequence[float], features: Sequence[float]) -> float:
    """Logistic merge probability of a pair: weights per feature, bias last."""
    z = weights[-1] + sum(map(mul, weights, features))
    if z < -60.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


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
    rare: dict[str, None] = field(default_factory=dict)
    label: str = ""
    label_score: float = -1.0
    label_id: str | int | None = None
    embedding: list[float] | None = None  # sum of its articles' encoder vectors


def _cosine(a: Vector, b: Vector) -> float:
    """Dot product of two unit-normalised sparse vectors (shared terms and products in C)."""
    shared = a.keys() & b.keys()
    dot: float = sum(map(mul, map(a.__getitem__, shared), map(b.__getitem__, shared)))
    return dot


def _encoder_cosine(vector: Sequence[float], total: Sequence[float]) -> float:
    """Cosine of a unit vector with the direction of a sum of vectors (0 when the sum is 0)."""
    norm = math.sqrt(sum(map(mul, total, total)))
    dot: float = sum(map(mul, vector, total))
    return dot / norm if norm else 0.0


def _normalise(vec: dict[str, float], keep: int) -> Vector:
    """Keep the `keep` heaviest terms, heaviest first, and scale to unit length."""
    # Heaviest first (a stable sort, so ties keep their order): the first k terms of a
    # vector are then its k heaviest, as heapq.nlargest would pick them. Sorting the terms
    # by weight, not (term, weight) pairs, builds no pairs.
    terms = sorted(vec, key=vec.__getitem__, reverse=True)[:keep]
    weights = list(map(vec.__getitem__, terms))
    norm = math.sqrt(sum(map(mul, weights, weights)))
    if not norm:
        return {}
    return dict(zip(terms, map(mul, weights, repeat(1.0 / norm)), strict=True))


def _add_scaled(target: dict[str, float], extra: Mapping[str, float], scale: float) -> None:
    """target[t] += scale * extra[t] for every term of extra (new terms appended in order)."""
    get = target.get
    if scale != 1.0:
        extra = dict(zip(extra, map(mul, extra.values(), repeat(scale)), strict=True))
    target.update(zip(extra, map(add, map(get, extra, repeat(0.0)), extra.values()), strict=True))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard overlap of two term sets."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def headline_core(title: str) -> str:
    """The headline without a site name around it: its longest " - "/" | " segment (in words).

    Sites add their names and taglines to headlines; shared by all of a site's articles,
    those words made look-alike reports of different events seem to be one story.
    """
    parts = _TITLE_SEPARATOR.split(title)
    if len(parts) < 2:
        return title
    return max(parts, key=lambda part: len(part.split()))


def _pair_features(
    vector: Vector,
    rare: tuple[str, ...],
    title_set: frozenset[str],
    story: _Story,
    recent_best: float,
    centroid: float,
    gap_days: float,
) -> tuple[float, ...]:
    """MERGE_FEATURES of an article (vector, rare terms, headline terms) and a story."""
    shared = len(story.rare.keys() & rare)
    title_jaccard = max((_jaccard(title_set, r.title_terms) for r in story.recent), default=0.0)
    numbers = sum(1 for t in vector if t.isdigit() and t in story.centroid)
    return (
        recent_best,
        centroid,
        title_jaccard,
        math.log1p(shared),
        shared / len(rare) if rare else 0.0,
        math.log1p(len(title_set & story.rare.keys())),
        math.log1p(numbers),
        math.log1p(gap_days),
        math.log1p(shared) * math.log1p(gap_days),
        math.log(max(story.count, 1)),
    )


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
        # Active stories, least recently joined first (the LRU order for the size cap).
        self._stories: OrderedDict[int, _Story] = OrderedDict()
        self._index: dict[str, set[int]] = {}
        self._indexed: dict[int, set[str]] = {}
        self._df: Counter[str] = Counter()
        self._n_docs = 0
        self._log_df: list[float] = []  # log(df + 0.5) by document frequency
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
        rare = self._rare_terms(vector)
        title_set = frozenset(title_terms)
        best_key, best_sim, duplicate_of = self._best_story(
            vector, rare, title_set, now, doc.vector
        )
        is_new = best_key is None
        if best_key is None:
            key = self._key_factory()
            story = _Story(key=key, first_seen=now, last_seen=now)
            self._stories[key] = story
            best_sim = 0.0
        else:
            key = best_key
            story = self._stories[key]
            self._stories.move_to_end(key)
        self._join(story, doc, vector, rare, title_set, now)
        if len(self._stories) > cfg.max_active:
            self._close(next(iter(self._stories)))
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
        others: set[int] = set()
        for term in self._indexed.get(key, ()):
            others.update(self._index.get(term, ()))
        others.discard(key)
        scores = [(k, _cosine(story.centroid, self._stories[k].centroid)) for k in others]
        ranked = sorted(scores, key=lambda kv: (-kv[1], kv[0]))[:limit]
        return [(k, s) for k, s in ranked if s > 0]

    def export_story(self, key: int) -> dict[str, Any]:
        """State of an active story as a JSON-able dict."""
        s = self._stories[key]
        return {
            "key": s.key,
            "label": s.label,
            "label_score": s.label_score,
            "label_id": s.label_id,
            "count": s.count,
            "sources": sorted(s.sources),
            "languages": sorted(s.languages),
            "first_seen": _iso(s.first_seen),
            "last_seen": _iso(s.last_seen),
            "centroid": dict(s.centroid),
            "rare": list(s.rare),
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
            centroid=dict(
                sorted(
                    ((str(t), float(w)) for t, w in data["centroid"].items()),
                    key=_weight,
                    reverse=True,
                )
            ),
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
            rare=dict.fromkeys(str(t) for t in data.get("rare", ())),
            label=data["label"],
            label_score=float(data["label_score"]),
            label_id=data.get("label_id"),
        )
        if story.key in self._stories:
            self._close(story.key, record=False)
        self._stories[story.key] = story
        self._reindex(story)
        if self._clock is None or story.last_seen > self._clock:
            self._clock = story.last_seen
        if len(self._stories) > self.config.max_active:
            quietest = min(self._stories.values(), key=lambda s: s.last_seen)
            self._close(quietest.key)

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
        title_terms = list(headline_terms(headline_core(doc.title)))
        body = analyse(doc.text).leading_terms(cfg.body_terms) if doc.text else []
        if doc.lede:
            lede = matching_terms(doc.lede)
        else:
            lede, body = body[: cfg.lede_terms], body[cfg.lede_terms :]
        counts = Counter(body)  # counted in C
        tf = dict(zip(counts, map(mul, counts.values(), repeat(cfg.body_weight)), strict=True))
        for terms, weight in ((title_terms, cfg.title_weight), (lede, cfg.lede_weight)):
            if terms:
                _add_scaled(tf, Counter(terms), weight)
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
        log_n = math.log(self._n_docs + 1 + self.config.idf_prior_docs)
        counts = list(map(self._df.__getitem__, tf))
        log_df = self._log_df
        top = max(counts, default=0)
        if top >= len(log_df):
            log_df.extend(math.log(i + 0.5) for i in range(len(log_df), 2 * top + 16))
        idf = list(map(sub, repeat(log_n), map(log_df.__getitem__, counts)))
        sublinear = map(add, repeat(1.0), map(math.log, tf.values()))
        if min(idf, default=1.0) > 0:  # the usual case: every term is in at most n articles
            vec = dict(zip(tf, map(mul, sublinear, idf), strict=True))
        else:
            vec = {t: s * w for t, s, w in zip(tf, sublinear, idf, strict=True) if w > 0}
        return _normalise(vec, self.config.doc_terms)

    def _rare_terms(self, vector: Vector) -> tuple[str, ...]:
        """Terms of the article vector seen in few articles so far (names, places, numbers),
        heaviest first: in a fixed order, so which ones a story keeps never depends on
        string hashing (`PYTHONHASHSEED`)."""
        cfg = self.config
        limit = max(cfg.rare_df, cfg.rare_fraction * self._n_docs)
        df = self._df
        return tuple([t for t in vector if df[t] <= limit])

    def _best_story(
        self,
        vector: Vector,
        rare: tuple[str, ...],
        title_set: frozenset[str],
        now: datetime,
        embedding: Sequence[float] | None = None,
    ) -> tuple[int | None, float, str | int | None]:
        """Best matching active story (key, similarity, duplicate) or (None, 0, None)."""
        cfg = self.config
        learned = bool(cfg.merge_weights)
        best_key: int | None = None
        best_margin = -1.0
        best_sim = 0.0
        for cand in self._candidates(vector, rare, title_set, now, embedding, learned):
            if cand.duplicate_of is not None:
                return cand.key, cand.combined, cand.duplicate_of
            if learned:
                score = merge_probability(cfg.merge_weights, cand.features)
                margin = score - cfg.merge_probability
            else:
                score = cand.combined
                margin = score - (cfg.threshold + cfg.gap_penalty * math.log1p(cand.gap_days))
            if margin >= 0 and margin > best_margin and self._shares_story_terms(vector, cand.key):
                best_key, best_margin, best_sim = cand.key, margin, score
        if best_key is None:
            return None, 0.0, None
        return best_key, best_sim, None

    def _shares_story_terms(self, vector: Vector, key: int) -> bool:
        """Whether the article has `min_story_terms` of the story's distinctive terms: terms the
        story took while they were rare, still in at most the rare limit plus the story's size
        articles (an event's names stay its own while its coverage grows)."""
        cfg = self.config
        if not cfg.min_story_terms:
            return True
        story = self._stories[key]
        limit = max(cfg.rare_df, cfg.rare_fraction * self._n_docs) + story.count
        df = self._df
        shared = [term for term in story.rare.keys() & vector.keys() if df[term] <= limit]
        return len(shared) >= cfg.min_story_terms

    def _candidate_keys(self, vector: Vector, rare: tuple[str, ...]) -> list[int]:
        """Stories to score: the `candidates` most voted for by the article's heaviest terms,
        then up to `rare_candidates` more that share the most rare terms with it."""
        cfg = self.config
        votes: dict[int, float] = {}
        get = votes.get
        max_df = max(cfg.rare_df, cfg.vote_max_df * self._n_docs)
        df = self._df
        # The vector is heaviest first (see _normalise): its first terms are the heaviest.
        for term, weight in itertools.islice(vector.items(), cfg.vote_terms):
            keys = self._index.get(term)
            if keys and df[term] <= max_df:
                for key in keys:
                    votes[key] = get(key, 0.0) + weight
        chosen = sorted(votes, key=votes.__getitem__, reverse=True)[: cfg.candidates]
        if cfg.rare_candidates and rare:
            shared: Counter[int] = Counter()
            for term in rare:
                shared.update(self._index.get(term, ()))
            taken = set(chosen)
            extra = [k for k, n in shared.items() if n >= cfg.min_shared_rare and k not in taken]
            extra.sort(key=lambda k: (-shared[k], -k))
            chosen.extend(extra[: cfg.rare_candidates])
        return chosen

    def _candidates(
        self,
        vector: Vector,
        rare: tuple[str, ...],
        title_set: frozenset[str],
        now: datetime,
        embedding: Sequence[float] | None,
        features: bool,
    ) -> Iterator[Candidate]:
        """Candidate stories that pass the gates, scored; a near-duplicate ends the list."""
        cfg = self.config
        if cfg.encoder_gate <= -1.0 and not cfg.encoder_weight:
            embedding = None  # the encoder signal is off
        for key in self._candidate_keys(vector, rare):
            story = self._stories[key]
            centroid = _cosine(vector, story.centroid)
            if centroid < cfg.min_centroid:
                continue
            encoded: float | None = None
            if embedding is not None and story.embedding is not None:
                encoded = _encoder_cosine(embedding, story.embedding)
                if encoded < cfg.encoder_gate:
                    continue
            recent_best = 0.0
            for r in story.recent:
                sim = _cosine(vector, r.vector)
                if sim >= cfg.near_duplicate and (
                    _jaccard(title_set, r.title_terms) >= cfg.near_duplicate_title
                ):
                    yield Candidate(key, sim, 0.0, (), r.id)
                    return
                if sim > recent_best:
                    recent_best = sim
            gap_days = max(0.0, (now - story.last_seen).total_seconds() / 86400.0)
            if gap_days > cfg.evidence_days and len(story.rare.keys() & rare) < cfg.min_shared_rare:
                continue
            combined = (1 - cfg.centroid_weight) * recent_best + cfg.centroid_weight * centroid
            if encoded is not None and cfg.encoder_weight:
                combined += cfg.encoder_weight * (encoded - cfg.encoder_offset)
            values: tuple[float, ...] = ()
            if features:
                values = _pair_features(
                    vector, rare, title_set, story, recent_best, centroid, gap_days
                )
            yield Candidate(key, combined, gap_days, values)

    def _join(
        self,
        story: _Story,
        doc: ClusterDoc,
        vector: Vector,
        rare: tuple[str, ...],
        title_set: frozenset[str],
        now: datetime,
    ) -> None:
        """Add a document to a story and update its state and the term index."""
        cfg = self.config
        story.count += 1
        if doc.source:
            story.sources.add(doc.source)
        if doc.lang:
            story.languages.add(doc.lang)
        story.last_seen = max(story.last_seen, now)
        story.first_seen = min(story.first_seen, now)
        if doc.vector is not None:
            if story.embedding is None:
                story.embedding = list(doc.vector)
            else:
                story.embedding = list(map(add, story.embedding, doc.vector))
        centroid = story.centroid
        if story.count == 1 and len(vector) <= cfg.centroid_terms:
            # A new story: its centroid is the article's (unit, heaviest-first) vector.
            story.centroid = dict(vector)
        else:
            merged = dict(
                zip(centroid, map(mul, centroid.values(), repeat(story.count - 1)), strict=True)
            )
            _add_scaled(merged, vector, 1.0)
            story.centroid = _normalise(merged, cfg.centroid_terms)
        if story.recent.maxlen != cfg.recent_articles:
            story.recent = deque(story.recent, maxlen=cfg.recent_articles)
        newest = _Recent(doc.id, doc.title, vector, title_set, now)
        story.recent.append(newest)
        for term in rare:
            story.rare.pop(term, None)
            story.rare[term] = None
        while len(story.rare) > cfg.story_rare_terms:
            del story.rare[next(iter(story.rare))]
        self._relabel(story, newest)
        self._reindex(story)

    def _relabel(self, story: _Story, newest: _Recent) -> None:
        """Label = headline closest to the current centroid: the newest article's or the old one."""
        centroid = story.centroid
        current = next((r for r in story.recent if r.id == story.label_id), None)
        story.label_score = _cosine(current.vector, centroid) if current else -1.0
        score = _cosine(newest.vector, centroid)
        if newest.title and (score > story.label_score + 1e-9 or not story.label):
            story.label, story.label_score, story.label_id = newest.title, score, newest.id

    def _reindex(self, story: _Story) -> None:
        """Point the term index at the story's heaviest centroid terms and its rare terms."""
        centroid = story.centroid
        key = story.key
        # The centroid is heaviest first (see _normalise and restore_story).
        new_terms = set(itertools.islice(centroid, self.config.index_terms))
        new_terms.update(story.rare.keys() - centroid.keys())
        old_terms = self._indexed.get(key) or set()
        for term in old_terms - new_terms:
            self._unindex(term, key)
        index = self._index
        for term in new_terms - old_terms:
            keys = index.get(term)
            if keys is None:
                index[term] = {key}
            else:
                keys.add(key)
        self._indexed[key] = new_terms

    def _unindex(self, term: str, key: int) -> None:
        """Remove one story from one term's postings."""
        keys = self._index.get(term)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._index[term]

    def _close(self, key: int, record: bool = True) -> None:
        """Drop a story's state and its index entries; remember its key as closed."""
        del self._stories[key]
        for term in self._indexed.pop(key, ()):
            self._unindex(term, key)
        if record:
            self.closed.append(key)
            if len(self.closed) > 10_000:
                del self.closed[:-10_000]

    def _evict(self, now: datetime) -> None:
        """Sweep quiet stories at most every hour of stream time."""
        if self._last_sweep is None or now - self._last_sweep >= _SWEEP_EVERY:
            self._sweep(now)

    def _sweep(self, now: datetime) -> None:
        """Close stories whose last article is older than the window."""
        self._last_sweep = now
        horizon = now - timedelta(days=self.config.window_days)
        for key in [k for k, s in self._stories.items() if s.last_seen < horizon]:
            self._close(key)

    def _prune_vocabulary(self) -> None:
        """Drop terms seen only once to bound the document-frequency table."""
        self._df = Counter({t: c for t, c in self._df.items() if c > 1})
