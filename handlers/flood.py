"""Per-chat flood limit: at most N commands per window; one polite reply, then silence."""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Final

DEFAULT_LIMIT: Final = 20
DEFAULT_WINDOW: Final = 60.0
MAX_TRACKED: Final = 50_000


class Verdict(enum.Enum):
    """What to do with one command."""

    ALLOW = "allow"
    WARN = "warn"  # over the limit: reply politely once
    DROP = "drop"  # over the limit and already warned: stay silent


@dataclass
class _ChatWindow:
    """Recent command times of one chat and whether it was warned in this burst."""

    times: deque[float] = field(default_factory=deque)
    warned: bool = False


class FloodGuard:
    """A sliding-window counter per chat (in memory, per process)."""

    def __init__(self, limit: int = DEFAULT_LIMIT, window: float = DEFAULT_WINDOW) -> None:
        """Allow `limit` commands per `window` seconds per chat."""
        self.limit = limit
        self.window = window
        self._chats: dict[int, _ChatWindow] = {}

    def check(self, chat_id: int, now: float) -> Verdict:
        """Count one command of a chat at time `now` (seconds) and judge it."""
        state = self._chats.get(chat_id)
        if state is None:
            if len(self._chats) >= MAX_TRACKED:
                self._prune(now)
            state = self._chats.setdefault(chat_id, _ChatWindow())
        while state.times and state.times[0] <= now - self.window:
            state.times.popleft()
        if len(state.times) < self.limit:
            state.times.append(now)
            state.warned = False
            return Verdict.ALLOW
        if state.warned:
            return Verdict.DROP
        state.warned = True
        return Verdict.WARN

    def _prune(self, now: float) -> None:
        """Forget chats with no command in the window."""
        idle = [
            c for c, s in self._chats.items() if not s.times or s.times[-1] <= now - self.window
        ]
        for chat_id in idle:
            del self._chats[chat_id]
