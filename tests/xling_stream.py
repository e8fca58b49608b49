"""The cross-language linking stream and its pair scores, as `../shared/eval/xling_*.py` define them.

The stream: the NTREX documents (English and Arabic, two articles each) among Arabic
`saudinewsnet` and English `gva_event_clusters` distractors, shuffled with a fixed seed
and re-dated evenly into one 36-hour window. The score: recall is the share of NTREX
documents whose two languages share a story; precision is the share of the predicted
Arabic–English same-story pairs touching an NTREX article that are the same document.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

STREAM_START = datetime(2018, 10, 1, 6, 0)
STREAM_SPAN = timedelta(hours=36)
SEED = 5


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def build_stream(
    ntrex: Path, saudi: Path, gva: Path, distractors: int = 400
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Records in stream order (id, lang, title, text, published) and gold event per id."""
    rng = random.Random(SEED)
    records: list[dict[str, Any]] = []
    for row in _jsonl(ntrex):
        for lang in ("en", "ar"):
            records.append(
                {
                    "id": f"ntrex-{lang}-{row['doc_id']}",
                    "lang": lang,
                    "title": row[f"{lang}_title"],
                    "text": row[f"{lang}_text"],
                    "gold": "ntrex:" + row["doc_id"],
                }
            )
    arabic = _jsonl(saudi)
    rng.shuffle(arabic)
    for row in arabic[:distractors]:
        records.append(
            {
                "id": f"sa-{row['id']}",
                "lang": "ar",
                "title": row.get("title") or "",
                "text": row.get("text") or "",
                "gold": f"sa:{row['id']}",
            }
        )
    english = _jsonl(gva)
    rng.shuffle(english)
    for row in english[:distractors]:
        records.append(
            {
                "id": f"gva-{row['id']}",
                "lang": "en",
                "title": row.get("title") or "",
                "text": row.get("text") or "",
                "gold": f"gva:{row['cluster_id']}",
            }
        )
    rng.shuffle(records)
    step = STREAM_SPAN / len(records)
    gold: dict[str, str] = {}
    for index, record in enumerate(records):
        gold[record["id"]] = record.pop("gold")
        record["published"] = (STREAM_START + index * step).strftime("%Y-%m-%dT%H:%M:%S")
    return records, gold


@dataclass(frozen=True, slots=True)
class PairScore:
    """Cross-language pair recall, precision and F1."""

    pairs: int
    recall: float
    precision: float
    f1: float
    predicted_pairs: int
    correct_pairs: int


def _lang(article_id: str) -> str:
    """The language of a stream id."""
    return "ar" if article_id.startswith(("ntrex-ar", "sa-")) else "en"


def score_pairs(gold: Mapping[str, str], stories: Mapping[str, object]) -> PairScore:
    """Pair scores of predicted stories (id -> story) against the stream's gold events."""
    members: dict[object, list[str]] = defaultdict(list)
    for article_id, story in stories.items():
        if article_id in gold:
            members[story].append(article_id)
    docs = [key[len("ntrex-en-") :] for key in gold if key.startswith("ntrex-en-")]
    hits = sum(
        1
        for doc in docs
        if f"ntrex-en-{doc}" in stories
        and stories[f"ntrex-en-{doc}"] == stories.get(f"ntrex-ar-{doc}")
    )
    predicted = correct = 0
    for ids in members.values():
        arabic = [key for key in ids if _lang(key) == "ar"]
        english = [key for key in ids if _lang(key) == "en"]
        for a in arabic:
            for e in english:
                if a.startswith("ntrex") or e.startswith("ntrex"):
                    predicted += 1
                    correct += gold[a] == gold[e]
    recall = hits / len(docs) if docs else 0.0
    precision = correct / predicted if predicted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairScore(len(docs), recall, precision, f1, predicted, correct)


# Documents of the NTREX slice that report one event, as data/README.md names them ("treat
# those as same-event, not errors"): the Palu earthquake and tsunami, and the Kavanaugh
# hearings (a column on his testimony, two senators on the FBI inquiry, Republicans and
# women voters). Elizabeth Warren's 2020 plans mention the hearings once and stay apart.
SAME_EVENT_DOCS: tuple[tuple[str, ...], ...] = (
    ("nytimes.184860", "reuters.218865"),
    ("cbsnews.248471", "newsweek.51328", "newsweek.51330"),
)


def same_event_gold(
    gold: Mapping[str, str], groups: tuple[tuple[str, ...], ...] = SAME_EVENT_DOCS
) -> dict[str, str]:
    """The gold with each same-event group of NTREX documents under its first document's label."""
    label = {f"ntrex:{doc}": f"ntrex:{docs[0]}" for docs in groups for doc in docs}
    return {key: label.get(event, event) for key, event in gold.items()}
