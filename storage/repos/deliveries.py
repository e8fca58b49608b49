"""The delivery outbox: enqueue once, claim with leases, record outcomes; fan-out and digest claims.

Claims: on PostgreSQL every claim query takes `FOR UPDATE SKIP LOCKED`, so processes
sharing the database never claim the same row; on SQLite one transaction is the claim
(a single writer). A claimed row carries `claimed_by`/`claim_until`; when the holder dies
its rows become due again once `claim_until` has passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import (
    Article,
    Delivery,
    DeliveryState,
    Follow,
    NewDelivery,
)
from storage.mappers import to_delivery, to_follow
from storage.models import ArticleRow, ChatRow, DeliveryRow, FollowRow, utcnow
from storage.repos._dialect import insert_for, is_postgres
from storage.repos.articles import ArticleRepo

IN_CHUNK = 5000
_PENDING = str(DeliveryState.PENDING)
_CLAIMED = str(DeliveryState.CLAIMED)
_DELIVERIES = cast(Table, DeliveryRow.__table__)  # Core table, for executemany updates
_CHATS = cast(Table, ChatRow.__table__)


def _chunks(items: Sequence[int], size: int = IN_CHUNK) -> Iterable[Sequence[int]]:
    """Split ids into IN-clause-sized pieces."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DeliveryRepo:
    """Read and write the delivery outbox, fan-out flags and digest claims."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def enqueue_many(self, rows: Sequence[NewDelivery], now: datetime | None = None) -> int:
        """Insert outbox rows with one compiled statement run for all of them (executemany),
        ignoring any already owed (same chat and article, or chat and digest day); returns
        how many were inserted."""
        if not rows:
            return 0
        now = now or utcnow()
        params = [outbox_values(r, now) for r in rows]
        stmt = (
            insert_for(self.session, _DELIVERIES)
            .on_conflict_do_nothing()
            .returning(_DELIVERIES.c.id)
        )
        result = await self.session.execute(stmt, params)
        return len(result.all())

    async def get(self, delivery_id: int) -> Delivery | None:
        """One outbox row."""
        row = await self.session.get(DeliveryRow, delivery_id)
        return None if row is None else to_delivery(row)

    async def for_chat(self, chat_id: int) -> list[Delivery]:
        """A chat's outbox rows, oldest first."""
        rows = await self.session.scalars(
            select(DeliveryRow).where(DeliveryRow.chat_id == chat_id).order_by(DeliveryRow.id)
        )
        return [to_delivery(r) for r in rows]

    async def claim(
        self,
        now: datetime,
        holder: str,
        lease_until: datetime,
        limit: int,
        *,
        group_pace: timedelta = timedelta(0),
    ) -> list[Delivery]:
        """Claim up to `limit` due rows (pending and due, or claimed with an expired lease)
        of chats that no other holder paces, and pace those chats for `holder` until
        `lease_until` (groups `group_pace` longer: their sliding window outlives the claim)."""
        is_due = or_(
            and_(DeliveryRow.state == _PENDING, DeliveryRow.next_attempt_at <= now),
            and_(DeliveryRow.state == _CLAIMED, DeliveryRow.claim_until < now),
        )
        due = (
            select(DeliveryRow.id, DeliveryRow.chat_id, ChatRow.id)
            .outerjoin(ChatRow, ChatRow.id == DeliveryRow.chat_id)
            .where(is_due, or_(ChatRow.id.is_(None), _pace_free(now, holder)))
            .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
            .limit(limit)
        )
        if is_postgres(self.session):
            due = due.with_for_update(skip_locked=True, of=DeliveryRow)
        found = (await self.session.execute(due)).all()
        if not found:
            return []
        known = sorted({int(chat) for _, _, chat in found if chat is not None})
        paced = await self._pace(known, now, holder, lease_until, lease_until + group_pace)
        ids = [i for i, chat_id, chat in found if chat is None or int(chat_id) in paced]
        if not ids:
            return []
        # Re-check `is_due` in the UPDATE: on SQLite the SELECT may run outside the write
        # transaction, so another claimer may have taken some of these rows meanwhile.
        # RETURNING hands back exactly the rows this UPDATE claimed, as plain rows (no ORM
        # objects to build for a thousand rows a second).
        table = _DELIVERIES
        claimed = await self.session.execute(
            update(table)
            .where(table.c.id.in_(ids), is_due)
            .values(state=_CLAIMED, claimed_by=holder, claim_until=lease_until)
            .returning(*table.c)
        )
        # A Core row carries the ORM row's attribute names, which is all the mapper reads.
        rows = [to_delivery(cast(DeliveryRow, r)) for r in claimed]
        rows.sort(key=lambda d: d.id)
        return rows

    async def _pace(
        self,
        chat_ids: Sequence[int],
        now: datetime,
        holder: str,
        private_until: datetime,
        group_until: datetime,
    ) -> set[int]:
        """Pace the chats no other holder paces for `holder`; returns those it now paces.

        On PostgreSQL the chats are locked first in id order, skipping any another claim
        is pacing right now (no waits, no deadlocks); the UPDATEs re-check who paces.
        """
        if not chat_ids:
            return set()
        if is_postgres(self.session):
            locked: list[int] = []
            for part in _chunks(list(chat_ids)):
                locked += await self.session.scalars(
                    select(ChatRow.id)
                    .where(ChatRow.id.in_(part), _pace_free(now, holder))
                    .order_by(ChatRow.id)
                    .with_for_update(skip_locked=True)
                )
            chat_ids = locked
        paced: set[int] = set()
        for part in _chunks(list(chat_ids)):
            for private, until in ((True, private_until), (False, group_until)):
                kind = ChatRow.type == "private" if private else ChatRow.type != "private"
                paced.update(
                    await self.session.scalars(
                        update(ChatRow)
                        .where(ChatRow.id.in_(part), kind, _pace_free(now, holder))
                        .values(paced_by=holder, paced_until=until)
                        .returning(ChatRow.id)
                    )
                )
        return paced

    async def release_paces(
        self, holder: str, private_until: datetime, group_until: datetime
    ) -> int:
        """Let other holders pace `holder`'s chats from these times (when it stops)."""
        released = 0
        for private, until in ((True, private_until), (False, group_until)):
            kind = ChatRow.type == "private" if private else ChatRow.type != "private"
            result = await self.session.execute(
                update(ChatRow)
                .where(ChatRow.paced_by == holder, kind, ChatRow.paced_until > until)
                .values(paced_until=until)
            )
            released += int(getattr(result, "rowcount", 0) or 0)
        return released

    async def mark_sent(self, delivery_id: int, message_id: int | None, now: datetime) -> None:
        """Record a delivered message and its Telegram message id."""
        await self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id)
            .values(
                state=str(DeliveryState.SENT),
                message_id=message_id,
                sent_at=now,
                claimed_by=None,
                claim_until=None,
                last_error=None,
            )
        )

    async def mark_sent_many(self, marks: Sequence[tuple[int, int | None, datetime]]) -> None:
        """`mark_sent` for many rows in one executemany: (row id, message id, sent at)."""
        if not marks:
            return
        table = _DELIVERIES
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                state=str(DeliveryState.SENT),
                message_id=bindparam("b_message_id"),
                sent_at=bindparam("b_sent_at"),
                claimed_by=None,
                claim_until=None,
                last_error=None,
            )
        )
        await self.session.execute(
            stmt,
            [{"b_id": i, "b_message_id": m, "b_sent_at": at} for i, m, at in marks],
        )

    async def mark_folded_many(self, marks: Sequence[tuple[int, int, datetime]]) -> None:
        """`mark_folded` for many rows in one executemany: (row id, folded into, sent at)."""
        if not marks:
            return
        table = _DELIVERIES
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                state=str(DeliveryState.FOLDED),
                folded_into_id=bindparam("b_into"),
                sent_at=bindparam("b_sent_at"),
                claimed_by=None,
                claim_until=None,
            )
        )
        await self.session.execute(
            stmt, [{"b_id": i, "b_into": into, "b_sent_at": at} for i, into, at in marks]
        )

    async def mark_folded(self, ids: Sequence[int], into_id: int, now: datetime) -> None:
        """Record rows delivered inside another row's message."""
        for part in _chunks(list(ids)):
            await self.session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(part))
                .values(
                    state=str(DeliveryState.FOLDED),
                    folded_into_id=into_id,
                    sent_at=now,
                    claimed_by=None,
                    claim_until=None,
                )
            )

    async def retry_many(
        self,
        ids: Sequence[int],
        at: datetime,
        error: str | None,
        *,
        count: bool = True,
        holder: str | None = None,
    ) -> None:
        """Put rows back to pending until `at`, counting an attempt unless `count` is False
        (with `holder`: only the rows it still has claimed)."""
        values: dict[str, object] = {
            "state": _PENDING,
            "next_attempt_at": at,
            "claimed_by": None,
            "claim_until": None,
            "last_error": None if error is None else error[:2000],
        }
        if count:
            values["attempts"] = DeliveryRow.attempts + 1
        for part in _chunks(list(ids)):
            await self.session.execute(
                update(DeliveryRow).where(*_owned(part, holder)).values(**values)
            )

    async def park_failed(self, delivery_id: int, error: str, now: datetime | None = None) -> None:
        """Park a row as failed (retryable by an operator); next_attempt_at records when."""
        await self.park_many([delivery_id], error, now)

    async def park_many(
        self,
        ids: Sequence[int],
        error: str,
        now: datetime | None = None,
        *,
        holder: str | None = None,
    ) -> None:
        """`park_failed` for several rows (with `holder`: only those it still has claimed)."""
        for part in _chunks(list(ids)):
            await self.session.execute(
                update(DeliveryRow)
                .where(*_owned(part, holder))
                .values(
                    state=str(DeliveryState.FAILED),
                    attempts=DeliveryRow.attempts + 1,
                    next_attempt_at=now or utcnow(),
                    claimed_by=None,
                    claim_until=None,
                    last_error=error[:2000],
                )
            )

    async def skip_many(
        self, ids: Sequence[int], reason: str, *, holder: str | None = None
    ) -> None:
        """`skip` for several rows (with `holder`: only those it still has claimed)."""
        for part in _chunks(list(ids)):
            await self.session.execute(
                update(DeliveryRow)
                .where(*_owned(part, holder))
                .values(
                    state=str(DeliveryState.SKIPPED),
                    claimed_by=None,
                    claim_until=None,
                    last_error=reason[:2000],
                )
            )

    async def skip_chat(self, chat_id: int, reason: str) -> int:
        """Skip every unsent (pending or claimed) row of a chat, e.g. when it blocked the bot."""
        result = await self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.chat_id == chat_id, DeliveryRow.state.in_([_PENDING, _CLAIMED]))
            .values(
                state=str(DeliveryState.SKIPPED),
                claimed_by=None,
                claim_until=None,
                last_error=reason[:2000],
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def release(self, holder: str, ids: Sequence[int] | None = None) -> int:
        """Give the holder's claimed rows (or only `ids`) back as pending, due at once."""
        query = (
            update(DeliveryRow)
            .where(DeliveryRow.state == _CLAIMED, DeliveryRow.claimed_by == holder)
            .values(state=_PENDING, claimed_by=None, claim_until=None)
        )
        if ids is None:
            result = await self.session.execute(query)
            return int(getattr(result, "rowcount", 0) or 0)
        released = 0
        for part in _chunks(list(ids)):
            result = await self.session.execute(query.where(DeliveryRow.id.in_(part)))
            released += int(getattr(result, "rowcount", 0) or 0)
        return released

    async def requeue_failed(self, now: datetime | None = None) -> int:
        """Operator retry: every failed row becomes pending again with a fresh attempt count."""
        result = await self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.state == str(DeliveryState.FAILED))
            .values(state=_PENDING, attempts=0, next_attempt_at=now or utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def counts_by_state(self) -> dict[str, int]:
        """Queue depth: row count per state (every state present, zeros included)."""
        rows = await self.session.execute(
            select(DeliveryRow.state, func.count(DeliveryRow.id)).group_by(DeliveryRow.state)
        )
        counts = {str(s): 0 for s in DeliveryState}
        for state, n in rows:
            counts[str(state)] = int(n)
        return counts

    async def sent_since(self, since: datetime) -> int:
        """Messages sent (not folded) since a time."""
        n = await self.session.scalar(
            select(func.count(DeliveryRow.id)).where(
                DeliveryRow.state == str(DeliveryState.SENT), DeliveryRow.sent_at >= since
            )
        )
        return int(n or 0)

    async def failed_since(self, since: datetime) -> int:
        """Rows parked as failed since a time."""
        n = await self.session.scalar(
            select(func.count(DeliveryRow.id)).where(
                DeliveryRow.state == str(DeliveryState.FAILED),
                DeliveryRow.next_attempt_at >= since,
            )
        )
        return int(n or 0)

    async def states_for_article(
        self, article_id: int, chat_ids: Sequence[int]
    ) -> dict[int, tuple[DeliveryState, int | None]]:
        """For chats owed `article_id`: chat id → (row state, row story id)."""
        found: dict[int, tuple[DeliveryState, int | None]] = {}
        for part in _chunks(list(chat_ids)):
            rows = await self.session.execute(
                select(DeliveryRow.chat_id, DeliveryRow.state, DeliveryRow.story_id).where(
                    DeliveryRow.article_id == article_id, DeliveryRow.chat_id.in_(part)
                )
            )
            for chat_id, state, story_id in rows:
                found[int(chat_id)] = (DeliveryState(state), story_id)
        return found

    async def follows_by_ids(self, ids: Iterable[int]) -> list[Follow]:
        """Follows by id (any kind, muted included), in id order."""
        wanted = sorted(set(ids))
        found: list[Follow] = []
        for part in _chunks(wanted):
            rows = await self.session.scalars(
                select(FollowRow).where(FollowRow.id.in_(part)).order_by(FollowRow.id)
            )
            found.extend(to_follow(r) for r in rows)
        return found

    async def claim_fanout(self, limit: int, holder: str) -> list[Article]:
        """Lock up to `limit` articles not yet fanned out that have a story, oldest first.

        The claim lives as long as this transaction (row locks on PostgreSQL, the single
        writer on SQLite): fan out and `mark_fanned_out` in the same unit of work, so a
        crash rolls everything back and the articles are fanned out again, once.
        `holder` names the claimer for logs; no column records it.
        """
        del holder
        query = (
            select(ArticleRow.id)
            .where(ArticleRow.fanned_out.is_(False), ArticleRow.story_id.is_not(None))
            .order_by(ArticleRow.id)
            .limit(limit)
        )
        if is_postgres(self.session):
            query = query.with_for_update(skip_locked=True)
        ids = list(await self.session.scalars(query))
        return await ArticleRepo(self.session).get_many(ids)

    async def mark_fanned_out(self, ids: Sequence[int]) -> None:
        """Record that these articles' deliveries are enqueued."""
        for part in _chunks(list(ids)):
            await self.session.execute(
                update(ArticleRow).where(ArticleRow.id.in_(part)).values(fanned_out=True)
            )

    async def set_next_digest(
        self, chat_id: int, next_at: datetime, last_digest_on: date | None = None
    ) -> None:
        """Store when the chat's next digest is due (and the day last served, when given)."""
        values: dict[str, object] = {"next_digest_at": next_at}
        if last_digest_on is not None:
            values["last_digest_on"] = last_digest_on
        await self.session.execute(update(ChatRow).where(ChatRow.id == chat_id).values(**values))

    async def set_next_digests(self, schedule: Sequence[tuple[int, datetime, date | None]]) -> None:
        """`set_next_digest` for many chats in one executemany: (chat id, next at, day served).

        Rows whose day served is None keep their `last_digest_on`.
        """
        table = _CHATS
        for with_day in (False, True):
            params = [
                {"b_id": chat_id, "b_next": next_at, "b_day": day}
                for chat_id, next_at, day in schedule
                if (day is not None) == with_day
            ]
            if not params:
                continue
            values: dict[str, object] = {"next_digest_at": bindparam("b_next")}
            if with_day:
                values["last_digest_on"] = bindparam("b_day")
            else:
                for p in params:
                    del p["b_day"]
            stmt = update(table).where(table.c.id == bindparam("b_id")).values(**values)
            await self.session.execute(stmt, params)


def _pace_free(now: datetime, holder: str) -> ColumnElement[bool]:
    """A chat `holder` may send to: no holder paces it, its pace ran out, or it is ours."""
    return or_(
        ChatRow.paced_by.is_(None),
        ChatRow.paced_until.is_(None),
        ChatRow.paced_until < now,
        ChatRow.paced_by == holder,
    )


def _owned(ids: Sequence[int], holder: str | None) -> list[ColumnElement[bool]]:
    """Conditions for rows among `ids`; with `holder`, only rows it still has claimed.

    A worker's outcome writes pass its holder, so a write that comes late (its claim ran
    out and another claim took the row, or the row was sent) changes nothing.
    """
    conditions: list[ColumnElement[bool]] = [DeliveryRow.id.in_(ids)]
    if holder is not None:
        conditions += [DeliveryRow.state == _CLAIMED, DeliveryRow.claimed_by == holder]
    return conditions


def outbox_values(row: NewDelivery, now: datetime) -> dict[str, Any]:
    """Insert parameters of a new outbox row (created `now`, due at once unless told)."""
    return {
        "chat_id": row.chat_id,
        "kind": str(row.kind),
        "state": str(row.state),
        "article_id": row.article_id,
        "story_id": row.story_id,
        "follow_id": row.follow_id,
        "digest_on": row.digest_on,
        "attempts": 0,
        "next_attempt_at": row.next_attempt_at or now,
        "last_error": row.note,
        "created_at": now,
        "thread_id": row.thread_id,
    }
