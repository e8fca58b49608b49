"""Event-loop lag: how late the loop wakes a task that asked to sleep.

A task sleeps `interval_s` again and again; each wake-up later than asked is lag, the time
every other coroutine (updates, sends, lease renewals) also waited. The monitor keeps the
last `window` samples for p50/p99/max, logs a warning for every stall over `stall_s`
(250 ms by default), and can publish its figures to the database so `akhbar status` (a
different process) shows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Final

log = logging.getLogger("akhbar.looplag")

INTERVAL_S: Final = 0.1
WINDOW: Final = 3000  # five minutes of samples at 0.1 s
STALL_S: Final = 0.25
STATE_PREFIX: Final = "looplag:"


def settle_startup_heap() -> int:
    """Collect once, then freeze what start-up built so no later full collection rescans it.

    A full (generation 2) collection walks every tracked object and runs on the event loop's
    thread: with the modules, services and loaded stories of a running bot (about 200,000
    objects) one took 130-190 ms, the longest stall `bench_hostile.py` measured. Frozen
    objects still die by reference counting; only cycles among them would stay (start-up
    state, once). Returns how many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@dataclass(frozen=True, slots=True)
class LagStats:
    """Loop-lag figures over the recent window, in milliseconds."""

    samples: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    stalls: int = 0  # stalls over the threshold since the monitor started
    worst_ms: float = 0.0  # the largest lag since the monitor started

    def to_json(self) -> str:
        """The figures as one JSON object."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LagStats:
        """Figures read back from `to_json` (unknown keys ignored)."""
        data = json.loads(text)
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def line(self) -> str:
        """One line for `akhbar status` and logs."""
        return (
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, max {self.max_ms:.1f} ms "
            f"over {self.samples} samples; {self.stalls} stalls over "
            f"{STALL_S * 1000:.0f} ms (worst {self.worst_ms:.0f} ms)"
        )


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarise_lags(lags_s: Iterable[float], stalls: int = 0, worst_s: float = 0.0) -> LagStats:
    """p50/p99/max (ms) of lag samples in seconds."""
    ordered = sorted(lags_s)
    return LagStats(
        samples=len(ordered),
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        max_ms=(ordered[-1] if ordered else 0.0) * 1000,
        stalls=stalls,
        worst_ms=max(worst_s, ordered[-1] if ordered else 0.0) * 1000,
    )


class LoopLagMonitor:
    """Samples the running loop's lag in a background task."""

    def __init__(
        self,
        *,
        interval_s: float = INTERVAL_S,
        window: int = WINDOW,
        stall_s: float = STALL_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """Configure; `start` begins sampling on the running loop."""
        self.interval_s = interval_s
        self.stall_s = stall_s
        self._clock = clock
        self._lags: deque[float] = deque(maxlen=max(1, window))
        self._stalls = 0
        self._worst = 0.0
        self._task: asyncio.Task[None] | None = None

    def record(self, lag_s: float) -> None:
        """Add one sample; a stall over the threshold is logged."""
        lag_s = max(0.0, lag_s)
        self._lags.append(lag_s)
        self._worst = max(self._worst, lag_s)
        if lag_s > self.stall_s:
            self._stalls += 1
            log.warning("event loop stalled for %.0f ms", lag_s * 1000)

    def stats(self) -> LagStats:
        """The figures over the current window."""
        return summarise_lags(self._lags, self._stalls, self._worst)

    async def _run(self) -> None:
        """Sleep, measure how late the wake-up was, repeat."""
        while True:
            started = self._clock()
            await asyncio.sleep(self.interval_s)
            self.record(self._clock() - started - self.interval_s)

    def start(self) -> None:
        """Begin sampling (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="looplag")

    async def stop(self) -> None:
        """Stop sampling."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def state_name(instance: str) -> str:
    """The app_state row a process publishes its figures under."""
    return STATE_PREFIX + instance


def published_at(stats_json: str) -> datetime | None:
    """When a published row was written (None if the row carries no time)."""
    data = json.loads(stats_json)
    stamp = data.get("at")
    return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None


def publication(stats: LagStats, now: datetime | None = None) -> str:
    """The JSON a process stores: its figures and when."""
    data = json.loads(stats.to_json())
    data["at"] = (now or datetime.now(UTC)).isoformat()
    return json.dumps(data, sort_keys=True)


def status_lines(published: dict[str, str], now: datetime) -> list[str]:
    """`akhbar status` lines for the figures processes published (newest first, with age)."""
    rows: list[tuple[datetime, str]] = []
    for name, text in published.items():
        at = published_at(text) or datetime.min.replace(tzinfo=UTC)
        age = max(0, int((now - at).total_seconds()))
        instance = name.removeprefix(STATE_PREFIX)
        rows.append((at, f"loop lag {instance} ({age} s ago): {LagStats.from_json(text).line()}"))
    return [line for _at, line in sorted(rows, reverse=True)]
