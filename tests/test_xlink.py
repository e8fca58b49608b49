"""Cross-language story linking: rules on plain vectors, coverage, and the NTREX stream scores."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.embeddings import Embedder
from bot.pipeline.cluster import ClusterConfig
from bot.pipeline.encoder import embedding_text, normalise_rows
from bot.pipeline.offline import (
    cluster_records,
    language_code,
    link_records,
    needs_linking,
)
from bot.pipeline.xlink import (
    Coverage,
    CoverageItem,
    Link,
    LinkArticle,
    LinkConfig,
    build_stories,
    coverage,
    link_stories,
    merged_story_keys,
    story_language,
)
from tests.datapaths import DATA_DIR, data_path
from tests.xling_stream import (
    SAME_EVENT_DOCS,
    PairScore,
    build_stream,
    same_event_gold,
    score_pairs,
)

T0 = datetime(2026, 3, 1, 9, 0)


def _unit(*values: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A unit vector from its components (padded to 4 dimensions)."""
    padded = list(values) + [0.0] * (4 - len(values))
    return normalise_rows(padded)[0]


def _article(
    id_: str, story: int, lang: str, vector: np.ndarray[Any, Any], hours: float = 0.0
) -> LinkArticle:
    """An embedded article `hours` after T0."""
    return LinkArticle(id_, story, lang, T0 + timedelta(hours=hours), vector)


# ---------------------------------------------------------------- linking rules
def test_mutual_best_pair_links_and_unrelated_stories_do_not() -> None:
    """Fuel (ar) links fuel (en); football (en) finds no Arabic partner above the floor."""
    articles = [
        _article("ar-fuel", 1, "ar", _unit(1, 0.1)),
        _article("en-fuel", 2, "en", _unit(1, 0.15)),
        _article("en-football", 3, "en", _unit(0, 0, 1)),
    ]
    links = link_stories(articles)
    assert [(link.ar, link.en) for link in links] == [(1, 2)]
    assert links[0].similarity > 0.99
    assert merged_story_keys(links) == {1: 1, 2: 1}


def test_only_mutual_best_matches_link() -> None:
    """Arabic story 2 prefers English 3, whose best match is Arabic 1: only 1–3 links."""
    articles = [
        _article("a1", 1, "ar", _unit(1, 0)),
        _article("a2", 2, "ar", _unit(1, 0.6)),
        _article("e3", 3, "en", _unit(1, 0.05)),
    ]
    config = LinkConfig(margin=0.0)
    assert [(link.ar, link.en) for link in link_stories(articles, config)] == [(1, 3)]


def test_floor_margin_and_time_window_hold_links_back() -> None:
    """Below the floor, too close to a runner-up, or too far apart in time: no link."""
    weak = [_article("a", 1, "ar", _unit(1, 1)), _article("e", 2, "en", _unit(1, 0))]  # cos 0.71
    assert link_stories(weak, LinkConfig(floor=0.75)) == []
    assert len(link_stories(weak, LinkConfig(floor=0.7))) == 1
    close_call = [
        _article("a", 1, "ar", _unit(1, 0)),
        _article("e1", 2, "en", _unit(1, 0.1)),
        _article("e2", 3, "en", _unit(1, 0.2)),
    ]
    assert link_stories(close_call, LinkConfig(margin=0.05)) == []
    assert len(link_stories(close_call, LinkConfig(margin=0.0))) == 1
    apart = [
        _article("a", 1, "ar", _unit(1, 0)),
        _article("e", 2, "en", _unit(1, 0), hours=72),
    ]
    assert link_stories(apart, LinkConfig(window=timedelta(hours=48))) == []
    assert len(link_stories(apart, LinkConfig(window=timedelta(hours=80)))) == 1


def test_time_window_measures_the_gap_between_story_spans() -> None:
    """A story spanning days links to coverage near its end, not only near its start."""
    articles = [
        _article("a-day0", 1, "ar", _unit(1, 0)),
        _article("a-day4", 1, "ar", _unit(1, 0), hours=96),
        _article("e-day4", 2, "en", _unit(1, 0.05), hours=100),
    ]
    assert [(link.ar, link.en) for link in link_stories(articles)] == [(1, 2)]


def test_linked_stories_keep_their_link_and_take_no_other() -> None:
    """Stories already linked are left out, so each story has at most one link."""
    articles = [
        _article("a1", 1, "ar", _unit(1, 0)),
        _article("e2", 2, "en", _unit(1, 0.02)),
        _article("e3", 3, "en", _unit(1, 0.3)),
    ]
    assert [(link.ar, link.en) for link in link_stories(articles, LinkConfig(margin=0.0))] == [
        (1, 2)
    ]
    assert link_stories(articles, LinkConfig(margin=0.0), linked=[1, 2]) == []


def test_changed_limits_the_search_to_links_touching_changed_stories() -> None:
    """With `changed`, a pair of unchanged stories is not looked at; a changed side finds its pair."""
    articles = [
        _article("a1", 1, "ar", _unit(1, 0, 0)),
        _article("e2", 2, "en", _unit(1, 0.05, 0)),
        _article("a3", 3, "ar", _unit(0, 0, 1)),
        _article("e4", 4, "en", _unit(0, 0.05, 1)),
    ]
    assert {(link.ar, link.en) for link in link_stories(articles)} == {(1, 2), (3, 4)}
    assert [(link.ar, link.en) for link in link_stories(articles, changed=[4])] == [(3, 4)]
    assert [(link.ar, link.en) for link in link_stories(articles, changed=[1])] == [(1, 2)]
    assert link_stories(articles, changed=[]) == []


def test_a_story_mixing_events_is_not_linked() -> None:
    """An English story whose second article matches another Arabic story better stays apart."""
    articles = [
        _article("a-quake", 1, "ar", _unit(1, 0, 0)),
        _article("a-vote", 2, "ar", _unit(0, 0, 1)),
        _article("e-quake", 3, "en", _unit(1, 0.05, 0)),
        _article("e-vote", 3, "en", _unit(0.5, 0, 1)),
    ]
    assert link_stories(articles, LinkConfig(floor=0.3, margin=0.0)) == []
    lenient = LinkConfig(floor=0.3, margin=0.0, min_agreement=0.6)
    assert [(link.ar, link.en) for link in link_stories(articles, lenient)] == [(1, 3)]


def test_story_view_uses_majority_language_and_mean_vector() -> None:
    """A story's language is its most common one; its vector the normalised mean."""
    assert story_language(["ar", "en", "ar", None]) == "ar"
    assert story_language(["en", "ar"]) == "ar"  # ties go to the smaller code
    assert story_language([None]) == ""
    (story,) = build_stories(
        [
            _article("x", 7, "en", _unit(1, 0), hours=1),
            _article("y", 7, "en", _unit(0, 1), hours=5),
        ]
    )
    assert story.lang == "en" and story.size == 2
    assert story.first_seen == T0 + timedelta(hours=1) and story.last_seen == T0 + timedelta(
        hours=5
    )
    np.testing.assert_allclose(story.vector, _unit(1, 1), atol=1e-6)


def test_link_records_merges_linked_stories_and_keeps_input_order() -> None:
    """Offline linking (`akhbar cluster`): a linked Arabic/English pair answers under one key,
    language tags like "AR" or "en-GB" count, an undated record takes the latest time before it
    (as the clusterer does)."""
    records = [
        {"id": "e1", "lang": "en-GB", "published": "2026-03-01T09:00:00"},
        {"id": "a1", "lang": "AR"},
        {"id": "e2", "lang": "en", "published": "2026-03-01T10:00:00"},
        {"id": "x", "lang": None},
    ]
    stories = [
        {"id": "e1", "story": 5},
        {"id": "a1", "story": 7},
        {"id": "e2", "story": 9},
        {"id": "x", "story": 11},
    ]
    vectors = normalise_rows([[1, 0.05, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]])
    linked = link_records(records, stories, vectors)
    assert linked == [
        {"id": "e1", "story": 5},
        {"id": "a1", "story": 5},
        {"id": "e2", "story": 9},
        {"id": "x", "story": 11},
    ]
    assert needs_linking(records) and not needs_linking([records[0], records[2]])
    assert [language_code(v) for v in ("ar_EG", " En ", "", 3)] == ["ar", "en", None, None]


# ---------------------------------------------------------------- coverage
def test_coverage_counts_sources_per_language_and_the_first_report() -> None:
    """Distinct sources, per language, and who reported first (ties: smaller name)."""
    items = [
        CoverageItem("Coast Wire", "en", T0 + timedelta(minutes=30)),
        CoverageItem("Al Sahil", "ar", T0 + timedelta(minutes=12)),
        CoverageItem("Al Bayan", "ar", T0 + timedelta(minutes=12)),
        CoverageItem("Al Sahil", "ar", T0 + timedelta(hours=2)),
        CoverageItem("Gulf Daily", "en", T0 + timedelta(hours=3)),
        CoverageItem("Gulf Daily", "ar", T0 + timedelta(hours=4)),
    ]
    assert coverage(items) == Coverage(
        sources=4,
        sources_by_language={"ar": 3, "en": 2},
        articles=6,
        first_source="Al Bayan",
        first_language="ar",
        first_at=T0 + timedelta(minutes=12),
    )
    assert coverage([]) == Coverage(0, {}, 0, None, None, None)


# ---------------------------------------------------------------- NTREX stream
@dataclass(frozen=True)
class Stream:
    """The cross-language stream, its lexical stories and its embeddings."""

    records: list[dict[str, Any]]
    gold: dict[str, str]
    lexical: dict[str, int]
    articles: list[LinkArticle]


async def _embed_off_loop(texts: list[str]) -> tuple[Any, str]:
    """Embed texts with the default encoder in its worker process (one BLAS thread)."""
    embedder = Embedder()
    status = await embedder.start()
    try:
        return await embedder.embed_many(texts), status.reason
    finally:
        await embedder.close()


@pytest.fixture(scope="session")
def ntrex_stream() -> Stream:
    """Build the stream, cluster it lexically as `akhbar cluster` does, embed headline + lead."""
    paths = (
        data_path("ntrex_ar_en", "docs.jsonl"),
        data_path("saudinewsnet", "articles.jsonl"),
        data_path("gva_event_clusters", "articles.jsonl"),
    )
    records, gold = build_stream(*paths)
    texts = [embedding_text(r["title"], r["text"]) for r in records]
    vectors, reason = asyncio.run(_embed_off_loop(texts))
    if vectors is None:
        pytest.skip(reason)
    lexical = {row["id"]: row["story"] for row in cluster_records(records)}
    articles = [
        LinkArticle(
            r["id"], lexical[r["id"]], r["lang"], datetime.fromisoformat(r["published"]), vector
        )
        for r, vector in zip(records, vectors, strict=True)
    ]
    return Stream(records, gold, lexical, articles)


def _linked_prediction(stream: Stream, config: LinkConfig | None = None) -> dict[str, int]:
    """Story per article id after linking the lexical stories."""
    merged = merged_story_keys(link_stories(stream.articles, config))
    return {key: merged.get(story, story) for key, story in stream.lexical.items()}


def _reference_score(gold: dict[str, str], prediction: dict[str, int], tmp: Any) -> dict[str, Any]:
    """The shared reference scorer's JSON for a prediction."""
    script = DATA_DIR.parent / "eval" / "xling_score.py"
    if not script.exists():
        pytest.skip(f"reference scorer not found at {script}")
    gold_path, pred_path = tmp / "gold.json", tmp / "pred.jsonl"
    gold_path.write_text(json.dumps(gold), encoding="utf-8")
    pred_path.write_text(
        "".join(json.dumps({"id": k, "story": v}) + "\n" for k, v in prediction.items()),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script), str(gold_path), str(pred_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_stream_matches_the_reference_builder(ntrex_stream: Stream, tmp_path: Any) -> None:
    """Our stream is record for record the one `xling_input.py` writes."""
    script = DATA_DIR.parent / "eval" / "xling_input.py"
    if not script.exists():
        pytest.skip(f"reference stream builder not found at {script}")
    out_in, out_gold = tmp_path / "in.jsonl", tmp_path / "gold.json"
    subprocess.run(
        [
            sys.executable,
            str(script),
            str(DATA_DIR / "ntrex_ar_en" / "docs.jsonl"),
            str(DATA_DIR / "saudinewsnet" / "articles.jsonl"),
            str(DATA_DIR / "gva_event_clusters" / "articles.jsonl"),
            str(out_in),
            str(out_gold),
        ],
        check=True,
        timeout=60,
    )
    reference = [json.loads(line) for line in out_in.read_text(encoding="utf-8").splitlines()]
    assert reference == ntrex_stream.records
    assert json.loads(out_gold.read_text(encoding="utf-8")) == ntrex_stream.gold
    assert len(ntrex_stream.records) == 870


def test_ntrex_pairs_linked_across_languages(ntrex_stream: Stream) -> None:
    """Pinned: lexical stories alone link no pair; with the linker F1 >= 0.90.

    Measured 0.886 / 0.939 (F1 0.912) with the reference scorer's reading, where two NTREX
    documents of one event in one story count against each other; 0.886 / 1.000 (F1 0.939)
    with data/README.md's reading (same-event documents are not errors). What stays wrong
    is the two Indonesian-tsunami reports sharing a story in each language (2 crossed
    pairs, right by the data README); what is missed are four Kavanaugh-era pieces that
    share one English story (with Elizabeth Warren's 2020 plans), which the agreement rule
    leaves unlinked.
    """
    lexical_only = score_pairs(ntrex_stream.gold, ntrex_stream.lexical)
    assert lexical_only.recall == 0.0
    prediction = _linked_prediction(ntrex_stream)
    score = score_pairs(ntrex_stream.gold, prediction)
    same_event = score_pairs(same_event_gold(ntrex_stream.gold), prediction)
    print(f"\nNTREX cross-language pairs: {score}\n  same-event reading: {same_event}")
    assert score.recall >= 0.88
    assert score.precision >= 0.93
    assert score.f1 >= 0.90
    assert same_event.recall == score.recall
    assert same_event.precision >= 0.95


def test_same_event_gold_relabels_only_the_named_groups(ntrex_stream: Stream) -> None:
    """The same-event reading changes the labels of the grouped NTREX documents' texts, nothing else."""
    relabelled = same_event_gold(ntrex_stream.gold)
    changed = {key for key, event in ntrex_stream.gold.items() if relabelled[key] != event}
    grouped = {doc for docs in SAME_EVENT_DOCS for doc in docs[1:]}
    assert changed == {f"ntrex-{lang}-{doc}" for doc in grouped for lang in ("ar", "en")}
    assert relabelled["ntrex-ar-reuters.218865"] == relabelled["ntrex-en-nytimes.184860"]


def test_no_link_between_distractor_stories(ntrex_stream: Stream) -> None:
    """Saudi news and US shooting reports are never linked to each other (the scorer cannot see this)."""
    story_ids: dict[int, list[str]] = {}
    for key, story in ntrex_stream.lexical.items():
        story_ids.setdefault(story, []).append(key)
    for link in link_stories(ntrex_stream.articles):
        members = story_ids[link.ar] + story_ids[link.en]
        assert any(key.startswith("ntrex") for key in members), members


def test_changed_stories_find_exactly_the_full_pass_links_touching_them(
    ntrex_stream: Stream,
) -> None:
    """The incremental search equals the full pass restricted to links with a changed side."""

    def pairs(links: list[Link]) -> list[tuple[int, int]]:
        """The linked story pairs, in order (cosines differ in the last bits by matrix shape)."""
        return [(link.ar, link.en) for link in links]

    full = link_stories(ntrex_stream.articles)
    every = set(ntrex_stream.lexical.values())
    assert pairs(link_stories(ntrex_stream.articles, changed=every)) == pairs(full)
    keys = sorted(every)
    rng = random.Random(11)
    for _ in range(4):
        changed = set(rng.sample(keys, 80))
        expected = [link for link in full if link.ar in changed or link.en in changed]
        assert expected, "each sample should touch some links"
        assert pairs(link_stories(ntrex_stream.articles, changed=changed)) == pairs(expected)


def _relexed(stream: Stream, config: ClusterConfig) -> Stream:
    """The stream with its lexical stories formed under another clustering config."""
    lexical = {row["id"]: row["story"] for row in cluster_records(stream.records, config)}
    articles = [replace(a, story=lexical[a.id]) for a in stream.articles]
    return Stream(stream.records, stream.gold, lexical, articles)


def test_agreement_rule_raises_precision(ntrex_stream: Stream) -> None:
    """Without the agreement rule, mixed lexical stories get linked and precision drops.

    Shown on lexical stories formed without the shared-story-terms gate, where the Kavanaugh
    pieces share a story in each language (with the gate the Arabic ones split, and the
    English story finds no mutual partner with the rule or without it).
    """
    chained = _relexed(ntrex_stream, ClusterConfig(min_story_terms=0))
    strict = score_pairs(chained.gold, _linked_prediction(chained))
    loose = score_pairs(chained.gold, _linked_prediction(chained, LinkConfig(min_agreement=0.0)))
    assert loose.precision < strict.precision - 0.05


def test_shared_story_terms_gate_keeps_the_nyc_report_out_of_the_lax_story(
    ntrex_stream: Stream,
) -> None:
    """The NTREX report "Federal prosecutors seeking rare death penalty for NYC terror attack
    suspect" joined a GVA report "Prosecutors to seek death penalty in fatal LAX shooting" on words alone; the
    gate needs two of the story's distinctive terms, and they share only "terror"."""
    nyc, lax = "ntrex-en-abcnews.306774", "gva-gva-doc-a2d9f4a72e3d206227527f2ae2b192bb"
    ungated = _relexed(ntrex_stream, ClusterConfig(min_story_terms=0))
    assert ungated.lexical[nyc] == ungated.lexical[lax]
    assert ntrex_stream.lexical[nyc] != ntrex_stream.lexical[lax]
    assert score_pairs(ungated.gold, _linked_prediction(ungated)).precision < 0.92


def test_own_scores_agree_with_the_reference_scorer(ntrex_stream: Stream, tmp_path: Any) -> None:
    """Our pair scores equal `xling_score.py`'s on the same predictions (three of them)."""
    predictions = [
        ntrex_stream.lexical,
        _linked_prediction(ntrex_stream),
        _linked_prediction(ntrex_stream, LinkConfig(floor=0.3, margin=0.0, min_agreement=0.0)),
    ]
    for prediction in predictions:
        ours: PairScore = score_pairs(ntrex_stream.gold, prediction)
        theirs = _reference_score(ntrex_stream.gold, prediction, tmp_path)
        assert theirs["pairs"] == ours.pairs == 35
        assert theirs["missing"] == 0
        assert theirs["recall"] == round(ours.recall, 4)
        assert theirs["precision"] == round(ours.precision, 4)
        assert theirs["f1"] == round(ours.f1, 4)


def test_cli_cluster_links_the_stream_and_the_reference_scorer_agrees(
    ntrex_stream: Stream, tmp_path: Path
) -> None:
    """`akhbar cluster --input` on the stream links across languages as the tests do: the
    reference scorer reads F1 >= 0.90 from its output (with `--no-link`: no pair)."""
    stream_path = tmp_path / "in.jsonl"
    stream_path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ntrex_stream.records),
        encoding="utf-8",
    )
    scores = {}
    for flag in ("--link", "--no-link"):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "cluster", "--input", str(stream_path), flag],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
            cwd=Path(__file__).resolve().parents[1],
        )
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        assert [row["id"] for row in rows] == [r["id"] for r in ntrex_stream.records]
        prediction = {row["id"]: row["story"] for row in rows}
        scores[flag] = _reference_score(ntrex_stream.gold, prediction, tmp_path)
        if flag == "--link":
            assert prediction == _linked_prediction(ntrex_stream)
    print(f"\nakhbar cluster on the NTREX stream, reference scorer: {scores}")
    assert scores["--link"]["f1"] >= 0.90 and scores["--link"]["precision"] >= 0.93
    assert scores["--no-link"]["recall"] == 0.0


_STREAM_STORIES = """
import hashlib, sys
from bot.pipeline.offline import (
    cluster_records,
    language_code,
    link_records,
    needs_linking,
)
from tests.xling_stream import build_stream
from pathlib import Path
records, _ = build_stream(*(Path(p) for p in sys.argv[1:4]))
stories = [o["story"] for o in cluster_records(records)]
print(len(set(stories)), hashlib.sha1(repr(stories).encode()).hexdigest())
"""


def test_lexical_stories_do_not_depend_on_string_hashing() -> None:
    """The NTREX stream clusters the same way under two `PYTHONHASHSEED`s (a story's rare
    terms were once kept in set order: 573 or 575 stories depending on the seed)."""
    paths = [
        str(data_path("ntrex_ar_en", "docs.jsonl")),
        str(data_path("saudinewsnet", "articles.jsonl")),
        str(data_path("gva_event_clusters", "articles.jsonl")),
    ]
    answers = {
        subprocess.run(
            [sys.executable, "-c", _STREAM_STORIES, *paths],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            cwd=Path(__file__).resolve().parents[1],
        ).stdout
        for seed in (0, 1)
    }
    assert len(answers) == 1, answers
