"""Tests of the clusterer's learned merge scorer (ClusterConfig.merge_weights, off by default)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bot.pipeline.cluster import (
    MERGE_FEATURES,
    ClusterConfig,
    ClusterDoc,
    StoryClusterer,
    learned_merge,
    merge_probability,
)
from bot.pipeline.merge_weights import WEIGHTS
from tests.datapaths import data_path
from tests.quality_eval import load_jsonl

T0 = datetime(2024, 3, 1, 8)
FIRE = "A fire destroyed the Elm Street warehouse in Springfield, firefighters said on Monday."


def _doc(i: int, title: str, text: str, hours: float = 0) -> ClusterDoc:
    return ClusterDoc(i, title, text, lang="en", published=T0 + timedelta(hours=hours))


def _only(feature: str, weight: float, bias: float) -> tuple[float, ...]:
    """Weights that look at one feature only."""
    weights = [0.0] * (len(MERGE_FEATURES) + 1)
    weights[MERGE_FEATURES.index(feature)] = weight
    weights[-1] = bias
    return tuple(weights)


def test_merge_probability_is_logistic_with_the_bias_last() -> None:
    assert merge_probability((2.0, -1.0, 0.5), (1.0, 3.0)) == pytest.approx(
        1 / (1 + math.exp(-(2.0 - 3.0 + 0.5)))
    )
    assert merge_probability((0.0, 0.0), (5.0,)) == 0.5
    assert merge_probability((1.0, -1000.0), (0.0,)) == 0.0


def test_shipped_default_is_the_hand_weighted_score() -> None:
    config = ClusterConfig()
    assert config.merge_weights == () and config.min_centroid == 0.15
    learned = learned_merge()
    assert learned.merge_weights == WEIGHTS and learned.min_centroid == 0.0
    assert len(WEIGHTS) == len(MERGE_FEATURES) + 1


def test_learned_scorer_decides_by_probability_not_threshold() -> None:
    first = _doc(1, "Springfield warehouse fire on Elm Street", FIRE)
    second = _doc(2, "Fire destroys Elm Street warehouse in Springfield", FIRE + " None hurt.", 2)
    # The hand-weighted score cannot reach an impossible threshold ...
    strict = ClusterConfig(threshold=1.5)
    c = StoryClusterer(strict)
    a = c.add(first)
    assert c.add(second).story != a.story
    # ... which the learned scorer ignores: it joins at a merge probability >= 0.5.
    c = StoryClusterer(learned_merge(strict))
    a = c.add(first)
    b = c.add(second)
    assert b.story == a.story and 0.5 <= b.similarity <= 1.0
    # Above the pair's probability, the report starts its own story.
    c = StoryClusterer(replace(learned_merge(strict), merge_probability=b.similarity + 1e-6))
    a = c.add(first)
    assert c.add(second).story != a.story


def test_headline_rare_terms_feature_reaches_the_scorer() -> None:
    # A scorer that looks only at headline terms among the story's rare terms: with the
    # same body, a generic headline starts a story and one naming the street joins.
    config = ClusterConfig(merge_weights=_only("title_rare", 10.0, -5.0), min_centroid=0.0)
    c = StoryClusterer(config)
    a = c.add(_doc(1, "Elm Street warehouse burns", FIRE))
    generic = c.add(_doc(2, "Night blaze tackled", FIRE.replace("Elm Street ", ""), 1))
    named = c.add(_doc(3, "Elm Street owner speaks", FIRE, 2))
    assert generic.story != a.story
    assert named.story == a.story


def test_time_gap_feature_reaches_the_scorer() -> None:
    # A scorer that only penalises the time since the story's last article.
    config = ClusterConfig(merge_weights=_only("log_gap_days", -2.0, 2.0), min_centroid=0.0)
    c = StoryClusterer(config)
    a = c.add(_doc(1, "Elm Street warehouse burns", FIRE))
    soon = c.add(_doc(2, "Owner of burned warehouse speaks", "The Elm Street owner spoke.", 12))
    late = c.add(_doc(3, "Warehouse owner charged", "The Elm Street owner was charged.", 24 * 20))
    assert soon.story == a.story and not soon.duplicate_of
    assert late.story != a.story


def test_shipped_merge_weights_come_from_the_training_script() -> None:
    # bot/pipeline/merge_weights.py is what tools/train_merge_scorer.py fits on every gva
    # dev article: regenerate it when the features change.
    from tools.train_merge_scorer import SHIPPED_VARIANT, VARIANTS, fit_logistic, training_pairs

    rows = load_jsonl(data_path("gva_event_clusters", "articles.jsonl"))
    overrides, negatives = VARIANTS[SHIPPED_VARIANT]
    config = replace(ClusterConfig(), **overrides)
    assert config.min_centroid == learned_merge().min_centroid
    assert config.min_story_terms == learned_merge().min_story_terms
    fitted = fit_logistic(training_pairs(rows, config, negatives))
    assert fitted == pytest.approx(list(WEIGHTS), abs=2e-6)
