"""The sentence-encoder interface, the text an article is embedded by, and compact vector bytes.

An encoder turns texts into L2-normalised float32 rows (one per text). Akhbar embeds
each article once, by its headline and lead only (`embedding_text`), and stores the
vector as `pack_vector` bytes: one format byte, a float32 scale and one int8 per
dimension (517 bytes for 512 dimensions, a quarter of float32), which keeps cosines
within about 0.01 of the float32 ones.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from bot.pipeline.sentences import sentence_spans

Vectors = npt.NDArray[np.float32]

LEAD_SENTENCES = 2  # sentences of the body that make the lead when none is given
LEAD_CHARS = 300  # the lead is cut to this many characters
_SCAN_CHARS = 2_000  # body characters read when looking for the lead's sentences
_FORMAT_INT8 = 1
_HEADER = struct.Struct("<Bf")


@runtime_checkable
class Encoder(Protocol):
    """A sentence encoder: texts in, one L2-normalised float32 row per text out."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Return an array of shape (len(texts), dim), each row of unit length."""
        ...


def lead_of(text: str, sentences: int = LEAD_SENTENCES, max_chars: int = LEAD_CHARS) -> str:
    """The first sentences of a body, cut to max_chars at a word boundary."""
    head = text[:_SCAN_CHARS]
    spans = sentence_spans(head)[:sentences]
    if not spans:
        return ""
    lead = " ".join(head[lo:hi] for lo, hi in spans)
    if len(lead) <= max_chars:
        return lead
    cut = lead[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space > max_chars // 2 else cut


def embedding_text(title: str, text: str = "", lede: str = "") -> str:
    """The text an article is embedded by: its headline, a newline, and its lead."""
    lead = lead_of(lede or text)
    title = " ".join(title.split())
    return f"{title}\n{lead}" if lead else title


def normalise_rows(vectors: npt.ArrayLike) -> Vectors:
    """Rows scaled to unit length (all-zero rows stay zero), as float32."""
    array = np.array(vectors, dtype=np.float32, ndmin=2)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    rows: Vectors = array / norms
    return rows


def pack_vector(vector: npt.ArrayLike) -> bytes:
    """Compact bytes of one vector: format byte, float32 scale, one int8 per dimension."""
    row = np.asarray(vector, dtype=np.float32).reshape(-1)
    peak = float(np.max(np.abs(row))) if row.size else 0.0
    scale = peak / 127.0 if peak > 0.0 else 1.0
    quantised = np.clip(np.rint(row / scale), -127, 127).astype(np.int8)
    blob: bytes = _HEADER.pack(_FORMAT_INT8, scale) + quantised.tobytes()
    return blob


def unpack_vector(blob: bytes) -> Vectors:
    """The unit-length float32 vector stored by `pack_vector`."""
    if len(blob) < _HEADER.size:
        raise ValueError("vector bytes too short")
    kind, scale = _HEADER.unpack_from(blob)
    if kind != _FORMAT_INT8:
        raise ValueError(f"unknown vector format {kind}")
    row = np.frombuffer(blob, dtype=np.int8, offset=_HEADER.size).astype(np.float32) * scale
    unit: Vectors = normalise_rows(row)[0]
    return unit


def pack_vectors(vectors: npt.ArrayLike) -> list[bytes]:
    """`pack_vector` of each row."""
    return [pack_vector(row) for row in np.array(vectors, dtype=np.float32, ndmin=2)]


def unpack_vectors(blobs: Sequence[bytes]) -> Vectors:
    """The rows stored by `pack_vectors`, stacked (shape (0, 0) when there are none)."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    rows: Vectors = np.stack([unpack_vector(blob) for blob in blobs])
    return rows


def mean_vector(blobs: Sequence[bytes]) -> Vectors | None:
    """The unit-length mean of packed vectors of one dimension (None when there are none,
    or they disagree in size, as after a change of encoder)."""
    if not blobs or len({len(blob) for blob in blobs}) != 1:
        return None
    mean: Vectors = normalise_rows(unpack_vectors(blobs).mean(axis=0))[0]
    return mean
