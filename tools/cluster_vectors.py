"""Cached use-m3 vectors of headline + lead for the clustering sweeps (a cache under /tmp).

Vectors are keyed by the SHA-1 of the embedded text (`embedding_text`, as the linker
embeds articles), so one cache serves the gva dev events and the NTREX stream (which
re-dates gva articles but keeps their text). Missing texts are embedded with the
default encoder in this process (one BLAS thread) and added to the cache.

    .venv/bin/python tools/cluster_vectors.py   # fill the cache for both streams
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.pipeline.encoder import Vectors, embedding_text  # noqa: E402
from tests.datapaths import DATA_DIR  # noqa: E402
from tests.quality_eval import load_jsonl  # noqa: E402
from tests.xling_stream import build_stream  # noqa: E402

CACHE = Path(os.environ.get("CLUSTER_VECTORS", "/tmp/clusterenc-use-m3.npz"))


def text_key(text: str) -> str:
    """Cache key of an embedded text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def record_text(record: dict[str, Any]) -> str:
    """The text an article record is embedded by (headline and lead)."""
    return embedding_text(
        record.get("title") or "", record.get("text") or "", record.get("lede") or ""
    )


def load_cache(path: Path = CACHE) -> dict[str, Vectors]:
    """Cached vectors by text key (empty when there is no cache)."""
    if not path.exists():
        return {}
    with np.load(path) as data:
        return {
            str(k): np.asarray(v, dtype=np.float32)
            for k, v in zip(data["keys"], data["rows"], strict=True)
        }


def save_cache(cache: dict[str, Vectors], path: Path = CACHE) -> None:
    """Write the cache (keys and stacked rows)."""
    keys = sorted(cache)
    np.savez(path, keys=np.array(keys), rows=np.stack([cache[k] for k in keys]))


def vectors_for(records: Sequence[dict[str, Any]], path: Path = CACHE) -> list[Vectors]:
    """One unit vector per record, from the cache; texts not yet cached are embedded first."""
    cache = load_cache(path)
    texts = [record_text(r) for r in records]
    missing = sorted({t for t in texts if text_key(t) not in cache})
    if missing:
        from bot.embeddings import load_encoder

        encoder, reason = load_encoder("use-m3")
        if encoder is None:
            raise SystemExit(reason)
        start = time.process_time()
        for i in range(0, len(missing), 64):
            batch = missing[i : i + 64]
            for text, row in zip(batch, encoder.embed(batch), strict=True):
                cache[text_key(text)] = row
        spent = time.process_time() - start
        print(f"embedded {len(missing)} texts in {spent:.1f} CPU-s", file=sys.stderr)
        save_cache(cache, path)
    return [cache[text_key(t)] for t in texts]


def gva_rows() -> list[dict[str, Any]]:
    """The gva dev event articles in file order."""
    return load_jsonl(DATA_DIR / "gva_event_clusters" / "articles.jsonl")


def ntrex_stream() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The cross-language stream of tests/test_xlink.py and its gold events."""
    return build_stream(
        DATA_DIR / "ntrex_ar_en" / "docs.jsonl",
        DATA_DIR / "saudinewsnet" / "articles.jsonl",
        DATA_DIR / "gva_event_clusters" / "articles.jsonl",
    )


def main() -> None:
    """Fill the cache for the gva dev events and the NTREX stream."""
    gva = vectors_for(gva_rows())
    stream = vectors_for(ntrex_stream()[0])
    print(f"{CACHE}: gva {len(gva)}, NTREX stream {len(stream)} vectors")


if __name__ == "__main__":
    main()
