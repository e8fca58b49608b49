"""The send budget, shared among the live sending processes.

The budget (`AKHBAR_MAX_MESSAGES_PER_SECOND`) is for the whole bot: every sending process
keeps a lease named ``SENDER_LEASE + holder`` and sends at budget / live senders, so
together they stay within what Telegram allows. A dead process's lease expires after one
lease period, and the others take back its share.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.domain import Clock
from bot.pipeline.limits import RateLimiter
from bot.settings import DEFAULT_MESSAGES_PER_SECOND, TELEGRAM_BULK_PER_SECOND
from storage.db import Database
from storage.repos.ops import LeaseRepo

log = logging.getLogger(__name__)

# Each sending process keeps a lease named SENDER_LEASE + its holder; the budget is split
# evenly among the live ones, renewed and re-counted at claims, at most every SHARE_EVERY_S.
SENDER_LEASE = "sender:"
SHARE_EVERY_S = 5.0


def window_ceiling(max_per_second: float) -> float:
    """The most sends any 1 s window at Telegram may hold: the budget plus the default's room.

    The default budget (29) sits 1/29 under Telegram's bulk limit (30) and its windows are
    capped at exactly that limit; a raised budget (paid broadcasts) gets the same relative
    room (1,000 → 1,034). Sends stay evenly spaced at the budget while their answers are on
    the way (the cap only binds once answers take longer than about 1/29 s), and a budget
    set like the default, 1/30 under what Telegram allows, never overfills Telegram's window.
    """
    with_room = max_per_second * TELEGRAM_BULK_PER_SECOND / DEFAULT_MESSAGES_PER_SECOND
    return max(TELEGRAM_BULK_PER_SECOND, with_room)


class BudgetShare:
    """This process's part of the bot's send budget, kept in step with the sender leases."""

    def __init__(
        self,
        db: Database,
        holder: str,
        limiter: RateLimiter,
        *,
        max_per_second: float,
        lease: timedelta,
        clock: Clock,
    ) -> None:
        """Start with the whole budget; `refresh` splits it once other senders are seen."""
        self.db = db
        self.holder = holder
        self.limiter = limiter
        self.max_per_second = max_per_second
        self.share = max_per_second
        self.lease = lease
        self.clock = clock
        self._shared_at: datetime | None = None

    async def refresh(self) -> float:
        """Renew this process's sender lease and retune to budget / live senders.

        At most every `SHARE_EVERY_S` (or a quarter lease); returns the share.
        """
        now = self.clock()
        every = min(timedelta(seconds=SHARE_EVERY_S), self.lease / 4)
        if self._shared_at is not None and now - self._shared_at < every:
            return self.share
        self._shared_at = now
        async with self.db.unit_of_work() as session:
            leases = LeaseRepo(session)
            await leases.acquire(SENDER_LEASE + self.holder, self.holder, now, self.lease)
            live = max(1, await leases.count_live(SENDER_LEASE, now))
        share = self.max_per_second / live
        if share != self.share:
            log.info("sending at %.4g msg/s: 1/%d of the budget", share, live)
            self.share = share
            self.limiter.retune(share, window_ceiling(self.max_per_second) / live)
        return self.share

    async def release(self) -> None:
        """Give the sender lease up, so the others take back this share at once."""
        async with self.db.unit_of_work() as session:
            await LeaseRepo(session).release(SENDER_LEASE + self.holder, self.holder)
