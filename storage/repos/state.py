"""Named values the bot keeps for itself (the generated webhook secret)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AppStateRow
from storage.repos._dialect import insert_for


class AppStateRepo:
    """Read and create named values; the first writer wins, so every process agrees."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def get(self, name: str) -> str | None:
        """The stored value, or None."""
        value = await self.session.scalar(select(AppStateRow.value).where(AppStateRow.name == name))
        return None if value is None else str(value)

    async def get_or_create(self, name: str, candidate: str) -> str:
        """The stored value; when there is none, store `candidate` and return it.

        Two processes racing both get the value of whichever inserted first.
        """
        stmt = insert_for(self.session, AppStateRow).values(name=name, value=candidate)
        await self.session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        value = await self.get(name)
        if value is None:  # pragma: no cover - the insert above guarantees a row
            raise RuntimeError(f"app state {name!r} missing after insert")
        return value

    async def put(self, name: str, value: str) -> None:
        """Store `value` under `name`, replacing what was there."""
        stmt = insert_for(self.session, AppStateRow).values(name=name, value=value)
        await self.session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        await self.session.execute(
            update(AppStateRow).where(AppStateRow.name == name).values(value=value)
        )

    async def with_prefix(self, prefix: str) -> dict[str, str]:
        """Every stored value whose name starts with `prefix`, by name."""
        rows = await self.session.execute(
            select(AppStateRow.name, AppStateRow.value)
            .where(AppStateRow.name.startswith(prefix, autoescape=True))
            .order_by(AppStateRow.name)
        )
        return {name: value for name, value in rows}
