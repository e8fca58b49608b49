"""Pure scheduling decisions for source polling: next poll time, backoff and pausing."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_BACKOFF_S = 24 * 3600
MIN_INTERVAL_S = 1  # AKHBAR_POLL_SECONDS may be as low as 1 (tests, local demos)
JITTER_SHARE = 0.1
DEFAULT_PAUSE_LIMIT = 20


def backoff_seconds(interval_s: float, error_count: int) -> float:
    """Return the delay after error_count consecutive failures (doubling, capped at 24 h)."""
    base = max(float(MIN_INTERVAL_S), float(interval_s))
    if error_count <= 0:
        return min(base, float(MAX_BACKOFF_S))
    exponent = min(error_count, 32)
    return min(base * (2.0**exponent), float(MAX_BACKOFF_S))


def next_poll(
    now: datetime,
    interval_s: float,
    error_count: int,
    retry_after_s: float | None = None,
    max_age_s: float | None = None,
    jitter: float = 0.0,
) -> datetime:
    """Return when to poll next: interval or backoff, stretched by server hints, plus jitter."""
    delay = backoff_seconds(interval_s, error_count)
    if retry_after_s is not None and retry_after_s > 0:
        delay = max(delay, min(float(retry_after_s), float(MAX_BACKOFF_S)))
    if error_count <= 0 and max_age_s is not None and max_age_s > 0:
        delay = max(delay, min(float(max_age_s), float(MAX_BACKOFF_S)))
    fraction = min(max(jitter, 0.0), 1.0)
    delay += delay * JITTER_SHARE * fraction
    return now + timedelta(seconds=delay)


def should_pause(error_count: int, limit: int = DEFAULT_PAUSE_LIMIT) -> bool:
    """Tell whether a source with error_count consecutive failures should be paused."""
    return limit > 0 and error_count >= limit
