"""Near-duplicate fingerprints: 64-bit SimHash and a stable content hash."""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from collections import Counter
from collections.abc import Iterable

_MASK64 = (1 << 64) - 1
_SIGN_BIT = 1 << 63
_WORDS = re.compile(r"\w+", re.UNICODE)
_MARKS = re.compile("[\u064b-\u065f\u0670\u0640\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _term_hash(term: str) -> int:
    """Return a stable 64-bit hash of one term."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def to_signed64(value: int) -> int:
    """Map an unsigned 64-bit integer onto the signed int64 range."""
    value &= _MASK64
    return value - (1 << 64) if value & _SIGN_BIT else value


_LANE = 16  # bits per counter lane in the packed SimHash accumulator
_LANE_MAX = (1 << _LANE) - 1  # total weight above this could carry between lanes
_SPREAD = [
    [sum(1 << (_LANE * (8 * k + bit)) for bit in range(8) if (b >> bit) & 1) for b in range(256)]
    for k in range(8)
]
_SPREAD0, _SPREAD1, _SPREAD2, _SPREAD3, _SPREAD4, _SPREAD5, _SPREAD6, _SPREAD7 = _SPREAD
_LANES = struct.Struct("<64H")  # the accumulator's 64 lanes, lowest bit first
_SPREAD_CACHE_SIZE = 32768  # term -> packed bit spread (~190 bytes each); cleared when full
_spread_cache: dict[str, int] = {}


def _term_spread(term: str) -> int:
    """A term's 64 hash bits spread one per 16-bit lane (lane i holds bit i)."""
    d = hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest()
    return (
        _SPREAD0[d[7]]
        + _SPREAD1[d[6]]
        + _SPREAD2[d[5]]
        + _SPREAD3[d[4]]
        + _SPREAD4[d[3]]
        + _SPREAD5[d[2]]
        + _SPREAD6[d[1]]
        + _SPREAD7[d[0]]
    )


def _simhash_by_bit(weights: Counter[str]) -> int:
    """SimHash with one signed counter per bit (any total weight)."""
    totals = [0] * 64
    for term, weight in weights.items():
        h = _term_hash(term)
        for bit in range(64):
            totals[bit] += weight if (h >> bit) & 1 else -weight
    value = 0
    for bit, total in enumerate(totals):
        if total > 0:
            value |= 1 << bit
    return to_signed64(value)


def simhash(terms: Iterable[str]) -> int:
    """Return the 64-bit SimHash of weighted terms as a signed int64.

    A bit is set when the terms whose hash has it outweigh those whose hash lacks it. The
    64 counters are summed at once in one packed integer (16-bit lanes; a term's lane
    pattern is cached), falling back to one counter per bit when the total weight could
    overflow a lane.
    """
    weights = Counter(t for t in terms if t)
    if not weights:
        return 0
    total = sum(weights.values())
    if total > _LANE_MAX:
        return _simhash_by_bit(weights)
    cache = _spread_cache
    acc = 0
    for term, weight in weights.items():
        spread = cache.get(term)
        if spread is None:
            spread = _term_spread(term)
            if len(cache) >= _SPREAD_CACHE_SIZE:
                cache.clear()
            cache[term] = spread
        acc += spread if weight == 1 else spread * weight
    value = 0
    for bit, count in enumerate(_LANES.unpack(acc.to_bytes(_LANES.size, "little"))):
        if 2 * count > total:
            value |= 1 << bit
    return to_signed64(value)


def hamming(a: int, b: int) -> int:
    """Return the number of differing bits between two 64-bit fingerprints."""
    return ((a ^ b) & _MASK64).bit_count()


def is_near_duplicate(a: int, b: int, max_bits: int = 3) -> bool:
    """Tell whether two SimHash fingerprints differ in at most max_bits bits."""
    return hamming(a, b) <= max_bits


def normalise_for_hash(text: str) -> str:
    """Case-fold, strip Arabic marks and keep only word characters, space-separated."""
    text = text or ""
    if not unicodedata.is_normalized("NFKC", text):  # the quick check is far cheaper
        text = unicodedata.normalize("NFKC", text)
    folded = text.casefold()
    return " ".join(_WORDS.findall(_MARKS.sub("", folded)))


def shingles(text: str, n: int = 3) -> list[str]:
    """Return word n-gram shingles of normalised text (the words themselves when short)."""
    words = normalise_for_hash(text).split()
    if len(words) < n:
        return words
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def _content_form(text: str) -> str:
    """Text as the content hash sees it: NFKC, case-folded, marks removed, spacing collapsed."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return " ".join(_MARKS.sub("", text.casefold()).split())


def content_hash(title: str | None, text: str | None) -> str:
    """Return the SHA-1 hex digest of the title and text in their content form.

    Case, Arabic marks, invisible controls and spacing do not change it; any change of
    words or punctuation does (and is stored as an update of the article).
    """
    body = _content_form(title or "") + "\n" + _content_form(text or "")
    return hashlib.sha1(body.encode("utf-8")).hexdigest()
