"""Pure scheduling decisions: interval, backoff, server hints, jitter, pausing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from bot.pipeline.polling import next_poll, should_pause

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def test_plain_interval() -> None:
    """A healthy source is polled after its interval."""
    assert next_poll(NOW, 300, 0) == NOW + timedelta(seconds=300)


def test_exponential_backoff_capped() -> None:
    """Consecutive failures double the delay, capped at 24 h."""
    delays = [(next_poll(NOW, 300, n) - NOW).total_seconds() for n in range(1, 12)]
    assert delays[:3] == [600, 1200, 2400]
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert max(delays) == 24 * 3600


def test_retry_after_and_max_age() -> None:
    """Retry-After and max-age stretch the delay but never shorten it."""
    assert next_poll(NOW, 300, 0, retry_after_s=3600) == NOW + timedelta(seconds=3600)
    assert next_poll(NOW, 300, 0, max_age_s=900) == NOW + timedelta(seconds=900)
    assert next_poll(NOW, 300, 0, max_age_s=10) == NOW + timedelta(seconds=300)


def test_jitter_bounded() -> None:
    """Jitter adds at most a tenth of the delay."""
    assert next_poll(NOW, 300, 0, jitter=1.0) == NOW + timedelta(seconds=330)
    assert next_poll(NOW, 300, 0, jitter=5.0) == NOW + timedelta(seconds=330)


def test_should_pause() -> None:
    """A source pauses after the limit of consecutive failures."""
    assert not should_pause(19)
    assert should_pause(20)
    assert should_pause(3, limit=3)
