"""Cross-validated sweep of candidate sentence-scorer features and training targets.

For each variant (a set of extra feature columns, a target sharpening, which sets to train
on) the conditional logit is fitted on four folds and scored on the fifth; prints the
per-fold mean ROUGE of easc 3-sentence summaries and BBC Arabic one-sentence summaries
beside Lead-3 / Lead-1. Experiments only: the shipped scorer is what
`tools/train_sentence_scorer.py` writes.

    nice -n 15 .venv/bin/python tools/sweep_sentence_features.py [--encoder] [variant ...]

`--encoder` adds columns from the multilingual encoder (`bot.embeddings.load_encoder()`):
each of the first 8 sentences' cosine to the title, to their mean and to the first
sentence, and a flag for sentences beyond the 8. Embedding title + 8 sentences costs
about 0.18 CPU-s per article (805 BBC articles: 145 CPU-s), cached in /tmp.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.pipeline.sentence_scorer import fit_conditional_logit, linear_scores  # noqa: E402
from bot.pipeline.sentences import analyse  # noqa: E402
from bot.pipeline.text import normalize_arabic  # noqa: E402
from tests.datapaths import DATA_DIR  # noqa: E402
from tests.quality_eval import (  # noqa: E402
    K_FOLDS,
    SummaryExample,
    fold_of,
    load_jsonl,
    rouge_multi,
    rouge_tokens,
    summary_examples,
)

_CUES = frozenset(
    normalize_arabic(w)
    for w in [
        "قال",
        "وقال",
        "قالت",
        "وقالت",
        "أكد",
        "وأكد",
        "أضاف",
        "وأضاف",
        "أعلن",
        "وأعلن",
        "أوضح",
        "وأوضح",
        "ذكر",
        "وذكر",
        "أشار",
        "وأشار",
    ]
)


def grams(tokens: Sequence[str], n: int = 4) -> Counter[str]:
    """Character n-grams of padded tokens."""
    out: Counter[str] = Counter()
    for t in tokens:
        p = f"#{t}#"
        if len(p) <= n:
            out[p] += 1
        else:
            out.update(p[i : i + n] for i in range(len(p) - n + 1))
    return out


def cos(a: Counter[str], b: Counter[str] | dict[str, float]) -> float:
    """Cosine of two sparse vectors."""
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    if not na or not nb:
        return 0.0
    if len(a) > len(b):
        a, b = b, a  # type: ignore[assignment]
    return sum(v * b.get(t, 0.0) for t, v in a.items()) / (na * nb)


def extra_features(e: SummaryExample) -> list[list[float]]:
    """Candidate extra columns per sentence of one example."""
    sentences = analyse(e.text).sentences
    g = [grams(t) for t in e.tokens]
    title = grams(rouge_tokens(e.title))
    n = len(g)
    df = Counter(t for v in g for t in v)
    centroid = {t: c * math.log(1 + n / c) for t, c in df.items() if c > 1}
    first = g[0] if g else Counter()
    rows = []
    for i, v in enumerate(g):
        toks = e.tokens[i]
        rows.append(
            [
                cos(v, title),  # 0 char title
                cos(v, centroid),  # 1 char centroid
                cos(v, first) if i else 0.0,  # 2 char like first
                1.0 if any(c.isdigit() for c in sentences[i]) else 0.0,  # 3 digits
                1.0 if any(t in _CUES for t in toks) else 0.0,  # 4 attribution cue
                1.0 if i == 1 else 0.0,  # 5 second
                (1.0 if i == 0 else 0.0) * math.log1p(len(toks)),  # 6 first x length
            ]
        )
    return rows


Variant = tuple[str, tuple[int, ...], float, str]
ENCODED_SENTENCES = 8
_CACHE = Path("/tmp/sweep_sentence_features_embeddings.npz")


def encoder_features(data: dict[str, list[SummaryExample]]) -> dict[str, list[list[list[float]]]]:
    """Encoder columns per sentence: cosine to title, to the first sentences' mean, to the first."""
    import numpy as np

    from bot.embeddings import load_encoder

    if _CACHE.exists():
        cached = dict(np.load(_CACHE))
    else:
        encoder, why = load_encoder()
        if encoder is None:
            raise SystemExit(f"encoder unavailable: {why}")
        cached = {
            f"{name}|{e.id}": np.asarray(
                encoder.embed([e.title, *analyse(e.text).sentences[:ENCODED_SENTENCES]]),
                dtype=np.float32,
            )
            for name, exs in data.items()
            for e in exs
        }
        np.savez(_CACHE, **cached)
    out: dict[str, list[list[list[float]]]] = {}
    for name, exs in data.items():
        out[name] = []
        for e in exs:
            vecs = cached[f"{name}|{e.id}"]
            title, sents = vecs[0], vecs[1:]
            mean = sents.mean(axis=0)
            mean = mean / (float(np.linalg.norm(mean)) or 1.0)
            out[name].append(
                [
                    [
                        float(sents[i] @ title),
                        float(sents[i] @ mean),
                        float(sents[i] @ sents[0]) * (i > 0),
                        0.0,
                    ]
                    if i < len(sents)
                    else [0.0, 0.0, 0.0, 1.0]
                    for i in range(len(e.tokens))
                ]
            )
    return out


def targets_of(e: SummaryExample, power: float) -> list[float]:
    """Targets raised to a power (inf: one-hot on the best sentence)."""
    if math.isinf(power):
        best = max(range(len(e.targets)), key=lambda i: e.targets[i]) if e.targets else 0
        return [1.0 if i == best else 0.0 for i in range(len(e.targets))]
    return [t**power for t in e.targets]


def pick(scores: Sequence[float], e: SummaryExample, k: int) -> list[str]:
    """Tokens of the top-k sentences (redundancy-free approximation), in text order."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    return [t for i in sorted(order) for t in e.tokens[i]]


def run(
    data: dict[str, list[SummaryExample]],
    extras: dict[str, list[list[list[float]]]],
    variant: Variant,
) -> dict[str, list[float]]:
    """Per-fold scores of one variant."""
    _, cols, power, train_on = variant

    def rows(name: str, j: int) -> list[list[float]]:
        e = data[name][j]
        return [r + [x[c] for c in cols] for r, x in zip(e.rows, extras[name][j], strict=True)]

    out: dict[str, list[float]] = {"easc R1": [], "easc R2": [], "bbc R1": [], "bbc R2": []}
    for f in range(K_FOLDS):
        groups = []
        for name in ("ant", "easc"):
            if train_on not in ("both", name):
                continue
            for j, e in enumerate(data[name]):
                if fold_of(e.id) != f:
                    groups.append((rows(name, j), targets_of(e, power)))
        w = fit_conditional_logit(groups)
        for name, k, label in (("easc", 3, "easc"), ("ant", 1, "bbc")):
            r = [
                rouge_multi(pick(linear_scores(rows(name, j), w), e, k), e.refs)
                for j, e in enumerate(data[name])
                if fold_of(e.id) == f
            ]
            out[f"{label} R1"].append(statistics.fmean(x[0] for x in r))
            out[f"{label} R2"].append(statistics.fmean(x[1] for x in r))
    return out


def main() -> None:
    """Run the variants and print a table."""
    data = {
        "ant": summary_examples(
            load_jsonl(DATA_DIR / "ant_bbc_arabic" / "articles.jsonl"), abstractive=True
        ),
        "easc": summary_examples(load_jsonl(DATA_DIR / "easc" / "easc.jsonl"), abstractive=False),
    }
    extras = {name: [extra_features(e) for e in exs] for name, exs in data.items()}
    names = sys.argv[1:]
    if "--encoder" in names:
        names.remove("--encoder")
        encoded = encoder_features(data)
        for name in extras:
            extras[name] = [
                [row + enc for row, enc in zip(rows, encoded[name][j], strict=True)]
                for j, rows in enumerate(extras[name])
            ]
    variants: list[Variant] = [
        ("base", (), 1.0, "both"),
        ("base p2", (), 2.0, "both"),
        ("base onehot", (), math.inf, "both"),
        ("+char", (0, 1, 2), 1.0, "both"),
        ("+digits+cue", (3, 4), 1.0, "both"),
        ("+second+firstlen", (5, 6), 1.0, "both"),
        ("+all", (0, 1, 2, 3, 4, 5, 6), 1.0, "both"),
        ("+all p2", (0, 1, 2, 3, 4, 5, 6), 2.0, "both"),
        ("base easc-only", (), 1.0, "easc"),
        ("base ant-only", (), 1.0, "ant"),
        ("+cue", (4,), 1.0, "both"),
        ("+digits", (3,), 1.0, "both"),
        ("+char title", (0,), 1.0, "both"),
        ("+encoder", (7, 8, 9, 10), 1.0, "both"),  # needs --encoder
    ]
    for v in variants:
        if names and v[0] not in names:
            continue
        res = run(data, extras, v)
        cells = "  ".join(
            f"{k} {statistics.fmean(x):.3f}±{statistics.stdev(x):.3f}" for k, x in res.items()
        )
        print(f"{v[0]:<20} {cells}", flush=True)
    lead: dict[str, list[float]] = {"easc": [], "ant": []}
    for name, k in (("easc", 3), ("ant", 1)):
        for f in range(K_FOLDS):
            lead[name].append(
                statistics.fmean(
                    rouge_multi([t for s in e.tokens[:k] for t in s], e.refs)[0]
                    for e in data[name]
                    if fold_of(e.id) == f
                )
            )
    print(
        f"Lead R1 easc {statistics.fmean(lead['easc']):.3f} bbc {statistics.fmean(lead['ant']):.3f}"
    )


if __name__ == "__main__":
    main()
