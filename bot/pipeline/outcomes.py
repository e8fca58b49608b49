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
- `TopicFallback`: the forum topic the message was sent into is closed or deleted: the
  message is sent again at once into the general topic (no attempt counted), the chat's
  follows and digest setting stop pointing at that topic, and the group is told once.
- `Readdress`: the group became a supergroup with a new id: the chat (settings, follows,
  owed rows) moves there and its rows are due again at once, with no attempt counted.

Every other failure (a transient fault, a rejected token, an error Telegram's client did
not classify, a composer that raised) is a counted attempt with an exponential backoff,
parked after `RetryPolicy.max_attempts`; a rejected token also pauses every chat for the
backoff. So no failure leaves a row due again at once without an attempt recorded.

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


class SendMigrated(SendError):
    """The group became a supergroup: its messages now go to `new_chat_id`."""

    def __init__(self, new_chat_id: int) -> None:
        """Keep the new chat id."""
        super().__init__(f"migrated to {new_chat_id}")
        self.new_chat_id = int(new_chat_id)


class SendTopicGone(SendError):
    """400 for a message sent into a forum topic that is closed or deleted."""


class SendUnauthorized(SendError):
    """401/404: Telegram rejected the bot token; every send fails until it is fixed."""


class SendUnexpected(SendError):
    """A failure nothing above classifies (a bare Telegram error, a 409, any exception)."""


class ComposeFailed(SendError):
    """Composing the message raised: nothing was sent, the message is retried later."""


FAILURE_KINDS: dict[type[SendError], str] = {
    SendTransient: "transient",
    SendUnauthorized: "unauthorized",
    SendUnexpected: "unexpected",
    ComposeFailed: "compose failed",
}


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


@dataclass(frozen=True, slots=True)
class TopicFallback:
    """Forum topic `thread_id` is closed or gone: forget it, send into the general topic."""

    thread_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Readdress:
    """The chat moved to `chat_id`: move it and its owed rows there, due again at `at`."""

    chat_id: int
    at: datetime
    reason: str


Outcome = Retry | Park | Block | PlainFallback | TopicFallback | Readdress


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
    return isinstance(outcome, Block | Readdress) or (
        isinstance(outcome, Retry) and outcome.scope is Scope.REST
    )


def failure_kind(error: SendError) -> str:
    """The short name of a counted failure, the prefix of its recorded reason."""
    return next((k for t, k in FAILURE_KINDS.items() if isinstance(error, t)), "transient")


def decide_outcome(
    error: SendError,
    attempts: int,
    now: datetime,
    *,
    plain: bool = False,
    thread_id: int | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> Outcome:
    """The outcome of one failed send; `attempts` were recorded before it, `plain` says
    whether the failed send was already the plain-text fallback, `thread_id` the forum
    topic it was sent into (None: the chat itself)."""
    if isinstance(error, SendRetryAfter):
        pause = Pause.GLOBAL if error.is_global else Pause.CHAT
        until = now + timedelta(seconds=max(error.seconds, 0.0))
        return Retry(until, str(error), counted=False, scope=Scope.REST, pause=pause)
    if isinstance(error, SendForbidden):
        return Block(f"blocked: {error}")
    if isinstance(error, SendBadContent):
        return Park(now, f"bad content: {error}") if plain else PlainFallback()
    if isinstance(error, SendTopicGone):
        if thread_id is not None:
            return TopicFallback(thread_id, f"topic gone: {error}")
        return Park(now, f"topic gone: {error}")  # not sent into a topic: nothing to drop
    if isinstance(error, SendMigrated):
        return Readdress(error.new_chat_id, now, str(error))
    attempt = attempts + 1
    reason = f"{failure_kind(error)}: {error}"
    if attempt >= policy.max_attempts:
        return Park(now, reason)
    at = now + timedelta(seconds=policy.backoff(attempt))
    everyone = Pause.GLOBAL if isinstance(error, SendUnauthorized) else None
    return Retry(at, reason, counted=True, scope=Scope.MESSAGE, pause=everyone)
