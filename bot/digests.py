"""Daily digests: exactly one per chat per local day, at the chat's local digest time.

Each `tick()` locks a batch of chats whose `next_digest_at` has passed (SKIP LOCKED on
PostgreSQL), works out the local day owed (`bot.pipeline.schedule.digest_day_due`, once
per distinct zone, time and last day in the batch), builds the batch's digests together
(`build_many`: a few set-based queries, then pure per-chat composition), enqueues one
DIGEST outbox row per chat and moves `last_digest_on`/`next_digest_at` on, all in one
transaction. Two guards make it once per day across restarts, several processes
and clock jumps: the outbox's unique (chat_id, digest_on), and `last_digest_on`, past
which every computation moves. The worker sends the row through `compose()`.

A chat never scheduled (`next_digest_at` NULL, e.g. just created) is scheduled for the
first digest instant after now; it gets no digest at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from time import monotonic
from typing import Final

from bot.domain import (
    DIGEST_WINDOW,
    Article,
    Chat,
    Clock,
    Delivery,
    DeliveryKind,
    DeliveryState,
    NewDelivery,
    utc_now,
)
from bot.follows import article_terms
from bot.pipeline.mutes import filters_by_chat
from bot.pipeline.schedule import digest_day_due, first_digest_at, next_digest_at
from bot.presentation.digest import ArticleTerms, DigestWindow, compose_digest, followed_articles
from bot.presentation.i18n import t, to_local
from bot.presentation.message import Rendered
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.chats import FollowRepo
from storage.repos.deliveries import DeliveryRepo
from storage.repos.digests import DigestRepo
from storage.repos.links import LinkRepo
from storage.repos.mutes import MuteRepo
from storage.repos.stories import StoryRepo

log = logging.getLogger(__name__)

BuildDigest = Callable[[Chat, datetime], Awaitable[Sequence[str]]]
BuildDigests = Callable[[Sequence[Chat], datetime], Awaitable[Mapping[int, Sequence[str]]]]


def _default_empty_text(chat: Chat) -> str:
    """The message of an empty digest for chats that asked for one (from the catalogs)."""
    return t(chat.language, "digest.empty")


WINDOW_TTL_S: Final = 60.0


class DigestBuilder:
    """Builds digests from the database: a batch of chats with a few set-based queries,
    then pure composition (`bot.presentation.digest`) from one shared window.

    Windows (the articles since the start of a minute) are kept for `WINDOW_TTL_S` by this
    object, so every digest built in that minute, by the scheduler or `/digest`, shares one.
    """

    def __init__(self, db: Database, terms: ArticleTerms = article_terms) -> None:
        """Read through `db`; `terms` gives an article's matching terms (keyword follows)."""
        self.db = db
        self.terms = terms
        self._windows: dict[int, tuple[float, DigestWindow]] = {}

    async def _window(self, since: datetime) -> DigestWindow:
        """The articles since the start of `since`'s minute, shared by every digest built
        that minute."""
        minute = int(since.timestamp()) // 60
        now = monotonic()
        hit = self._windows.get(minute)
        if hit is not None and now - hit[0] < WINDOW_TTL_S:
            return hit[1]
        async with self.db.unit_of_work() as session:
            articles = await ArticleRepo(session).since(datetime.fromtimestamp(minute * 60, UTC))
            story_ids = {a.story_id for a in articles if a.story_id is not None}
            partners = await LinkRepo(session).partners(story_ids)
            linked = {p for found in partners.values() for p in found}
            stories = await StoryRepo(session).get_many(story_ids | linked)
        window = DigestWindow(articles, stories, self.terms, partners)
        for stale in [k for k, (at, _) in self._windows.items() if now - at >= WINDOW_TTL_S]:
            del self._windows[stale]
        self._windows[minute] = (now, window)
        return window

    async def build_many(self, chats: Sequence[Chat], since: datetime) -> dict[int, list[str]]:
        """Digests of many chats for articles since `since` (HTML parts by chat id; [] when a
        chat has nothing new), as `build` makes each, from two set-based queries.

        The follows of every chat come in one query, their mutes in another and what they
        already received in a third; the composition of each chat's digest is then pure,
        from the shared window (muted words and sources left out).
        """
        now = since + DIGEST_WINDOW
        window = await self._window(since)
        chosen: dict[int, list[Article]] = {}
        got: dict[int, set[int]] = {}
        async with self.db.unit_of_work() as session:
            follows = await FollowRepo(session).for_chats(chat.id for chat in chats)
            readers = [chat.id for chat in chats if chat.id in follows]
            mutes = filters_by_chat(await MuteRepo(session).for_chats(readers)) if readers else {}
            for chat in chats:
                theirs = follows.get(chat.id, ())
                mine = [f for f in theirs if not f.muted]
                muted = frozenset(f.story_id for f in theirs if f.muted and f.story_id is not None)
                hide = mutes.get(chat.id)
                chosen[chat.id] = (
                    followed_articles(window, mine, since, muted, hide) if mine else []
                )
            wanted = {a.id for items in chosen.values() for a in items}
            if wanted:
                owners = [chat_id for chat_id, items in chosen.items() if items]
                got = await DigestRepo(session).received_article_ids(
                    owners, wanted, since - DIGEST_WINDOW
                )
        days: dict[str, date] = {}
        built: dict[int, list[str]] = {}
        for chat in chats:
            day = days.get(chat.timezone)
            if day is None:
                day = days[chat.timezone] = to_local(now, chat.timezone).date()
            got_here = got.get(chat.id, set())
            built[chat.id] = compose_digest(window, chat, chosen[chat.id], got_here, day)
        return built

    async def build(self, chat: Chat, since: datetime) -> list[str]:
        """The chat's digest for articles since `since` (HTML parts); [] when nothing is new.

        Top stories by new articles: label, count, one-line summary, two newest headlines.
        Articles the chat already got in full as pushes only count towards "N more
        updates". With `chat.empty_digest`, an empty digest is rendered instead of [].
        """
        return (await self.build_many([chat], since))[chat.id]


@dataclass(frozen=True, slots=True)
class DigestTickResult:
    """What one tick did."""

    due: int = 0
    enqueued: int = 0
    empty: int = 0
    rescheduled: int = 0


@dataclass(slots=True)
class DigestPlan:
    """What a batch of due chats needs: new schedules, and the chats owed a digest (with its day)."""

    schedule: list[tuple[int, datetime, date | None]] = field(default_factory=list)
    owed: list[tuple[Chat, date]] = field(default_factory=list)
    rescheduled: int = 0


def plan_digests(due: Sequence[tuple[Chat, datetime | None]], now: datetime) -> DigestPlan:
    """Sort due chats into those owed a digest now and those only to be rescheduled.

    Pure; the schedule arithmetic is done once per (timezone, digest time, last day) in the
    batch, since `now` is the same for every chat in it.
    """
    plan = DigestPlan()
    firsts: dict[tuple[str, time], datetime] = {}
    days: dict[tuple[str, time, date | None], tuple[date | None, datetime]] = {}
    for chat, scheduled in due:
        tz, at = chat.timezone, chat.digest_time
        if scheduled is None:
            first = firsts.get((tz, at))
            if first is None:
                first = firsts[(tz, at)] = first_digest_at(now, tz, at)
            plan.schedule.append((chat.id, first, None))
            plan.rescheduled += 1
            continue
        key = (tz, at, chat.last_digest_on)
        known = days.get(key)
        if known is None:
            day = digest_day_due(now, tz, at, chat.last_digest_on)
            next_at = next_digest_at(now, tz, at, chat.last_digest_on if day is None else day)
            known = days[key] = (day, next_at)
        day, next_at = known
        plan.schedule.append((chat.id, next_at, day))
        if day is None:
            plan.rescheduled += 1
        else:
            plan.owed.append((chat, day))
    return plan


class DigestScheduler:
    """Enqueues each chat's daily digest once per local day; composes it when the worker sends."""

    def __init__(
        self,
        db: Database,
        build: BuildDigest,
        *,
        build_many: BuildDigests | None = None,
        empty_text: Callable[[Chat], str] = _default_empty_text,
        clock: Clock = utc_now,
        batch: int = 500,
        cache_limit: int = 200_000,
        cache_seconds: float = 3600.0,
    ) -> None:
        """`build(chat, since)` returns the digest's HTML parts (empty: nothing to say);
        `build_many(chats, since)` the same for a whole batch by chat id (when given, ticks
        use it rather than one `build` per chat). Parts built at a tick wait for the send
        at most `cache_seconds`: a row skipped (paused or blocked chat) or sent by another
        process is never composed here, so its parts are dropped then (a late send builds
        its digest again)."""
        self.db = db
        self.build = build
        self.build_many = build_many
        self.empty_text = empty_text
        self.clock = clock
        self.batch = batch
        self.cache_limit = cache_limit
        self.cache_seconds = cache_seconds
        self._parts: dict[tuple[int, date], tuple[datetime, list[str]]] = {}  # oldest first

    def _prune(self, now: datetime) -> None:
        """Drop cached parts older than `cache_seconds` (the dict is in insertion order)."""
        while self._parts:
            key, (stored, _) = next(iter(self._parts.items()))
            if (now - stored).total_seconds() <= self.cache_seconds:
                return
            del self._parts[key]

    @property
    def cached(self) -> int:
        """How many digests' parts wait for their send."""
        return len(self._parts)

    async def _build_batch(self, chats: Sequence[Chat], since: datetime) -> dict[int, list[str]]:
        """Every chat's digest parts, by chat id, with `build_many` or one `build` per chat."""
        if self.build_many is not None:
            built = await self.build_many(chats, since)
            return {chat.id: list(built.get(chat.id, ())) for chat in chats}
        return {chat.id: list(await self.build(chat, since)) for chat in chats}

    async def tick(self) -> DigestTickResult:
        """Handle one batch of due chats in one transaction, with set-based reads and writes.

        The batch's digests are built together (`build_many`), and every due chat's new
        schedule and every digest row of the batch are written with a few executemany
        statements, so the write lock is held for milliseconds per batch rather than one
        statement per chat.
        """
        now = self.clock()
        rows: list[NewDelivery] = []
        skipped: list[NewDelivery] = []
        parts_by_key: dict[tuple[int, date], list[str]] = {}
        async with self.db.unit_of_work() as session:
            repo = DigestRepo(session)
            due = await repo.due_chats(now, self.batch)
            plan = plan_digests(due, now)
            built = await self._build_batch([chat for chat, _ in plan.owed], now - DIGEST_WINDOW)
            for chat, day in plan.owed:
                parts = built[chat.id]
                if parts or chat.empty_digest:
                    rows.append(
                        NewDelivery(chat_id=chat.id, kind=DeliveryKind.DIGEST, digest_on=day)
                    )
                    parts_by_key[(chat.id, day)] = parts
                else:
                    skipped.append(
                        NewDelivery(
                            chat_id=chat.id,
                            kind=DeliveryKind.DIGEST,
                            digest_on=day,
                            state=DeliveryState.SKIPPED,
                            note="empty digest",
                        )
                    )
            outbox = DeliveryRepo(session)
            enqueued = await outbox.enqueue_many(rows, now)  # days already owed are ignored
            await outbox.enqueue_many(skipped, now)
            await outbox.set_next_digests(plan.schedule)
        self._prune(now)
        for key, parts in parts_by_key.items():
            if len(self._parts) >= self.cache_limit:
                break
            self._parts.pop(key, None)  # re-inserted at the end: the dict stays oldest first
            self._parts[key] = (now, parts)
        if due:
            log.info("digests: %d due, %d enqueued, %d empty", len(due), enqueued, len(skipped))
        return DigestTickResult(len(due), enqueued, len(skipped), plan.rescheduled)

    async def run_until_idle(self, max_batches: int = 1000) -> DigestTickResult:
        """Repeat `tick` until no chat is due (or `max_batches`)."""
        totals = [0, 0, 0, 0]
        for _ in range(max_batches):
            result = await self.tick()
            for i, value in enumerate(
                (result.due, result.enqueued, result.empty, result.rescheduled)
            ):
                totals[i] += value
            if result.due == 0:
                break
        return DigestTickResult(*totals)

    async def compose(self, chat: Chat, delivery: Delivery) -> list[Rendered]:
        """The digest's messages (a `DigestComposer` for `DeliveryWorker`); [] → nothing to send."""
        day = delivery.digest_on
        entry = self._parts.pop((chat.id, day), None) if day is not None else None
        cached = entry[1] if entry is not None else None
        if cached is None:
            created = delivery.created_at or self.clock()
            cached = list(await self.build(chat, created - DIGEST_WINDOW))
        if not cached:
            if not chat.empty_digest:
                return []
            cached = [self.empty_text(chat)]
        return [Rendered(part) for part in cached]
