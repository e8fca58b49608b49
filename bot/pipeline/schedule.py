"""Pure schedule arithmetic for digests and quiet hours (zoneinfo, DST-correct, clock passed in).

Rules:
- A local wall time that does not exist (spring forward) resolves to the first valid
  instant after it, i.e. the moment of the transition.
- A local wall time that happens twice (fall back) resolves to its first occurrence.
- A chat gets at most one digest per local day: the day is recorded in
  ``last_digest_on`` and every computation moves strictly past it, so a restart or a
  clock jump backwards never produces a second digest for a day already served.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MAX_GAP_MINUTES = 24 * 60


def zone(tz_name: str) -> ZoneInfo:
    """The ZoneInfo for a name, falling back to UTC for unknown or empty names."""
    try:
        return ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    """Whether a naive local wall time exists in `tz` (is not inside a DST gap)."""
    aware = naive.replace(tzinfo=tz)
    back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return back == naive


def local_instant(day: date, at: time, tz_name: str) -> datetime:
    """The UTC instant of local wall time `at` on local `day` (gap → transition, overlap → first)."""
    tz = zone(tz_name)
    naive = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    if _exists(naive, tz):
        return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    probe = naive.replace(second=0, microsecond=0)
    for _ in range(_MAX_GAP_MINUTES):
        probe += timedelta(minutes=1)
        if _exists(probe, tz):
            return probe.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return naive.replace(tzinfo=tz, fold=1).astimezone(UTC)  # pragma: no cover - no such zone


def local_day(now_utc: datetime, tz_name: str) -> date:
    """The chat's local calendar date at `now_utc`."""
    return now_utc.astimezone(zone(tz_name)).date()


def digest_day_due(
    now_utc: datetime, tz_name: str, digest_time: time, last_digest_on: date | None
) -> date | None:
    """The local day whose digest is owed at `now_utc`, or None when none is owed yet.

    That is the latest local day whose digest instant has passed, provided it is later
    than `last_digest_on` (missed older days are not sent one by one after downtime).
    """
    day = local_day(now_utc, tz_name)
    if local_instant(day, digest_time, tz_name) > now_utc:
        day -= timedelta(days=1)
    if last_digest_on is not None and day <= last_digest_on:
        return None
    return day


def next_digest_at(
    now_utc: datetime, tz_name: str, digest_time: time, last_digest_on: date | None
) -> datetime:
    """When the next digest is due: the digest instant of the first local day after
    `last_digest_on` that is not before today (may be <= now, meaning due now)."""
    day = local_day(now_utc, tz_name)
    if last_digest_on is not None and day <= last_digest_on:
        day = last_digest_on + timedelta(days=1)
    return local_instant(day, digest_time, tz_name)


def first_digest_at(now_utc: datetime, tz_name: str, digest_time: time) -> datetime:
    """The first digest instant strictly after `now_utc` (for a new chat or a changed time)."""
    day = local_day(now_utc, tz_name)
    at = local_instant(day, digest_time, tz_name)
    while at <= now_utc:
        day += timedelta(days=1)
        at = local_instant(day, digest_time, tz_name)
    return at


def in_quiet_hours(now_utc: datetime, tz_name: str, start: time | None, end: time | None) -> bool:
    """Whether local time is inside [start, end); windows may cross midnight; start == end is off."""
    if start is None or end is None or start == end:
        return False
    local = now_utc.astimezone(zone(tz_name)).time().replace(tzinfo=None)
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_ends_at(
    now_utc: datetime, tz_name: str, start: time | None, end: time | None
) -> datetime:
    """The instant the current quiet window ends (now_utc itself when not in quiet hours)."""
    if end is None or not in_quiet_hours(now_utc, tz_name, start, end):
        return now_utc
    day = local_day(now_utc, tz_name)
    at = local_instant(day, end, tz_name)
    while at <= now_utc:
        day += timedelta(days=1)
        at = local_instant(day, end, tz_name)
    return at
