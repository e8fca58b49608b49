"""Tests of the learned sentence scorer: features and the conditional-logit fit."""

from __future__ import annotations

import random

from bot.pipeline.sentence_scorer import (
    FEATURES,
    fit_conditional_logit,
    linear_scores,
    paragraph_starts,
    sentence_features,
)
from bot.pipeline.sentences import analyse
from bot.pipeline.text import headline_terms


def test_paragraph_starts() -> None:
    text = "First one. Second one.\nThird one starts a line. Fourth."
    sentences = analyse(text).sentences
    assert paragraph_starts(text, sentences) == [True, False, True, False]


def test_features_follow_position_and_headline() -> None:
    text = "The council met on Monday. The mayor signed the flood budget. Rain is expected."
    analysis = analyse(text)
    rows = sentence_features(
        analysis, headline_terms("Mayor signs flood budget"), [True, False, False]
    )
    assert len(rows) == 3 and all(len(r) == len(FEATURES) for r in rows)
    col = {name: [r[i] for r in rows] for i, name in enumerate(FEATURES)}
    assert col["first"] == [1.0, 0.0, 0.0]
    assert col["best_headline"] == [0.0, 1.0, 0.0]
    assert col["headline_share"][1] > col["headline_share"][0] == 0.0
    no_title = sentence_features(analysis, (), [True, False, False])
    assert all(r[FEATURES.index("headline_share")] == 0.0 for r in no_title)


def test_fit_learns_which_feature_marks_the_chosen_sentence() -> None:
    # In each article the summary sentence is the one with feature 1 set; feature 0 is noise.
    rng = random.Random(7)
    groups = []
    for _ in range(60):
        n = rng.randint(3, 8)
        marked = rng.randrange(n)
        rows = [[rng.random(), 1.0 if i == marked else 0.0] for i in range(n)]
        targets = [1.0 if i == marked else 0.0 for i in range(n)]
        groups.append((rows, targets))
    weights = fit_conditional_logit(groups, l2=0.1)
    assert weights[1] > 3.0 and abs(weights[0]) < 1.0, weights
    for rows, targets in groups:
        scores = linear_scores(rows, weights)
        assert scores.index(max(scores)) == targets.index(1.0)


def test_fit_ignores_articles_without_any_target() -> None:
    rows = [[1.0, 0.0], [0.0, 1.0]]
    with_empty = fit_conditional_logit([(rows, [1.0, 0.0]), (rows, [0.0, 0.0])])
    alone = fit_conditional_logit([(rows, [1.0, 0.0])])
    assert with_empty == alone
