"""Source claims that last as long as the polls they cover.

A tick claims up to 64 sources under one lease but polls them a few at a time, each poll
allowed its fetch timeout plus page fetches: a fixed lease would lapse mid-poll and let
another process claim and fetch the same source. `keep_claims` renews the claims every
third of a lease until the polls end; a poll's outcome is then recorded only while its
process still holds the claim (`poll_holder` names that process to `record_poll`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Final

from storage.db import Database
from storage.repos.sources import SourceRepo

log = logging.getLogger("akhbar.sources")

RENEWALS_PER_LEASE: Final = 3

#: The process whose claims the current poll runs under (None outside `keep_claims`).
_POLL_HOLDER: ContextVar[str | None] = ContextVar("akhbar_poll_holder", default=None)


def poll_holder() -> str | None:
    """The claim holder of the poll running in this task (None: not under a claim)."""
    return _POLL_HOLDER.get()


async def renew_once(
    db: Database, holder: str, source_ids: Sequence[int], lease_until: datetime
) -> list[int]:
    """Extend the claims `holder` still has on these sources; the ids still held."""
    async with db.unit_of_work() as session:
        return await SourceRepo(session).renew_claims(source_ids, holder, lease_until)


async def _renew_forever(
    db: Database,
    holder: str,
    source_ids: list[int],
    lease_s: float,
    clock: Callable[[], datetime],
) -> None:
    """Renew every third of a lease until cancelled or nothing is held any more."""
    remaining = list(source_ids)
    while remaining:
        await asyncio.sleep(lease_s / RENEWALS_PER_LEASE)
        try:
            remaining = await renew_once(
                db, holder, remaining, clock() + timedelta(seconds=lease_s)
            )
        except Exception as exc:  # a failed renewal is retried; the lease still has 2/3 left
            log.warning("renewing source claims failed: %s", exc)


@contextlib.asynccontextmanager
async def keep_claims(
    db: Database,
    holder: str,
    source_ids: Sequence[int],
    lease_s: float,
    clock: Callable[[], datetime],
) -> AsyncIterator[None]:
    """Keep `holder`'s claims on these sources alive while the block runs (polls inside
    record only while the claim is theirs)."""
    token = _POLL_HOLDER.set(holder)
    renewer = asyncio.create_task(_renew_forever(db, holder, list(source_ids), lease_s, clock))
    try:
        yield
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        _POLL_HOLDER.reset(token)
