"""Near-duplicate detection: a bounded in-memory index of recent originals' SimHashes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import timedelta

from bot.pipeline.fingerprint import hamming

NEAR_DUPLICATE_BITS = 3
FINGERPRINT_WINDOW = timedelta(days=7)
FINGERPRINT_CAPACITY = 50_000


class FingerprintIndex:
    """Bounded in-memory SimHash index: 4 exact 16-bit bands find every fingerprint ≤ 3 bits away."""

    def __init__(self, capacity: int = FINGERPRINT_CAPACITY) -> None:
        """Create an empty index keeping at most `capacity` fingerprints."""
        self.capacity = capacity
        self._items: OrderedDict[int, int] = OrderedDict()  # article id -> fingerprint
        self._bands: list[dict[int, set[int]]] = [{}, {}, {}, {}]

    def __len__(self) -> int:
        """How many fingerprints are held."""
        return len(self._items)

    @staticmethod
    def _band_values(fp: int) -> list[int]:
        """The four 16-bit bands of a fingerprint."""
        unsigned = fp & ((1 << 64) - 1)
        return [(unsigned >> (16 * i)) & 0xFFFF for i in range(4)]

    def add(self, article_id: int, fp: int) -> None:
        """Index an original's fingerprint, evicting the oldest beyond capacity."""
        if article_id in self._items:
            return
        self._items[article_id] = fp
        for band, value in zip(self._bands, self._band_values(fp), strict=True):
            band.setdefault(value, set()).add(article_id)
        while len(self._items) > self.capacity:
            old_id, old_fp = self._items.popitem(last=False)
            for band, value in zip(self._bands, self._band_values(old_fp), strict=True):
                ids = band.get(value)
                if ids is not None:
                    ids.discard(old_id)
                    if not ids:
                        del band[value]

    def find(self, fp: int, max_bits: int = NEAR_DUPLICATE_BITS) -> int | None:
        """The oldest indexed article within `max_bits` of `fp`, if any."""
        best: int | None = None
        for band, value in zip(self._bands, self._band_values(fp), strict=True):
            for article_id in band.get(value, ()):
                if (best is None or article_id < best) and hamming(
                    fp, self._items[article_id]
                ) <= max_bits:
                    best = article_id
        return best

    def original_of(self, fp: int | None, pending: Sequence[tuple[int, int]]) -> int | None:
        """The indexed or pending (id, fingerprint) original `fp` nearly repeats, if any."""
        if fp is None:
            return None
        original = self.find(fp)
        if original is None:
            for pending_id, pending_fp in pending:
                if hamming(pending_fp, fp) <= NEAR_DUPLICATE_BITS:
                    return pending_id
        return original
