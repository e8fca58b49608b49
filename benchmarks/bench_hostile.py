"""Hostile-item benchmark: a feed with one 5 MB item ingested while 1,000 pushes go out.

    .venv/bin/python benchmarks/bench_hostile.py [--item-mb 5] [--sends 1000] [--budget 250]
        [--heavy-chars N]

One process runs, on one event loop, what `akhbar run` runs: `IngestService.poll_due`
polls a feed served locally over HTTP (a child process) whose first item is hostile
(`--item-mb` of HTML nested 200 deep, full of "etc." abbreviation dots, with runs of
20,000 letters without a space; plus 20 ordinary items), while the real fan-out and
`DeliveryWorker` send `--sends` pushes (one article followed by that many chats) at a
budget of `--budget` msg/s to the fake Bot API (tests/fakebotapi.py, a child process).

Printed: event-loop lag p50/p99/max over the run, sampled every 10 ms by
`bot.looplag.LoopLagMonitor` (targets p99 < 100 ms, max < 250 ms), pushes per second
(first to last send as the fake API saw them, and end to end), the ingest's seconds and
what it stored. `--heavy-chars` sets the input size from which ingest's CPU work goes to a
worker process instead of a thread (0: always a process; a huge value: always a thread),
when the IngestService in use supports it.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telegram import Bot  # noqa: E402

from benchmarks.bench_delivery import TOKEN, arrivals, fresh_url, seed, sent_count  # noqa: E402
from benchmarks.bench_ingest import serve  # noqa: E402
from bot.app import build_services  # noqa: E402
from bot.delivery import DeliveryWorker, FanOut, TelegramSender, WorkerTuning  # noqa: E402
from bot.fetch import Fetcher, FetchLimits  # noqa: E402
from bot.ingest import IngestService  # noqa: E402
from bot.looplag import LoopLagMonitor, settle_startup_heap  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.telegram_request import AiohttpRequest  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.repos.sources import SourceRepo  # noqa: E402
from tests.fakebotapi import spawn  # noqa: E402

DEPTH = 200  # nesting of the hostile item's HTML (lxml keeps the text up to 254 levels)
RUN_CHARS = 20_000  # letters without a space, every 50 paragraphs
ABBREVIATED = "Prices rose for rice, flour, sugar etc. and traders said etc. etc. that more would follow. "
ORDINARY_ITEMS = 20


def hostile_html(size: int) -> str:
    """About `size` characters of deep HTML with many abbreviation dots and long unbroken runs."""
    parts = ["<div>" * DEPTH]
    total, paragraph = 5 * DEPTH, ABBREVIATED * 20
    i = 0
    while total < size:
        if i % 50 == 0:
            parts.append(f"<p>{'x' * RUN_CHARS}</p>")
            total += RUN_CHARS + 7
        parts.append(f"<p>{paragraph}</p>")
        total += len(paragraph) + 7
        i += 1
    parts.append("</div>" * DEPTH)
    return "".join(parts)


def hostile_feed(item_bytes: int) -> bytes:
    """An RSS 2.0 feed: the hostile item first, then ordinary ones."""
    ordinary = "".join(
        f"<item><guid>ok-{i}</guid><link>http://127.0.0.1/ok/{i}</link>"
        f"<title>Ordinary report {i} on the port strike</title>"
        f"<description>Dock workers stayed out on day {i}. Talks resume on Monday.</description>"
        "</item>"
        for i in range(ORDINARY_ITEMS)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>h</title>'
        "<item><guid>hostile</guid><link>http://127.0.0.1/hostile</link>"
        "<title>Hostile item</title>"
        f"<content:encoded>{escape(hostile_html(item_bytes))}</content:encoded></item>"
        f"{ordinary}</channel></rss>"
    ).encode()


def ingest_service(
    db: Database, fetcher: Fetcher, services: Any, settings: Settings, heavy: int | None
) -> IngestService:
    """An IngestService over the bench's database (with `heavy_chars` when it takes one)."""
    kwargs: dict[str, Any] = {}
    if heavy is not None and "heavy_chars" in inspect.signature(IngestService).parameters:
        kwargs["heavy_chars"] = heavy
    return IngestService(db, fetcher, services.stories, settings, **kwargs)


async def run(args: argparse.Namespace, folder: Path, base_url: str) -> dict[str, Any]:
    """Seed, then poll the hostile feed while the pushes go out; the figures."""
    url = await asyncio.to_thread(fresh_url, folder, "hostile")
    settings = Settings(
        database_url=url,
        telegram_bot_token=TOKEN,
        max_messages_per_second=args.budget,
        allow_private_sources=True,
    )
    db = Database(url)
    services = await build_services(settings, db)
    await seed(db, args.sends)
    feeds = folder / "feeds"
    feeds.mkdir()
    (feeds / "hostile.xml").write_bytes(hostile_feed(int(args.item_mb * 1024 * 1024)))
    server, port = serve(feeds)
    async with db.unit_of_work() as session:
        await SourceRepo(session).add(f"http://127.0.0.1:{port}/hostile.xml", "hostile")
    bot = Bot(TOKEN, base_url=base_url, request=AiohttpRequest(connection_pool_size=128))
    await bot.initialize()
    worker = DeliveryWorker(
        db,
        TelegramSender(bot),
        services.pushes.compose,
        holder="bench",
        max_per_second=args.budget,
        tuning=WorkerTuning(lease_seconds=settings.lease_seconds),
    )
    fanned = await FanOut(db, holder="bench").run_until_idle()
    assert fanned.enqueued == args.sends, fanned
    if not args.no_freeze:
        settle_startup_heap()  # as `akhbar run` does once its services are built
    limits = FetchLimits(max_bytes=64 * 1024 * 1024, total_timeout_s=600, read_timeout_s=600)
    monitor = LoopLagMonitor(interval_s=0.01, window=1_000_000)
    spans: dict[str, float] = {}

    async def pushes() -> None:
        started = time.perf_counter()
        while await sent_count(db) < args.sends:
            if (await worker.run_once()).claimed == 0:
                await asyncio.sleep(0.02)
        spans["pushes"] = time.perf_counter() - started

    async with Fetcher(allow_private=True, limits=limits) as fetcher:
        service = ingest_service(db, fetcher, services, settings, args.heavy_chars)

        async def ingest() -> Any:
            started = time.perf_counter()
            report = await service.poll_due("bench")
            spans["ingest"] = time.perf_counter() - started
            return report

        monitor.start()
        started = time.perf_counter()
        report, _ = await asyncio.gather(ingest(), pushes())
        spans["total"] = time.perf_counter() - started
        await monitor.stop()
    server.kill()
    server.wait()
    await bot.shutdown()
    await db.dispose()
    lag = monitor.stats()
    return {
        "lag_p50_ms": round(lag.p50_ms, 1),
        "lag_p99_ms": round(lag.p99_ms, 1),
        "lag_max_ms": round(lag.max_ms, 1),
        "lag_samples": lag.samples,
        "pushes_end_to_end_per_s": round(args.sends / spans["pushes"], 1),
        "ingest_seconds": round(spans["ingest"], 2),
        "total_seconds": round(spans["total"], 2),
        "ingest": {"new": report.new, "failed": report.failed, "errors": report.errors[:3]},
    }


def main() -> None:
    """Run once and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--item-mb", type=float, default=5.0)
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--budget", type=float, default=250.0)
    parser.add_argument("--heavy-chars", type=int, default=None)
    parser.add_argument(
        "--no-freeze", action="store_true", help="skip settle_startup_heap (measure without it)"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="akhbar-hostile-"))
    with spawn() as control:
        figures = asyncio.run(run(args, folder, control.base_url))
        seen = arrivals(control)
    api_rate = (len(seen) - 1) / (seen[-1] - seen[0]) if len(seen) > 1 else 0.0
    figures["pushes_at_api_per_s"] = round(api_rate, 1)
    figures["targets"] = "lag p99 < 100 ms, max < 250 ms"
    print(json.dumps({"item_mb": args.item_mb, "sends": args.sends, "budget": args.budget, **figures}))


if __name__ == "__main__":
    main()
