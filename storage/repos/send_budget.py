"""The shared send budget's clock: batches of send slots reserved in one atomic statement.

One row per budget lane holds its next free slot (epoch seconds): the budget's own name for
the first lane, "name/1", "name/2"... for the others (`lane_names`). A reservation moves the
lane free soonest forward by `count` slots from max(next free, now) in a single UPDATE: on
PostgreSQL the row lock serialises concurrent reservations of one lane (each sees the
other's committed value, and a reservation skips a lane another is moving right now), on
SQLite the single writer does; so no two reservations ever get the same slot.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Update, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SendBudgetRow
from storage.repos._dialect import insert_for, is_postgres


def lane_names(name: str, lanes: int) -> list[str]:
    """The rows of a budget's lanes: its name, then name/1, name/2..."""
    return [name, *(f"{name}/{n}" for n in range(1, lanes))]


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
        *,
        lanes: int = 1,
    ) -> float:
        """Take `count` consecutive slots `spacing` apart from the lane free soonest (of
        `lanes`); the first's time: right after the lane's last taken and never before
        `now`, but `tolerance` before now when the lane has been idle for `idle_window` (as
        `bot.pipeline.send_slots.first_slot`)."""
        span = count * spacing
        row = SendBudgetRow
        start = case(
            (row.next_free <= now - idle_window, now - tolerance),
            (row.next_free > now, row.next_free),
            else_=now,
        )
        names = lane_names(name, lanes)

        def take(skip_locked: bool) -> Update:
            """The UPDATE that moves the lane free soonest (the first lane when one)."""
            chosen: ColumnElement[bool] = row.name == name
            if lanes > 1:
                pick = select(row.name).where(row.name.in_(names))
                pick = pick.order_by(row.next_free, row.name).limit(1)
                if is_postgres(self.session):
                    pick = pick.with_for_update(skip_locked=skip_locked)
                chosen = row.name == pick.scalar_subquery()
            return update(row).where(chosen).values(next_free=start + span).returning(row.next_free)

        end = await self.session.scalar(take(skip_locked=True))
        if end is None:
            # The budget's first reservation ever (its rows are created), or every lane was
            # being moved by another reservation: wait for one.
            await self.add_lanes(name, lanes, now - idle_window)
            end = await self.session.scalar(take(skip_locked=False))
        if end is None:  # pragma: no cover - the rows were just created
            raise RuntimeError(f"send budget {name!r} has no row")
        return float(end) - span

    async def add_lanes(self, name: str, lanes: int, next_free: float) -> None:
        """Create the rows of the budget's lanes that do not exist yet (free from
        `next_free`): a budget raised to more lanes than its rows deals from all of them."""
        await self.session.execute(
            insert_for(self.session, SendBudgetRow)
            .values([{"name": n, "next_free": next_free} for n in lane_names(name, lanes)])
            .on_conflict_do_nothing(index_elements=["name"])
        )

    async def next_free(self, name: str) -> float | None:
        """The budget's next free slot (None before its first reservation)."""
        value = await self.session.scalar(
            select(SendBudgetRow.next_free).where(SendBudgetRow.name == name)
        )
        return None if value is None else float(value)
