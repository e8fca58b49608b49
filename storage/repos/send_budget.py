"""The shared send budget's clock: batches of send slots reserved in one atomic statement.

One row per budget holds its next free slot (epoch seconds). A reservation moves it
forward by `count` slots from max(next free, now) in a single UPDATE: on PostgreSQL the
row lock serialises concurrent reservations (each sees the other's committed value), on
SQLite the single writer does; so no two reservations ever get the same slot.
"""

from __future__ import annotations

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SendBudgetRow
from storage.repos._dialect import insert_for


class SendBudgetRepo:
    """Reserve send slots from a named budget."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work (commit it at once: the row stays locked until then)."""
        self.session = session

    async def reserve(
        self,
        name: str,
        now: float,
        count: int,
        spacing: float,
        tolerance: float = 0.0,
        idle_window: float = 1.0,
    ) -> float:
        """Take `count` consecutive slots `spacing` apart; the first's time: right after the
        last taken and never before `now`, but `tolerance` before now when the budget has
        been idle for `idle_window` (as `bot.pipeline.send_slots.first_slot`)."""
        span = count * spacing
        row = SendBudgetRow
        start = case(
            (row.next_free <= now - idle_window, now - tolerance),
            (row.next_free > now, row.next_free),
            else_=now,
        )
        stmt = (
            update(row)
            .where(row.name == name)
            .values(next_free=start + span)
            .returning(row.next_free)
        )
        end = await self.session.scalar(stmt)
        if end is None:  # the budget's first reservation ever: create its row, then take
            await self.session.execute(
                insert_for(self.session, row)
                .values(name=name, next_free=now - idle_window)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            end = await self.session.scalar(stmt)
        if end is None:  # pragma: no cover - the row was just created
            raise RuntimeError(f"send budget {name!r} has no row")
        return float(end) - span

    async def next_free(self, name: str) -> float | None:
        """The budget's next free slot (None before its first reservation)."""
        value = await self.session.scalar(
            select(SendBudgetRow.next_free).where(SendBudgetRow.name == name)
        )
        return None if value is None else float(value)
