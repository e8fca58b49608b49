"""Prometheus metrics of one bot process (prometheus-client, one registry per process).

Counted where they happen: Bot API calls by method and outcome (the aiohttp transport's
observer: HTTP status, ``timeout`` or ``network``; sends are ``sendMessage`` with 200,
429s are outcome ``429``), ingest ticks' duration, source polls by outcome (``ok``,
``not_modified``, ``failed``; recorded with each poll), and search latency (the search
service times each ranking). Read when scraped: outbox depth,
sources by health, the last successful poll (database), loop lag (the monitor) and
SQLite's heap in this process.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.looplag import LoopLagMonitor
from storage.sqlite_memory import memory_used

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

REGISTRY: Final = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # RSS, CPU seconds, open files of this process

API_CALLS: Final = Counter(
    "akhbar_bot_api_calls",
    "Bot API calls by method and outcome (HTTP status, timeout or network)",
    ["method", "outcome"],
    registry=REGISTRY,
)
INGEST_SECONDS: Final = Histogram(
    "akhbar_ingest_tick_seconds",
    "Duration of one ingest tick (poll due sources, fan out, enqueue digests)",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SEARCH_SECONDS: Final = Histogram(
    "akhbar_search_seconds",
    "Duration of one search",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
POLLS: Final = Counter(
    "akhbar_polls",
    "Source polls by outcome (ok, not_modified, failed)",
    ["outcome"],
    registry=REGISTRY,
)
OUTBOX: Final = Gauge(
    "akhbar_outbox_rows", "Outbox rows still owed, by state", ["state"], registry=REGISTRY
)
SOURCES: Final = Gauge(
    "akhbar_sources",
    "Enabled sources by health (ok, failing, paused)",
    ["state"],
    registry=REGISTRY,
)
LAST_POLL: Final = Gauge(
    "akhbar_last_successful_poll_timestamp_seconds",
    "Unix time of the latest poll that ended without an error (0: none yet)",
    registry=REGISTRY,
)


SQLITE_MEMORY: Final = Gauge(
    "akhbar_sqlite_memory_bytes",
    "Heap held by SQLite in this process (page caches, statements; 0 on PostgreSQL)",
    registry=REGISTRY,
)
SQLITE_MEMORY.set_function(lambda: float(memory_used() or 0))


def observe_api(method: str, outcome: str) -> None:
    """Count one Bot API call (the transport's `on_response` observer)."""
    API_CALLS.labels(method, outcome).inc()


def poll_outcome(error: str | None, not_modified: bool) -> str:
    """The outcome label of one recorded poll."""
    if error is not None:
        return "failed"
    return "not_modified" if not_modified else "ok"


def count_poll(error: str | None, not_modified: bool) -> None:
    """Count one recorded poll by its outcome."""
    POLLS.labels(poll_outcome(error, not_modified)).inc()


def set_database_figures(
    outbox: dict[str, int], sources: dict[str, int], last_poll: datetime | None
) -> None:
    """Store the figures read from the database for the next scrape."""
    for state, count in outbox.items():
        OUTBOX.labels(state).set(count)
    for state, count in sources.items():
        SOURCES.labels(state).set(count)
    LAST_POLL.set(last_poll.timestamp() if last_poll is not None else 0)


class LoopLagCollector(Collector):
    """Loop lag figures read from a monitor at scrape time."""

    def __init__(self, monitor: LoopLagMonitor) -> None:
        """Read from `monitor`."""
        self.monitor = monitor

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """p50/p99/max over the monitor's window, and stalls since start."""
        stats = self.monitor.stats()
        lag = GaugeMetricFamily(
            "akhbar_loop_lag_seconds",
            "Event-loop lag over the recent window, by quantile (1 = max)",
            labels=["quantile"],
        )
        lag.add_metric(["0.5"], stats.p50_ms / 1000)
        lag.add_metric(["0.99"], stats.p99_ms / 1000)
        lag.add_metric(["1"], stats.max_ms / 1000)
        yield lag
        stalls = CounterMetricFamily(
            "akhbar_loop_stalls", "Event-loop stalls over the threshold since start"
        )
        stalls.add_metric([], stats.stalls)
        yield stalls


def render() -> bytes:
    """The exposition text of every metric of this process."""
    return generate_latest(REGISTRY)
