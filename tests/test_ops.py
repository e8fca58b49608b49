"""Loop-lag monitor, /healthz and /metrics over real HTTP on 127.0.0.1 (both engines)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot import metrics
from bot.looplag import (
    LagStats,
    LoopLagMonitor,
    percentile,
    publication,
    settle_startup_heap,
    status_lines,
    summarise_lags,
)
from bot.ops_http import Operations
from storage.db import Database
from storage.migrate import upgrade_connection
from storage.repos.sources import SourceRepo
from storage.repos.state import AppStateRepo

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_percentiles_nearest_rank() -> None:
    """p50/p99/max of known samples; empty input gives zeros."""
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    stats = summarise_lags(values, stalls=2)
    assert (stats.samples, stats.p50_ms, stats.p99_ms, stats.max_ms) == (100, 50, 99, 100)
    assert stats.stalls == 2 and stats.worst_ms == 100
    assert summarise_lags([]) == LagStats()
    assert percentile([1.0], 0.99) == 1.0
    assert LagStats.from_json(stats.to_json()) == stats


async def test_monitor_measures_a_stall_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    """Blocking the loop for 300 ms shows as a ~300 ms max lag and one logged stall."""
    monitor = LoopLagMonitor(interval_s=0.01, stall_s=0.25)
    monitor.start()
    try:
        await asyncio.sleep(0.05)
        with caplog.at_level(logging.WARNING, logger="akhbar.looplag"):
            time.sleep(0.3)  # the CPU-bound work a monitor exists to catch
            await asyncio.sleep(0.05)
    finally:
        await monitor.stop()
    stats = monitor.stats()
    assert stats.max_ms >= 250 and stats.stalls == 1 and stats.samples >= 3
    assert any("stalled" in r.getMessage() for r in caplog.records)


@pytest.fixture
async def ops(db: Database) -> AsyncIterator[Operations]:
    """Operations with its HTTP server on a free local port."""
    operations = Operations(db, "test-1", port=0, publish_s=3600)
    await operations.start()
    try:
        yield operations
    finally:
        await operations.stop()


async def get(ops: Operations, path: str) -> tuple[int, str]:
    """GET a path of the ops server; (status, body)."""
    url = f"http://127.0.0.1:{ops.bound_port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_healthz_reports_database_lag_poll_and_outbox(ops: Operations, db: Database) -> None:
    """200 with every figure; the last successful poll appears once a poll succeeded."""
    status, body = await get(ops, "/healthz")
    assert status == 200, body
    data = json.loads(body)
    assert data["status"] == "ok" and data["database"] == "ok"
    assert set(data["loop_lag_ms"]) == {"p50", "p99", "max", "stalls"}
    assert data["outbox"] == {"pending": 0, "claimed": 0}
    assert data["last_successful_poll"] is None
    async with db.unit_of_work() as s:
        source = await SourceRepo(s).add("https://a.example/feed", "A")
        await SourceRepo(s).record_poll(
            source.id, now=T0, next_poll_at=T0 + timedelta(minutes=5), error=None
        )
    data = json.loads((await get(ops, "/healthz"))[1])
    assert datetime.fromisoformat(data["last_successful_poll"]) == T0
    assert data["sources"] == {"ok": 1, "failing": 0, "paused": 0}


async def test_metrics_exposition(ops: Operations) -> None:
    """Prometheus text with loop lag, outbox, sources, Bot API outcomes and process figures."""
    metrics.observe_api("sendMessage", "429")
    status, body = await get(ops, "/metrics")
    assert status == 200
    for name in (
        'akhbar_loop_lag_seconds{quantile="0.99"}',
        "akhbar_loop_stalls_total",
        'akhbar_outbox_rows{state="pending"} 0.0',
        'akhbar_sources{state="ok"}',
        'akhbar_bot_api_calls_total{method="sendMessage",outcome="429"}',
        "akhbar_last_successful_poll_timestamp_seconds",
        "akhbar_ingest_tick_seconds_bucket",
        "process_resident_memory_bytes",
    ):
        assert name in body, name


async def test_published_lag_is_readable_by_status(ops: Operations, db: Database) -> None:
    """The figures a process publishes are stored under its instance name."""
    await ops.publish()
    async with db.unit_of_work() as s:
        rows = await AppStateRepo(s).with_prefix("looplag:")
    assert list(rows) == ["looplag:test-1"]
    assert LagStats.from_json(rows["looplag:test-1"]).samples >= 0


async def test_healthz_503_when_the_database_is_down() -> None:
    """An unreachable database gives 503 with the reason, quickly, and no exception."""
    down = Database("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    operations = Operations(down, "down-1", port=0, publish_s=3600)
    await operations.start()
    try:
        started = time.monotonic()
        status, body = await get(operations, "/healthz")
    finally:
        await operations.stop()
        await down.dispose()
    assert status == 503 and "unreachable" in body
    assert time.monotonic() - started < 5


def test_settled_heap_is_outside_full_collections_and_later_cycles_still_die() -> None:
    """Start-up objects leave the generations a full collection walks; new garbage is still found."""
    start_up = [[i] for i in range(5_000)]
    try:
        frozen = settle_startup_heap()
        assert frozen >= len(start_up)
        walked = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
        assert not any(id(o) in walked for o in start_up)
        cycle: list[object] = []
        cycle.append(cycle)
        probe = weakref.ref(_Probe(cycle))
        del cycle
        gc.collect()
        assert probe() is None
    finally:
        gc.unfreeze()


class _Probe:
    """An object kept alive only by a reference cycle."""

    def __init__(self, cycle: list[object]) -> None:
        """Join the cycle."""
        self.cycle = cycle
        cycle.append(self)


def test_status_lines_newest_first_with_age() -> None:
    """Each published process gets one line naming it, its age and its figures."""
    old = publication(summarise_lags([0.001, 0.3], stalls=1), T0)
    new = publication(summarise_lags([0.002]), T0 + timedelta(seconds=50))
    lines = status_lines({"looplag:a-1": old, "looplag:b-2": new}, T0 + timedelta(seconds=60))
    assert lines[0].startswith("loop lag b-2 (10 s ago): p50 2.0 ms")
    assert lines[1].startswith("loop lag a-1 (60 s ago)") and "1 stalls" in lines[1]
    assert "max 300.0 ms" in lines[1]


def test_akhbar_status_shows_published_loop_lag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`akhbar status` (another process) prints each running process's loop-lag line."""
    from typer.testing import CliRunner

    from bot.cli import app
    from bot.settings import get_settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'status.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()

    async def publish() -> None:
        """Migrate, then publish figures as a running bot would."""
        db = Database(url)
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(upgrade_connection)
            monitor = LoopLagMonitor()
            monitor.record(0.4)
            await Operations(db, "host-42", monitor=monitor).publish()
        finally:
            await db.dispose()

    asyncio.run(publish())
    result = CliRunner().invoke(app, ["status"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "loop lag host-42" in result.output and "max 400.0 ms" in result.output
