"""A bilingual lexicon encoder for linker tests: translations get nearly the same vector.

Each concept is one dimension; a text's vector is the sum of the concepts its words name
(in Arabic or English), plus a small hash part so that no two texts are identical.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from bot.pipeline.encoder import Vectors, normalise_rows
from tests.embed_fakes import text_vector

CONCEPTS: tuple[tuple[str, ...], ...] = (
    ("fuel", "petrol", "diesel", "الوقود", "البنزين", "والديزل", "الديزل"),
    ("prices", "price", "أسعار", "الأسعار"),
    ("energy", "ministry", "الطاقة", "وزارة"),
    ("assistant", "sanad", "سند", "المساعد"),
    ("offline", "internet", "إنترنت", "الإنترنت"),
    ("phone", "nokta", "نقطة", "الهاتف"),
    ("football", "league", "match", "كرة", "القدم", "الدوري"),
    ("flood", "floods", "rain", "فيضانات", "الأمطار", "سيول"),
)
DIM = len(CONCEPTS) + 8
NOISE = 0.15
_WORD = re.compile(r"\w+")
_INDEX = {word: i for i, words in enumerate(CONCEPTS) for word in words}


def lexicon_vector(text: str) -> Vectors:
    """The concept vector of a text (unit length)."""
    row = np.zeros(DIM, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        if word in _INDEX:
            row[_INDEX[word]] += 1.0
    if not row.any():
        row[len(CONCEPTS) :] = text_vector(text, 8)
    else:
        row[len(CONCEPTS) :] = NOISE * text_vector(text, 8)
    unit: Vectors = normalise_rows(row)[0]
    return unit


class LexiconEncoder:
    """Concept vectors: an Arabic text and its English translation score near 1."""

    name = "lexicon"
    dim = DIM

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([lexicon_vector(text) for text in texts])


def lexicon_encoder() -> LexiconEncoder:
    """Factory for the embedding worker (`tests.linker_fakes:lexicon_encoder`)."""
    return LexiconEncoder()


class InlineEmbedder:
    """An in-process stand-in for `bot.embeddings.Embedder` (records its batches)."""

    def __init__(self, available: bool = True) -> None:
        """Embed with the lexicon encoder, or answer None as a stopped embedder does."""
        self.encoder = LexiconEncoder()
        self.available = available
        self.batches: list[int] = []

    async def embed_many(self, texts: Sequence[str]) -> Vectors | None:
        """Rows for texts, or None when off."""
        if not self.available:
            return None
        self.batches.append(len(texts))
        return self.encoder.embed(texts)
