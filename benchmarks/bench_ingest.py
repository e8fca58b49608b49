"""Ingest benchmark: saudinewsnet into a fresh SQLite file, as JSONL and as locally served RSS.

    .venv/bin/python benchmarks/bench_ingest.py [--mode jsonl|rss|both] [--limit N]

Each mode runs in its own process so peak memory (ru_maxrss) is per mode. `seconds` is
wall time of the ingest alone; `cpu_seconds` is the CPU time over the same span of this
process (all threads, including aiosqlite's) plus ingest's worker process (parsing and
normalising of large inputs run there, see bot/ingest/offloop.py), a steadier figure on a
shared machine; `main_cpu_seconds` is this process's share, the event loop's. The worker is
started before the timed span, as in a running bot (`worker_start_cpu_seconds`: what its
start cost). In `rss` mode the feeds are served by a child process (`python -m
http.server`), so its CPU is not counted. `loop_lag_*_ms`: how late the event loop woke a
task sleeping 10 ms at a time during the ingest (`bot.looplag.LoopLagMonitor`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.fetch import Fetcher, FetchLimits  # noqa: E402
from bot.ingest import IngestService  # noqa: E402
from bot.looplag import LoopLagMonitor  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.stories import StoryService  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.repos.sources import SourceRepo  # noqa: E402

DATA = (
    Path(os.environ.get("AKHBAR_DATA_DIR", ROOT.parent / "shared" / "data"))
    / "saudinewsnet"
    / "articles.jsonl"
)


def load(limit: int | None) -> list[dict[str, Any]]:
    """The data set sorted by published time."""
    records = [json.loads(line) for line in DATA.open(encoding="utf-8") if line.strip()]
    records.sort(key=lambda r: str(r.get("published") or ""))
    return records[:limit] if limit else records


def rss_for(outlet: str, records: list[dict[str, Any]]) -> bytes:
    """One RSS 2.0 feed holding an outlet's articles."""
    items = []
    for r in records:
        published = datetime.fromisoformat(str(r["published"])).replace(tzinfo=UTC)
        items.append(
            f"<item><guid>{escape(r['id'])}</guid><link>{escape(r['url'])}</link>"
            f"<title>{escape(r.get('title') or '')}</title>"
            f"<description>{escape(r.get('text') or '')}</description>"
            f"<pubDate>{format_datetime(published)}</pubDate></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(outlet)}</title><link>http://127.0.0.1/</link><language>ar</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Serve a folder on 127.0.0.1 from a child process (its CPU is not the ingest's)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("the feed server did not start")


async def run(mode: str, limit: int | None) -> dict[str, Any]:
    """Ingest in one mode and return the figures."""
    records = load(limit)
    tmp = Path(tempfile.mkdtemp(prefix="akhbar-bench-"))
    url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    settings = Settings(allow_private_sources=True)
    stories = StoryService(db)
    limits = FetchLimits(max_bytes=200 * 1024 * 1024, total_timeout_s=600, read_timeout_s=600)
    async with Fetcher(allow_private=True, limits=limits) as fetcher:
        service = IngestService(db, fetcher, stories, settings)
        worker_start = await service.offloop.worker_cpu_seconds()
        monitor = LoopLagMonitor(interval_s=0.01, window=1_000_000)
        if mode == "jsonl":
            monitor.start()
            started, cpu_started = time.perf_counter(), time.process_time()
            report = await service.ingest_records(records)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        else:
            feeds = tmp / "feeds"
            feeds.mkdir()
            by_outlet: dict[str, list[dict[str, Any]]] = {}
            for r in records:
                by_outlet.setdefault(str(r.get("source") or "unknown"), []).append(r)
            for outlet, items in by_outlet.items():
                (feeds / f"{outlet}.xml").write_bytes(rss_for(outlet, items))
            server, port = serve(feeds)
            async with db.unit_of_work() as session:
                repo = SourceRepo(session)
                for outlet in by_outlet:
                    await repo.add(f"http://127.0.0.1:{port}/{outlet}.xml", outlet, lang="ar")
            monitor.start()
            started, cpu_started = time.perf_counter(), time.process_time()
            report = await service.poll_due("bench", limit=100)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            server.kill()
            server.wait()
        await monitor.stop()
        worker_cpu = await service.offloop.worker_cpu_seconds() - worker_start
    await db.dispose()
    total_cpu = cpu + worker_cpu
    handled = report.new + report.updated + report.duplicate + report.failed
    return {
        "mode": mode,
        "sources": 12 if mode == "rss" else len({r.get("source") for r in records}),
        "articles": handled,
        "new": report.new,
        "duplicate": report.duplicate,
        "syndicated": report.syndicated,
        "failed": report.failed,
        "seconds": round(elapsed, 2),
        "articles_per_s": round(handled / elapsed, 1) if elapsed else 0.0,
        "cpu_seconds": round(total_cpu, 2),
        "articles_per_cpu_s": round(handled / total_cpu, 1) if total_cpu else 0.0,
        "main_cpu_seconds": round(cpu, 2),
        "worker_start_cpu_seconds": round(worker_start, 2),
        "loop_lag_p99_ms": round(monitor.stats().p99_ms, 1),
        "loop_lag_max_ms": round(monitor.stats().max_ms, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    """Run one mode here, or both in child processes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["jsonl", "rss", "both"], default="both")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if args.mode != "both":
        print(json.dumps(asyncio.run(run(args.mode, args.limit))), flush=True)
        return
    for mode in ("jsonl", "rss"):
        cmd = [sys.executable, __file__, "--mode", mode]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
