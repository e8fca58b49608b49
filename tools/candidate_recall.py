"""Is candidate recall the lever? Where gva articles' own stories are, and what finding them buys.

Part 1 (diagnosis, shipped settings): for each article of the dev stream whose gold event
already has a story (the story holding most of the event's earlier articles), is that
story among the candidates the clusterer scores? If not, why: it has closed (quiet for
`window_days`), it got no vote (no shared index term), or it was voted for but ranked
below the top `candidates`. If it was scored: gated (centroid floor, rare-term evidence
after a long gap), below the bar, beaten by another story, or joined. Then oracles that
add the gold story to the candidates (scored by the normal rule), with and without
closing quiet stories, give the share of the pairwise-F1 loss that retrieval explains.

Part 2 (variants, cross-validated as the README protocol): each variant (ClusterConfig
overrides, as in tools/sweep_clustering.py, or an oracle) is run at every threshold of the
grid; each fold's threshold is chosen on the other four and scored on the held fold and
at ±0.05. The shipped clusterer is always measured in the same run.

    nice -n 15 .venv/bin/python tools/candidate_recall.py [variant ...]

Measured (gva dev stream, 119 articles whose event already has a story): with a one-year
close window 13 found it closed, 6 did not retrieve it and 19 scored it but were gated or
below the bar; adding the gold story to the candidates gained nothing (each added story is
then gated by the centroid floor), keeping stories open gained 0.010 held-fold pairwise F1
(window 1095 days: 0.695 against 0.685), but 730 days scores below 365 (0.679), so that
gain rests on a few very late follow-ups and the window stays 365 days. More candidates (10, 20), more voting terms (40, 80) and
rare-term retrieval (5, 10) score the same or lower. What remains is the bar for late
follow-ups: a lower gap penalty raises the held folds (0.025: 0.729) but falls off a cliff at
threshold -0.05 (0.572); 0.03 is flat (worst drop 0.023) at 0.675.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.pipeline.cluster import Candidate, ClusterConfig, StoryClusterer, Vector, _cosine  # noqa: E402
from bot.pipeline.offline import cluster_doc  # noqa: E402
from tests.datapaths import DATA_DIR  # noqa: E402
from tests.quality_eval import K_FOLDS, cluster_scores, fold_of, load_jsonl  # noqa: E402
from tools.sweep_clustering import GRID, choose, held_cells, parse_variant, train  # noqa: E402

ORACLE = "oracle"  # the gold story is always scored (when active)
ORACLE_OPEN = "oracle-open"  # ... and no story closes
ORACLE_JOIN = "oracle-join"  # every article joins its gold story, open or closed (a ceiling)
ORACLES = (ORACLE, ORACLE_OPEN, ORACLE_JOIN)

DEFAULT_VARIANTS = (
    "shipped",
    ORACLE,
    ORACLE_OPEN,
    "window_days=730",
    "window_days=1095",
    "candidates=10",
    "candidates=20",
    "vote_terms=40",
    "vote_terms=80",
    "rare_candidates=5",
    "rare_candidates=10",
    "gap_penalty=0.025",
    "gap_penalty=0.03",
)


class TracingClusterer(StoryClusterer):
    """A clusterer that knows each article's gold event and records its own story's fate."""

    def __init__(self, config: ClusterConfig, oracle: bool = False) -> None:
        """Trace (and, with `oracle`, always score) the story of each article's gold event."""
        super().__init__(config)
        self.oracle = oracle
        self.events: dict[int, Counter[str]] = {}  # gold events of each story's articles
        self.event = ""
        self.target: int | None = None  # the current article's gold story
        self.status = ""
        self.scored: list[int] = []
        self.added = ""
        self.force = False
        self.vector: Vector = {}
        self.yielded: list[Candidate] = []

    def gold_story(self, event: str) -> int | None:
        """The story holding most of the event's earlier articles (the newest on ties)."""
        held = [(c[event], key) for key, c in self.events.items() if c[event]]
        return max(held)[1] if held else None

    def _candidate_keys(self, vector: Vector, rare: tuple[str, ...]) -> list[int]:
        """The normal candidates, the gold story's retrieval status, and the oracle's addition."""
        keys = super()._candidate_keys(vector, rare)
        self.vector = vector
        target = self.target
        if target is None:
            self.status = "first report"
        elif target not in self._stories:
            self.status = "closed"
        elif target in keys:
            self.status = "candidate"
        else:
            voted = replace(self.config, candidates=10**9, rare_candidates=0)
            saved, self.config = self.config, voted
            try:
                self.status = (
                    "ranked out" if target in super()._candidate_keys(vector, rare) else "no vote"
                )
            finally:
                self.config = saved
        if self.oracle and target is not None and target in self._stories and target not in keys:
            keys = [*keys, target]
            self.added = self.status
            self.status = "candidate"
        self.scored = keys
        return keys

    def trace(self, row: dict[str, Any]) -> tuple[str, int]:
        """Cluster one article; (status of its gold story, story it joined)."""
        self.event = row["cluster_id"]
        self.target = self.gold_story(self.event)
        self.status = self.added = ""
        assignment = self.add(cluster_doc(row))
        self.events.setdefault(assignment.story, Counter())[self.event] += 1
        status = self.status or "first report"  # (a near-duplicate shortcut still traces)
        if status == "candidate":
            status = "joined" if assignment.story == self.target else self._why_not()
            if self.added:
                status = f"{self.added}, added: {status}"
        return status, assignment.story

    def _best_story(
        self,
        vector: Vector,
        rare: tuple[str, ...],
        title_set: frozenset[str],
        now: datetime,
        embedding: Sequence[float] | None = None,
    ) -> tuple[int | None, float, str | int | None]:
        """The normal choice; with `force`, the gold story whenever it is active (a ceiling)."""
        best = super()._best_story(vector, rare, title_set, now, embedding)
        if self.force and self.target in self._stories:
            self.status = "candidate"
            return self.target, 1.0, None
        return best

    def _candidates(self, *args: Any) -> Iterator[Candidate]:
        """The normal scored candidates, remembered for `_why_not`."""
        self.yielded = []
        for cand in super()._candidates(*args):
            self.yielded.append(cand)
            yield cand

    def _why_not(self) -> str:
        """Why a scored gold story was not joined: gated, below the bar, or beaten."""
        cfg = self.config
        mine = next((c for c in self.yielded if c.key == self.target), None)
        if mine is None:
            story = self._stories[self.target] if self.target is not None else None
            if story is not None and _cosine(self.vector, story.centroid) < cfg.min_centroid:
                return "gated by the centroid floor"
            return "gated: too few shared rare terms after a gap"
        if mine.combined < cfg.threshold + cfg.gap_penalty * math.log1p(mine.gap_days):
            return "below the bar"
        return "beaten"


def run(
    rows: Sequence[dict[str, Any]], config: ClusterConfig, oracle: str = ""
) -> tuple[dict[str, int], Counter[str], list[tuple[str, str]]]:
    """Story per article id, gold-story status counts, and (article id, status) per article."""
    if oracle in (ORACLE_OPEN, ORACLE_JOIN):
        config = replace(config, window_days=36500.0)
    clusterer = TracingClusterer(config, oracle=bool(oracle))
    clusterer.force = oracle == ORACLE_JOIN
    pred: dict[str, int] = {}
    statuses: list[tuple[str, str]] = []
    for row in rows:
        status, story = clusterer.trace(row)
        pred[row["id"]] = story
        statuses.append((row["id"], status))
    return pred, Counter(s for _, s in statuses), statuses


def diagnose(rows: Sequence[dict[str, Any]], gold: dict[str, str]) -> None:
    """Part 1: the fate of each article's gold story, and the oracles' scores."""
    config = ClusterConfig()
    pred, counts, statuses = run(rows, config)
    following = sum(n for s, n in counts.items() if s != "first report")
    print(
        f"articles {len(rows)}, events {len(set(gold.values()))}, with an earlier story {following}"
    )
    for status, n in counts.most_common():
        if status == "first report":
            print(f"  {status:<20} {n:4d}")
            continue
        print(f"  {status:<20} {n:4d}  ({n / following:.1%} of those with an earlier story)")
    gap = _gap_days(rows, statuses)
    for status in sorted({s for _, s in statuses} - {"first report", "joined"}):
        days = sorted(gap[i] for i, s in statuses if s == status)
        if days:
            print(
                f"  {status}: days since the event's previous report, median {statistics.median(days):.0f}, "
                f"quartiles {days[len(days) // 4]:.0f}-{days[3 * len(days) // 4]:.0f}"
            )
    base = cluster_scores(gold, pred)
    print(
        f"shipped, whole stream at t={config.threshold}: pairwise / B-cubed F1 "
        f"{base[0]:.3f} / {base[1]:.3f}; {_pr(gold, pred)}"
    )
    for oracle in ORACLES:
        opred, ocounts, _ = run(rows, config, oracle)
        score = cluster_scores(gold, opred)
        share = (score[0] - base[0]) / (1 - base[0])
        print(
            f"{oracle}: {score[0]:.3f} / {score[1]:.3f} "
            f"(pairwise gain {score[0] - base[0]:+.3f} = {share:.0%} of the loss); {_pr(gold, opred)}; "
            f"statuses {dict(ocounts.most_common())}"
        )


def pair_counts(gold: dict[str, str], pred: dict[str, int]) -> tuple[int, int, int]:
    """(true, predicted, gold) same-story pairs over the whole stream."""

    def pairs(sizes: Counter[Any]) -> int:
        return sum(n * (n - 1) // 2 for n in sizes.values())

    return (
        pairs(Counter((gold[i], pred[i]) for i in gold)),
        pairs(Counter(pred[i] for i in gold)),
        pairs(Counter(gold.values())),
    )


def _pr(gold: dict[str, str], pred: dict[str, int]) -> str:
    """Pairwise precision and recall, with the pair counts."""
    tp, pp, gp = pair_counts(gold, pred)
    return f"pairwise P {tp / pp:.3f} ({tp}/{pp}) R {tp / gp:.3f} ({tp}/{gp})"


def _gap_days(rows: Sequence[dict[str, Any]], statuses: list[tuple[str, str]]) -> dict[str, float]:
    """Days between each article and its event's previous article in the stream."""
    last: dict[str, Any] = {}
    out: dict[str, float] = {}
    for row in rows:
        doc = cluster_doc(row)
        prev = last.get(row["cluster_id"])
        out[row["id"]] = (
            (doc.published - prev).total_seconds() / 86400 if prev and doc.published else 0.0
        )
        last[row["cluster_id"]] = doc.published
    return out


Table = dict[str, dict[float, list[tuple[float, float]]]]


def cross_validate(
    rows: Sequence[dict[str, Any]], gold: dict[str, str], variants: Sequence[str]
) -> Table:
    """Part 2: each variant's threshold chosen on four folds, scored on the held fold and ±0.05."""
    folds = [{r["id"] for r in rows if fold_of(r["cluster_id"]) == f} for f in range(K_FOLDS)]
    table: Table = {}
    for arg in variants:
        oracle = arg if arg in ORACLES else ""
        overrides = {} if oracle else parse_variant(arg)[1]
        base = replace(ClusterConfig(), **overrides)
        scores = {}
        for t in GRID:
            pred, _, _ = run(rows, replace(base, threshold=t), oracle)
            scores[t] = [cluster_scores(gold, pred, fold) for fold in folds]
        table[arg] = scores
        curve = "  ".join(
            f"{t:.2f}:{statistics.fmean(s[0] for s in v):.3f}/{statistics.fmean(s[1] for s in v):.3f}"
            for t, v in scores.items()
        )
        chosen = [max(GRID[1:-1], key=lambda t: train(scores[t], k)) for k in range(K_FOLDS)]
        picks = [(arg, t) for t in chosen]
        held = [scores[t][k][0] for k, t in enumerate(chosen)]
        print(
            f"{arg}\n  curve {curve}\n  CV t={chosen} {held_cells(table, picks)}\n"
            f"  held-fold pairwise {' '.join(f'{p:.3f}' for p in held)}",
            flush=True,
        )
    return table


def joint_choice(table: Table, variants: Sequence[str]) -> None:
    """(variant, threshold) chosen together on four folds (best score, best ±0.05 worst case)."""
    sub = {v: table[v] for v in variants if v not in ORACLES}
    for rule in ("best", "robust"):
        picks = [choose(sub, rule, k) for k in range(K_FOLDS)]
        print(f"joint choice ({rule}): {picks}\n  {held_cells(sub, picks)}", flush=True)


def main() -> None:
    """Diagnose, then cross-validate the variants named on the command line (or the defaults)."""
    rows = load_jsonl(DATA_DIR / "gva_event_clusters" / "articles.jsonl")
    gold = {r["id"]: r["cluster_id"] for r in rows}
    diagnose(rows, gold)
    variants = sys.argv[1:] or list(DEFAULT_VARIANTS)
    if "shipped" not in variants:
        variants.insert(0, "shipped")
    table = cross_validate(rows, gold, variants)
    joint_choice(table, variants)


if __name__ == "__main__":
    main()
