"""Digest and quiet-hour schedule arithmetic across timezones and DST transitions."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.pipeline.schedule import (
    digest_day_due,
    first_digest_at,
    in_quiet_hours,
    local_day,
    local_instant,
    next_digest_at,
    quiet_ends_at,
)

NY, LONDON, RIYADH, KOLKATA = "America/New_York", "Europe/London", "Asia/Riyadh", "Asia/Kolkata"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        (NY, utc(2026, 1, 15, 13, 0)),  # EST -5
        (NY, utc(2026, 7, 15, 12, 0)),  # EDT -4
        (LONDON, utc(2026, 1, 15, 8, 0)),
        (LONDON, utc(2026, 7, 15, 7, 0)),
        (RIYADH, utc(2026, 1, 15, 5, 0)),
        (KOLKATA, utc(2026, 1, 15, 2, 30)),
    ],
)
def test_local_instant_plain_days(tz: str, expected: datetime) -> None:
    """08:00 local maps to the right UTC instant in winter and summer."""
    day = expected.astimezone(UTC).date()
    assert local_instant(day, time(8, 0), tz) == expected


def test_spring_forward_gap_moves_to_transition() -> None:
    """02:30 on a spring-forward day does not exist: it fires at 03:00 local, the transition."""
    assert local_instant(date(2026, 3, 8), time(2, 30), NY) == utc(2026, 3, 8, 7, 0)
    assert local_instant(date(2026, 3, 29), time(1, 15), LONDON) == utc(2026, 3, 29, 1, 0)


def test_fall_back_overlap_fires_at_first_occurrence() -> None:
    """01:30 happens twice on a fall-back day: the first (daylight time) is used."""
    assert local_instant(date(2026, 11, 1), time(1, 30), NY) == utc(2026, 11, 1, 5, 30)
    assert local_instant(date(2026, 10, 25), time(1, 30), LONDON) == utc(2026, 10, 25, 0, 30)


def test_local_day_differs_by_zone() -> None:
    """The same instant is a different calendar day in different zones."""
    now = utc(2026, 5, 1, 23, 0)
    assert local_day(now, NY) == date(2026, 5, 1)
    assert local_day(now, RIYADH) == date(2026, 5, 2)
    assert local_day(now, KOLKATA) == date(2026, 5, 2)


def test_next_digest_moves_past_last_day() -> None:
    """After today's digest, the next is tomorrow; a backwards clock jump never returns today."""
    at = time(8, 0)
    now = utc(2026, 5, 1, 13, 0)  # 09:00 in New York
    assert next_digest_at(now, NY, at, None) == utc(2026, 5, 1, 12, 0)  # due (missed today)
    assert next_digest_at(now, NY, at, date(2026, 5, 1)) == utc(2026, 5, 2, 12, 0)
    back = now - timedelta(days=2)
    assert next_digest_at(back, NY, at, date(2026, 5, 1)) == utc(2026, 5, 2, 12, 0)


def test_digest_day_due() -> None:
    """The owed day is the latest whose instant passed and that was not served yet."""
    at = time(8, 0)
    assert digest_day_due(utc(2026, 5, 1, 11, 0), NY, at, None) == date(2026, 4, 30)
    assert digest_day_due(utc(2026, 5, 1, 12, 0), NY, at, None) == date(2026, 5, 1)
    assert digest_day_due(utc(2026, 5, 1, 12, 0), NY, at, date(2026, 5, 1)) is None
    assert digest_day_due(utc(2026, 5, 9, 12, 0), NY, at, date(2026, 5, 1)) == date(2026, 5, 9)


@pytest.mark.parametrize("tz", [NY, LONDON, RIYADH, KOLKATA])
def test_one_digest_per_local_day_through_a_year(tz: str) -> None:
    """Simulating a scheduler hour by hour for a year (DST included): exactly one per day."""
    at = time(1, 30) if tz in (NY, LONDON) else time(8, 0)  # hits gaps/overlaps in NY/London
    now = utc(2026, 1, 1)
    last: date | None = None
    due_at = first_digest_at(now, tz, at)
    days: list[date] = []
    while now < utc(2027, 1, 1):
        if now >= due_at:
            day = digest_day_due(now, tz, at, last)
            if day is not None:
                days.append(day)
                last = day
            due_at = next_digest_at(now, tz, at, last)
        now += timedelta(minutes=15)
    assert len(days) == len(set(days))
    assert days == sorted(days)
    assert len(days) in (364, 365)
    gaps = {(b - a).days for a, b in itertools.pairwise(days)}
    assert gaps == {1}


def test_first_digest_is_strictly_after_now() -> None:
    """A new chat's first digest is never in the past."""
    now = utc(2026, 5, 1, 12, 0)
    assert first_digest_at(now, NY, time(8, 0)) == utc(2026, 5, 2, 12, 0)
    assert first_digest_at(now, NY, time(9, 0)) == utc(2026, 5, 1, 13, 0)


def test_quiet_hours_plain_and_across_midnight() -> None:
    """Windows inside one day and windows crossing midnight; equal ends mean off."""
    s, e = time(22, 0), time(7, 0)
    assert in_quiet_hours(utc(2026, 5, 1, 20, 0), RIYADH, s, e)  # 23:00 Riyadh
    assert in_quiet_hours(utc(2026, 5, 1, 2, 0), RIYADH, s, e)  # 05:00
    assert not in_quiet_hours(utc(2026, 5, 1, 4, 0), RIYADH, s, e)  # 07:00 exactly
    assert in_quiet_hours(utc(2026, 5, 1, 7, 0), KOLKATA, time(12, 0), time(14, 0))  # 12:30
    assert not in_quiet_hours(utc(2026, 5, 1, 7, 0), KOLKATA, time(9, 0), time(9, 0))
    assert not in_quiet_hours(utc(2026, 5, 1, 7, 0), KOLKATA, None, None)


def test_quiet_ends_at() -> None:
    """The end of the current window is the next local `end` instant."""
    s, e = time(22, 0), time(7, 0)
    assert quiet_ends_at(utc(2026, 5, 1, 20, 0), RIYADH, s, e) == utc(2026, 5, 2, 4, 0)
    assert quiet_ends_at(utc(2026, 5, 1, 2, 0), RIYADH, s, e) == utc(2026, 5, 1, 4, 0)
    outside = utc(2026, 5, 1, 12, 0)
    assert quiet_ends_at(outside, RIYADH, s, e) == outside
    # London, the night clocks go forward (01:00 → 02:00): 7h window ends at 07:00 BST.
    assert quiet_ends_at(utc(2026, 3, 28, 23, 0), LONDON, s, e) == utc(2026, 3, 29, 6, 0)
