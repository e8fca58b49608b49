"""What every worker process the bot starts shares: it ends itself when the bot is gone.

A process pool is stopped by its parent; a parent killed outright (SIGKILL, the crash tests)
stops nothing, so each worker watches its parent's pid from a daemon thread and exits once
it changes.
"""

from __future__ import annotations

import os
import threading
import time

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
