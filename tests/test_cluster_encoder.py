"""Tests of the clusterer's optional encoder signal (gate and blend; off by default)."""

import json
import math
import random
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from bot.pipeline.cluster import Assignment, ClusterConfig, ClusterDoc, StoryClusterer

T0 = datetime(2024, 3, 1, 8)
FIRE = "A fire destroyed the Elm Street warehouse in Springfield, firefighters said."
EAST = (1.0, 0.0, 0.0)
NORTH = (0.0, 1.0, 0.0)


def _fire_reports(
    first: tuple[float, ...] | None, second: tuple[float, ...] | None
) -> list[ClusterDoc]:
    """Two reports of one warehouse fire (they join on terms alone), with the given vectors."""
    return [
        ClusterDoc(1, "Springfield warehouse fire on Elm Street", FIRE, published=T0, vector=first),
        ClusterDoc(
            2,
            "Fire destroys Elm Street warehouse in Springfield",
            FIRE + " No one was hurt.",
            published=T0 + timedelta(hours=2),
            vector=second,
        ),
    ]


def _run(docs: list[ClusterDoc], config: ClusterConfig | None = None) -> list[Assignment]:
    """Assignments of a fresh clusterer over the documents, in order."""
    clusterer = StoryClusterer(config)
    return [clusterer.add(doc) for doc in docs]


def _random_unit(rng: random.Random, dim: int = 8) -> tuple[float, ...]:
    """A random unit vector."""
    row = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in row))
    return tuple(x / norm for x in row)


def test_vectors_change_nothing_with_the_encoder_signal_off() -> None:
    """The demo stream clusters identically with and without vectors at the default config."""
    items = json.loads(
        (Path(__file__).resolve().parent.parent / "bot" / "demo" / "items.json").read_text("utf-8")
    )
    docs = [
        ClusterDoc(
            i, item["title"], item["text"], lang=item["lang"], published=T0 + timedelta(hours=i)
        )
        for i, item in enumerate(items)
    ]
    rng = random.Random(3)
    with_vectors = [replace(doc, vector=_random_unit(rng)) for doc in docs]
    plain = _run(docs)
    assert len({a.story for a in plain}) < len(plain)  # some articles join stories
    assert _run(with_vectors) == plain


def test_encoder_gate_blocks_a_join_of_dissimilar_vectors() -> None:
    """Orthogonal vectors keep the two fire reports apart under a gate; aligned ones do not."""
    gate = ClusterConfig(encoder_gate=0.5)
    first, second = _run(_fire_reports(EAST, NORTH))
    assert second.story == first.story  # off by default: terms alone join them
    first, second = _run(_fire_reports(EAST, NORTH), gate)
    assert second.is_new and second.story != first.story
    first, second = _run(_fire_reports(EAST, EAST), gate)
    assert second.story == first.story
    first, second = _run(_fire_reports(EAST, None), gate)  # no vector: terms alone
    assert second.story == first.story


def test_encoder_blend_adds_weighted_cosine_above_the_offset() -> None:
    """similarity += weight * (cosine - offset): aligned vectors add 0.2, orthogonal ones block."""
    blend = ClusterConfig(encoder_weight=2.0, encoder_offset=0.9)
    _, plain = _run(_fire_reports(EAST, EAST))
    _, aligned = _run(_fire_reports(EAST, EAST), blend)
    assert not plain.is_new and not aligned.is_new
    assert math.isclose(aligned.similarity, plain.similarity + 0.2, abs_tol=1e-9)
    _, orthogonal = _run(_fire_reports(EAST, NORTH), blend)
    assert plain.similarity - 1.8 < blend.threshold  # so the orthogonal report must split
    assert orthogonal.is_new
