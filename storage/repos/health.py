"""The few reads behind /healthz and /metrics: reachability, outbox depth, poll health."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DeliveryRow, SourceRow


class HealthRepo:
    """Cheap operational reads (one indexed or aggregate query each)."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        return bool(await self.session.scalar(text("SELECT 1")) == 1)

    async def outbox(self) -> dict[str, int]:
        """Outbox rows per state that are still owed (pending and claimed)."""
        rows = await self.session.execute(
            select(DeliveryRow.state, func.count())
            .where(DeliveryRow.state.in_(("pending", "claimed")))
            .group_by(DeliveryRow.state)
        )
        counts = {"pending": 0, "claimed": 0}
        counts.update({str(state): int(n) for state, n in rows})
        return counts

    async def last_successful_poll(self) -> datetime | None:
        """The latest poll of any source that ended without an error."""
        value = await self.session.scalar(
            select(func.max(SourceRow.last_polled_at)).where(SourceRow.error_count == 0)
        )
        return value if isinstance(value, datetime) else None

    async def source_health(self) -> dict[str, int]:
        """Enabled sources that are ok, failing (last poll failed) or paused."""
        rows = await self.session.execute(
            select(SourceRow.paused, SourceRow.error_count, func.count())
            .where(SourceRow.enabled.is_(True))
            .group_by(SourceRow.paused, SourceRow.error_count)
        )
        counts = {"ok": 0, "failing": 0, "paused": 0}
        for paused, errors, n in rows:
            key = "paused" if paused else "failing" if errors else "ok"
            counts[key] += int(n)
        return counts
