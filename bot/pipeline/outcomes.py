"""Pure delivery outcomes: what a failed send means for its outbox rows.

A `Sender` raises one of the typed `SendError`s below; `decide_outcome` maps the error,
the attempts already recorded for the message and the time into an outcome the delivery
worker applies:

- `Retry`: the rows go back to pending until `at`. After a 429 the rest of the chat's rows
  wait (no attempt counted) and the limiter pauses the chat, or every chat when Telegram's
  answer was global; after a transient fault only this message's rows wait, with an
  attempt counted and an exponential backoff.
- `Park`: the message failed for good (a second bad-content answer, or transient faults
  up to `RetryPolicy.max_attempts`).
- `Block`: the bot was blocked or the chat is gone: the chat is marked blocked and
  everything it is still owed is skipped.
- `PlainFallback`: Telegram rejected the HTML; the message is sent once as plain text.

No I/O and no clock of its own: `now` is passed in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class SendError(Exception):
    """Base of the typed send failures a `Sender` raises."""


class SendRetryAfter(SendError):
    """429: wait `seconds`, for this chat or (`is_global`) for every chat."""

    def __init__(self, seconds: float, is_global: bool = False) -> None:
        """Keep the wait and its scope."""
        super().__init__(f"retry after {seconds}s ({'global' if is_global else 'chat'})")
        self.seconds = float(seconds)
        self.is_global = is_global


class SendForbidden(SendError):
    """403 or chat gone: the bot was blocked or kicked, or the chat does not exist."""


class SendBadContent(SendError):
    """400 the message itself is bad (e.g. "can't parse entities")."""


class SendTransient(SendError):
    """Timeouts, network errors, 5xx: worth retrying later."""


class Scope(enum.StrEnum):
    """Which of the chat's claimed rows an outcome covers."""

    MESSAGE = "message"  # the rows of the message that failed
    REST = "rest"  # that message's rows and every later one of the chat in this claim


class Pause(enum.StrEnum):
    """Which sends the rate limiter holds back after a 429."""

    CHAT = "chat"
    GLOBAL = "global"


@dataclass(frozen=True, slots=True)
class Retry:
    """Back to pending until `at`; `counted` says whether an attempt is recorded."""

    at: datetime
    reason: str
    counted: bool
    scope: Scope
    pause: Pause | None = None


@dataclass(frozen=True, slots=True)
class Park:
    """The message failed for good: its rows are parked as failed at `at`."""

    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Block:
    """The chat blocked the bot or is gone: mark it blocked, skip all it is owed."""

    reason: str


@dataclass(frozen=True, slots=True)
class PlainFallback:
    """Send the message once more, as plain text."""


Outcome = Retry | Park | Block | PlainFallback


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient faults are retried: attempts in all, and the backoff (seconds)."""

    max_attempts: int = 5
    backoff_base: float = 2.0
    backoff_cap: float = 900.0

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1 = the first)."""
        return float(min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))


DEFAULT_POLICY = RetryPolicy()


def ends_chat(outcome: Outcome) -> bool:
    """Whether the chat's later messages in this claim are covered (nothing more is sent)."""
    return isinstance(outcome, Block) or (
        isinstance(outcome, Retry) and outcome.scope is Scope.REST
    )


def decide_outcome(
    error: SendError,
    attempts: int,
    now: datetime,
    *,
    plain: bool = False,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> Outcome:
    """The outcome of one failed send; `attempts` were recorded before it, `plain` says
    whether the failed send was already the plain-text fallback."""
    if isinstance(error, SendRetryAfter):
        pause = Pause.GLOBAL if error.is_global else Pause.CHAT
        until = now + timedelta(seconds=max(error.seconds, 0.0))
        return Retry(until, str(error), counted=False, scope=Scope.REST, pause=pause)
    if isinstance(error, SendForbidden):
        return Block(f"blocked: {error}")
    if isinstance(error, SendBadContent):
        return Park(now, f"bad content: {error}") if plain else PlainFallback()
    attempt = attempts + 1
    reason = f"transient: {error}"
    if attempt >= policy.max_attempts:
        return Park(now, reason)
    at = now + timedelta(seconds=policy.backoff(attempt))
    return Retry(at, reason, counted=True, scope=Scope.MESSAGE)
