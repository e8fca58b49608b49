"""Ingest's CPU work off the event loop: small inputs in a thread, large ones in a process.

A worker thread keeps the loop running, but under the GIL a thread that parses or
summarises megabytes takes the interpreter from the loop for a switch interval at a time,
again and again, for seconds (`benchmarks/bench_hostile.py`: loop-lag p99 over 300 ms with
a 5 MB item in a thread). Inputs of `heavy_chars` characters or more therefore go to a
worker process (spawned on first use, shared by every service of the process; the spawned
interpreter imports the main module again, which must guard its entry point with
`if __name__ == "__main__"`); the loop only awaits the result. Ordinary articles stay in
threads: in a process their sentence analyses would be lost to the clusterer, which reads
them again in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, Final, TypeVar

from bot.worker_process import settle_worker

HEAVY_CHARS: Final = 100_000  # input size from which the work goes to a worker process
PROCESSES: Final = 1
WORKER_NICENESS: Final = 10  # on a busy machine the event loop's process gets the CPU first
# The steps a worker runs, imported when it starts rather than with its first input.
PRELOAD: Final = ("bot.pipeline.candidates", "bot.pipeline.normalise")

T = TypeVar("T")

_pools: dict[int, ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()


def _start_worker(parent: int) -> None:
    """Worker start-up: lower priority than the loop, the steps imported, ends with its
    parent; Ctrl-C stops the parent, which ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settle_worker(parent)
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    for module in PRELOAD:
        importlib.import_module(module)


def _pool(processes: int) -> ProcessPoolExecutor:
    """The shared pool of `processes` spawned workers (created on first use)."""
    with _pools_lock:
        pool = _pools.get(processes)
        if pool is None:
            pool = ProcessPoolExecutor(
                processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
            _pools[processes] = pool
        return pool


def _discard(processes: int, pool: ProcessPoolExecutor) -> None:
    """Forget a broken pool (a worker died), so the next call starts a fresh one."""
    with _pools_lock:
        if _pools.get(processes) is pool:
            del _pools[processes]
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_workers() -> None:
    """Stop every worker process (they exit at interpreter exit anyway)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True)


class OffLoop:
    """Runs pure functions off the event loop, choosing thread or process by input size."""

    def __init__(self, heavy_chars: int = HEAVY_CHARS, processes: int = PROCESSES) -> None:
        """`processes` 0 keeps all work in threads."""
        self.heavy_chars = heavy_chars
        self.processes = processes

    def in_process(self, size: int) -> bool:
        """Whether work on an input of `size` characters goes to a worker process."""
        return self.processes > 0 and size >= self.heavy_chars

    async def worker_cpu_seconds(self) -> float:
        """CPU seconds the worker process (with several: one of them) has used; starts it if needed."""
        if self.processes <= 0:
            return 0.0
        return await self.run(max(self.heavy_chars, 0), time.process_time)

    async def thread(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker thread; its result."""
        return await asyncio.to_thread(fn, *args)

    async def run(self, size: int, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker process (large input) or a thread; its result."""
        if not self.in_process(size):
            return await self.thread(fn, *args)
        pool = _pool(self.processes)
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, partial(fn, *args))
        except BrokenProcessPool:
            _discard(self.processes, pool)
            raise
