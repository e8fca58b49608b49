"""What every worker process the bot starts shares: capped malloc arenas, and it ends
itself when the bot is gone.

A process pool is stopped by its parent; a parent killed outright (SIGKILL, the crash tests)
stops nothing, so each worker watches its parent's pid from a daemon thread and exits once
it changes. Workers cap glibc's arenas as the bot process does (`bot.allocator`), before
they start any thread.
"""

from __future__ import annotations

import os
import threading
import time

from bot.allocator import cap_malloc_arenas

PARENT_CHECK_S = 1.0  # how often a worker checks that its parent still runs


def _exit_when_orphaned(parent: int, every: float) -> None:
    """Block until `parent` is no longer this process's parent, then leave at once."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)


def end_with_parent(parent: int, every: float = PARENT_CHECK_S) -> None:
    """In a worker process: exit as soon as `parent` (the bot process) has gone."""
    threading.Thread(
        target=_exit_when_orphaned, args=(parent, every), name="parent-watch", daemon=True
    ).start()


def settle_worker(parent: int) -> None:
    """Worker start-up shared by every pool: cap malloc arenas, then end with `parent`."""
    cap_malloc_arenas()
    end_with_parent(parent)
