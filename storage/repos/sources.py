"""Sources and their fetch state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Source, SourceKind
from bot.pipeline.notices import extraction_notice, failing_notice, paused_notice
from bot.pipeline.storable import clip_text, storable_optional, storable_text
from storage.mappers import to_source
from storage.models import NoticeRow, SourceRow

NAME_CHARS = 200  # sources.name is VARCHAR(200)
URL_CHARS = 2000  # sources.url is VARCHAR(2000)
ERROR_CHARS = 2000
PAGE_STREAK = "page_failures"  # sources.meta key: polls in a row whose article pages all failed


class SourceExists(Exception):
    """A source with this URL is already stored."""


class SourceRepo:
    """Read and write sources."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def add(
        self,
        url: str,
        name: str,
        *,
        kind: SourceKind = SourceKind.UNKNOWN,
        lang: str | None = None,
        poll_seconds: int = 300,
        fetch_full_pages: int = 0,
        name_auto: bool = False,
    ) -> Source:
        """Store a new source, raising SourceExists for a known URL (ValueError if it is too long).

        `name_auto`: the name is a stand-in (the host) that the feed's own title replaces.
        """
        url, name = storable_text(url), clip_text(name, NAME_CHARS)
        if len(url) > URL_CHARS:
            raise ValueError(f"source URL longer than {URL_CHARS} characters")
        if await self.by_url(url) is not None:
            raise SourceExists(url)
        row = SourceRow(
            url=url,
            name=name,
            kind=str(kind),
            lang=lang,
            poll_seconds=poll_seconds,
            fetch_full_pages=fetch_full_pages,
            enabled=True,
            paused=False,
            error_count=0,
            name_auto=name_auto,
        )
        self.session.add(row)
        await self.session.flush()
        return to_source(row)

    async def get(self, source_id: int) -> Source | None:
        """One source by id."""
        row = await self.session.get(SourceRow, source_id)
        return None if row is None else to_source(row)

    async def by_url(self, url: str) -> Source | None:
        """One source by URL."""
        row = await self.session.scalar(select(SourceRow).where(SourceRow.url == url))
        return None if row is None else to_source(row)

    async def list_all(self) -> list[Source]:
        """Every source, oldest first."""
        rows = await self.session.scalars(select(SourceRow).order_by(SourceRow.id))
        return [to_source(r) for r in rows]

    async def remove(self, source_id: int) -> bool:
        """Delete a source (its articles stay); False when it did not exist."""
        result = await self.session.execute(delete(SourceRow).where(SourceRow.id == source_id))
        return bool(getattr(result, "rowcount", 0))

    async def claim_due(
        self, now: datetime, holder: str, lease_until: datetime, limit: int
    ) -> list[Source]:
        """Claim up to `limit` due sources for `holder` so no other process polls them."""
        is_due = and_(
            SourceRow.enabled.is_(True),
            SourceRow.paused.is_(False),
            or_(SourceRow.next_poll_at.is_(None), SourceRow.next_poll_at <= now),
            or_(SourceRow.claim_until.is_(None), SourceRow.claim_until < now),
        )
        due = select(SourceRow.id).where(is_due).order_by(SourceRow.next_poll_at).limit(limit)
        if self.session.bind.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(await self.session.scalars(due))
        if not ids:
            return []
        # Re-check in the UPDATE: on SQLite the SELECT runs before the write lock is taken,
        # so another process may have claimed some of these rows in between.
        await self.session.execute(
            update(SourceRow)
            .where(SourceRow.id.in_(ids), is_due)
            .values(claimed_by=holder, claim_until=lease_until)
            .execution_options(synchronize_session=False)
        )
        rows = await self.session.scalars(
            select(SourceRow)
            .where(
                SourceRow.id.in_(ids),
                SourceRow.claimed_by == holder,
                SourceRow.claim_until == lease_until,
            )
            .execution_options(populate_existing=True)
        )
        return [to_source(r) for r in rows]

    async def record_poll(
        self,
        source_id: int,
        *,
        now: datetime,
        next_poll_at: datetime,
        error: str | None,
        etag: str | None = None,
        last_modified: str | None = None,
        kind: SourceKind | None = None,
        pause_after: int = 20,
        holder: str | None = None,
        title: str | None = None,
        warn_after: int | None = None,
        pages_failed: bool | None = None,
    ) -> Source | None:
        """Store one poll's outcome, release the claim, and pause after `pause_after` failures.

        With `holder`, only while that holder still has the claim: a process whose lease
        lapsed mid-poll (another has claimed the source since) records nothing and gets None.
        A success records `last_success_at`; its `title` (the feed's own, already cleaned)
        replaces a stand-in name (`name_auto`), never one an operator chose. `warn_after`
        consecutive failures leave one operator notice before the pause, and so do
        `warn_after` consecutive polls whose article pages all failed (`pages_failed`).
        """
        row = await self.session.get(SourceRow, source_id)
        if row is None or (holder is not None and row.claimed_by != holder):
            return None
        row.last_polled_at = now
        row.next_poll_at = next_poll_at
        row.claimed_by = None
        row.claim_until = None
        if kind is not None and kind != SourceKind.UNKNOWN:
            row.kind = str(kind)
        if error is None:
            row.error_count = 0
            row.last_error = None
            row.last_success_at = now
            if title and row.name_auto:
                row.name = clip_text(title, NAME_CHARS)
                row.name_auto = False
            if pages_failed is not None:
                self._count_page_failures(row, pages_failed, warn_after)
            if etag is not None:
                row.etag = storable_optional(etag)
            if last_modified is not None:
                row.last_modified = storable_optional(last_modified)
        else:
            row.error_count += 1
            row.last_error = clip_text(error, ERROR_CHARS)
            if warn_after is not None and row.error_count == warn_after < pause_after:
                text = failing_notice(row.id, row.name, row.error_count, row.last_error)
                self.session.add(NoticeRow(source_id=row.id, text=text))
            if row.error_count >= pause_after and not row.paused:
                row.paused = True
                text = paused_notice(row.id, row.name, row.error_count, row.last_error)
                self.session.add(NoticeRow(source_id=row.id, text=text))
        await self.session.flush()
        return to_source(row)

    def _count_page_failures(self, row: SourceRow, failed: bool, warn_after: int | None) -> None:
        """Track polls in a row whose article pages all failed (in `meta`); notice at
        `warn_after`."""
        streak = int((row.meta or {}).get(PAGE_STREAK, 0)) + 1 if failed else 0
        row.meta = {**(row.meta or {}), PAGE_STREAK: streak}
        if warn_after is not None and streak == warn_after:
            text = extraction_notice(row.id, row.name, streak)
            self.session.add(NoticeRow(source_id=row.id, text=text))

    async def renew_claims(
        self, source_ids: Sequence[int], holder: str, lease_until: datetime
    ) -> list[int]:
        """Extend `holder`'s claims on these sources to `lease_until`; the ids still held."""
        if not source_ids:
            return []
        await self.session.execute(
            update(SourceRow)
            .where(SourceRow.id.in_(list(source_ids)), SourceRow.claimed_by == holder)
            .values(claim_until=lease_until)
            .execution_options(synchronize_session=False)
        )
        held = await self.session.scalars(
            select(SourceRow.id).where(
                SourceRow.id.in_(list(source_ids)), SourceRow.claimed_by == holder
            )
        )
        return sorted(held)

    async def set_paused(self, source_id: int, paused: bool) -> bool:
        """Pause or resume a source (resuming clears the error count)."""
        row = await self.session.get(SourceRow, source_id)
        if row is None:
            return False
        row.paused = paused
        if not paused:
            row.error_count = 0
            row.next_poll_at = None
        return True
