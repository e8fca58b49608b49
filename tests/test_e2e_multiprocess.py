"""Three `akhbar run` processes on one PostgreSQL database share the work without doubling it.

Phases, each checked through the fake Bot API's records and the database:
1. a new article followed by 300 chats: each chat gets exactly one push; a /start gets
   exactly one reply;
2. every chat's digest made due: each chat gets exactly one digest; up to here exactly one
   process ever started long polling and no two getUpdates calls overlapped;
3. the process holding the updates lease is SIGKILLed while it holds claimed deliveries of
   a second article: exactly one survivor takes the updates over and answers /start once,
   every row the dead one had claimed is sent, and only those rows may repeat (at most
   the documented bound).
"Exactly one" message per row allows one more per failed attempt recorded on the row (a
timed-out send may have gone out); no failure happens in a healthy run.
Throughout, no source is fetched twice within its poll interval (by any process), no chat
gets two messages within a second (whichever processes sent them: the per-chat pace holds
across processes), and no process logs a traceback. When anything fails, the bots' logs
are printed.

The lease is 8 s (renewed every ~2.7 s) rather than the 3 s of the single-process tests,
so that only a process stalled for more than 5 s could lose it on a slow shared machine.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import DeliveryKind, DeliveryState
from storage.db import Database, create_engine
from storage.migrate import upgrade
from storage.models import DeliveryRow, LeaseRow
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.chats import ChatRepo
from storage.repos.sources import SourceRepo
from tests.conftest import POSTGRES_URL
from tests.e2e import (
    FeedServer,
    bot_env,
    bot_process,
    excess_sends,
    logs_on_failure,
    rss,
    wait_until,
)
from tests.fakebotapi import ControlClient, spawn
from tests.test_e2e_crash import REPEAT_BOUND, seed_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROCESSES = 3
CHATS = list(range(20_000, 20_300))
POLL_SECONDS = 2
SOURCES = 3
LEASE_SECONDS = 8
RATE = 20  # messages per second: the bot's budget, shared by the processes
PRIVATE_INTERVAL = 1.0  # Telegram's pace for one private chat (seconds)
RECEIVING = "this process now receives updates"
T = TypeVar("T")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of its own (dropped afterwards)."""
    name = f"akhbar_mp_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not usable at {POSTGRES_URL}: {exc}")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def with_db(url: str, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one unit of work against the test database from synchronous test code."""

    async def go() -> T:
        db = Database(url)
        try:
            async with db.unit_of_work() as session:
                return await action(session)
        finally:
            await db.dispose()

    return asyncio.run(go())


async def _add_sources(session: AsyncSession, urls: list[str]) -> None:
    """Feed sources polled every POLL_SECONDS."""
    repo = SourceRepo(session)
    for n, url in enumerate(urls):
        await repo.add(url, f"Feed {n}", poll_seconds=POLL_SECONDS)


def _states(kind: DeliveryKind, article_id: int | None = None):  # type: ignore[no-untyped-def]
    """A unit of work counting outbox rows of a kind (and article) by state."""

    async def count(session: AsyncSession) -> dict[str, int]:
        query = select(DeliveryRow.state, func.count(DeliveryRow.id)).where(
            DeliveryRow.kind == str(kind)
        )
        if article_id is not None:
            query = query.where(DeliveryRow.article_id == article_id)
        rows = await session.execute(query.group_by(DeliveryRow.state))
        return {str(s): int(n) for s, n in rows}

    return count


def _attempts(kind: DeliveryKind, article_id: int | None = None):  # type: ignore[no-untyped-def]
    """A unit of work mapping chats to the failed send attempts of their rows of a kind."""

    async def attempts(session: AsyncSession) -> dict[int, int]:
        query = select(DeliveryRow.chat_id, DeliveryRow.attempts).where(
            DeliveryRow.kind == str(kind), DeliveryRow.attempts > 0
        )
        if article_id is not None:
            query = query.where(DeliveryRow.article_id == article_id)
        return {int(chat_id): int(n) for chat_id, n in await session.execute(query)}

    return attempts


def _rows_of(chats: Iterable[int], kind: DeliveryKind, article_id: int | None = None):  # type: ignore[no-untyped-def]
    """A unit of work listing the outbox rows of some chats (for failure messages)."""

    async def rows(session: AsyncSession) -> list[tuple[object, ...]]:
        query = select(
            DeliveryRow.id,
            DeliveryRow.chat_id,
            DeliveryRow.state,
            DeliveryRow.attempts,
            DeliveryRow.next_attempt_at,
            DeliveryRow.created_at,
            DeliveryRow.sent_at,
            DeliveryRow.message_id,
            DeliveryRow.last_error,
        ).where(DeliveryRow.kind == str(kind), DeliveryRow.chat_id.in_(list(chats)))
        if article_id is not None:
            query = query.where(DeliveryRow.article_id == article_id)
        return [tuple(row) for row in await session.execute(query.order_by(DeliveryRow.id))]

    return rows


def no_excess(
    url: str,
    control: ControlClient,
    sent: Counter[int],
    kind: DeliveryKind,
    article_id: int | None = None,
    doubt: Iterable[int] = (),
) -> str:
    """'' when no chat got more than the guarantee allows, else the offending rows and sends."""
    excess = excess_sends(sent, with_db(url, _attempts(kind, article_id)), doubt)
    if not excess:
        return ""
    some = list(excess)[:5]
    rows = with_db(url, _rows_of(some, kind, article_id))
    times = {chat: [round(m["at"], 2) for m in control.sent(chat)] for chat in some}
    return (
        f"{len(excess)} chats got too many: {excess}; rows of some: {rows};"
        f" their sends (fake's monotonic clock): {times}"
    )


async def _lease_holder(session: AsyncSession) -> str | None:
    """The instance holding the updates lease."""
    holder = await session.scalar(select(LeaseRow.holder).where(LeaseRow.name == "updates"))
    return None if holder is None else str(holder)


def _claimed_by(holder: str, article_id: int):  # type: ignore[no-untyped-def]
    """A unit of work mapping the rows of an article claimed by one instance to their chats."""

    async def claims(session: AsyncSession) -> dict[int, int]:
        rows = await session.execute(
            select(DeliveryRow.id, DeliveryRow.chat_id).where(
                DeliveryRow.article_id == article_id,
                DeliveryRow.state == str(DeliveryState.CLAIMED),
                DeliveryRow.claimed_by == holder,
            )
        )
        return {int(row_id): int(chat_id) for row_id, chat_id in rows}

    return claims


def _rows_sent(ids: list[int]):  # type: ignore[no-untyped-def]
    """A unit of work telling whether all these rows are sent."""

    async def sent(session: AsyncSession) -> bool:
        n = await session.scalar(
            select(func.count(DeliveryRow.id)).where(
                DeliveryRow.id.in_(ids), DeliveryRow.state == str(DeliveryState.SENT)
            )
        )
        return int(n or 0) == len(ids)

    return sent


async def _digests_due(session: AsyncSession) -> None:
    """Make every seeded chat's digest due now (with an empty digest allowed)."""
    repo = ChatRepo(session)
    past = datetime.now(UTC) - timedelta(minutes=1)
    for chat_id in CHATS:
        await repo.update(chat_id, empty_digest=True, next_digest_at=past)


async def _second_article(session: AsyncSession, story_id: int) -> int:
    """A second article of the followed story, not yet fanned out."""
    repo = ArticleRepo(session)
    now = datetime.now(UTC)
    article = await repo.insert(
        ArticleFields(
            url="https://news.example/harbour-strike-talks-resume",
            title="Harbour strike: talks resume under a mediator",
            lede="Talks resumed on Thursday with a government mediator.",
            text="Talks resumed on Thursday with a government mediator. Ships still wait.",
            summary=("Talks resumed on Thursday with a government mediator.",),
            guid="harbour-strike-talks-resume",
            published_at=now,
            fetched_at=now,
            search_text="harbour strike talks mediator",
        )
    )
    await repo.set_story(article.id, story_id)
    return article.id


def per_chat(control: ControlClient, since: int = 0) -> Counter[int]:
    """Messages recorded per seeded chat from index `since` of the fake's send log."""
    wanted = set(CHATS)
    return Counter(
        int(m["chat_id"]) for m in control.sent(since=since) if int(m["chat_id"]) in wanted
    )


def reply_count(control: ControlClient, chat_id: int) -> int:
    """How many messages the bot sent to one chat."""
    return len(control.sent(chat_id))


def log_count(logs: list[Path], needle: str) -> int:
    """How many times a text occurs in the given logs."""
    return sum(log.read_text(errors="replace").count(needle) for log in logs)


def logs_with(logs: list[Path], needle: str) -> int:
    """How many of the given logs (processes) contain a text at least once."""
    return sum(needle in log.read_text(errors="replace") for log in logs)


def shortest_gap(times: list[float]) -> float:
    """The shortest time between consecutive events (inf with fewer than two)."""
    ordered = sorted(times)
    return min((b - a for a, b in itertools.pairwise(ordered)), default=float("inf"))


def paced_too_fast(control: ControlClient) -> dict[int, float]:
    """Seeded chats that got two messages closer than the private pace: chat → gap."""
    times: dict[int, list[float]] = {}
    seeded = set(CHATS)
    for m in control.sent():
        if int(m["chat_id"]) in seeded:
            times.setdefault(int(m["chat_id"]), []).append(float(m["at"]))
    gaps = {chat: shortest_gap(at) for chat, at in times.items()}
    return {chat: round(gap, 3) for chat, gap in gaps.items() if gap < PRIVATE_INTERVAL}


def test_processes_share_work_and_take_over(pg_url: str, tmp_path: Path) -> None:
    """No double sends, polls, digests or receivers; takeover after kill -9."""
    feeds = FeedServer()
    sources = [
        feeds.put(
            f"/feed{n}.xml",
            rss(
                f"Feed {n}",
                [
                    {
                        "title": f"Rain expected in region {n}",
                        "link": f"https://weather.example/{n}",
                        "description": f"Forecasters expect rain in region {n} this week.",
                    }
                ],
            ),
        )
        for n in range(SOURCES)
    ]
    seeded = asyncio.run(seed_database(pg_url, CHATS))
    with_db(pg_url, lambda s: _add_sources(s, sources))
    logs = [tmp_path / f"bot{n}.log" for n in range(PROCESSES)]

    with logs_on_failure(logs), spawn() as control, ExitStack() as stack:
        env = bot_env(
            control.base_url,
            pg_url,
            AKHBAR_MAX_MESSAGES_PER_SECOND=str(RATE),
            AKHBAR_LEASE_SECONDS=str(LEASE_SECONDS),
        )
        procs: list[subprocess.Popen[bytes]] = [
            stack.enter_context(bot_process(env, log)) for log in logs
        ]

        # 1. one push per chat; one reply to /start
        wait_until(lambda: len(per_chat(control)) == len(CHATS), 90, "a push in every chat", 0.3)
        wait_until(
            lambda: (
                with_db(pg_url, _states(DeliveryKind.ARTICLE, seeded.article_id))
                == {str(DeliveryState.SENT): len(CHATS)}
            ),
            30,
            "every push row sent",
            0.3,
        )
        control.push_message(7, "/start", user_id=7, language_code="en")
        wait_until(lambda: reply_count(control, 7) >= 1, 60, "a reply to /start")
        pushes = per_chat(control)
        problem = no_excess(pg_url, control, pushes, DeliveryKind.ARTICLE, seeded.article_id)
        assert not problem, problem
        phase2 = len(control.sent())

        # 2. one digest per chat
        with_db(pg_url, _digests_due)
        wait_until(
            lambda: (
                with_db(pg_url, _states(DeliveryKind.DIGEST))
                == {str(DeliveryState.SENT): len(CHATS)}
            ),
            90,
            "every digest row sent",
            0.3,
        )
        digests = per_chat(control, phase2)
        assert set(digests) == set(CHATS)
        problem = no_excess(pg_url, control, digests, DeliveryKind.DIGEST)
        assert not problem, problem
        assert reply_count(control, 7) == 1, "/start was answered more than once"
        # One process received updates; a stall on a loaded machine may make it stop and
        # start again (its lease by its own clock ran short), which is not a move.
        assert logs_with(logs, RECEIVING) == 1, "the updates moved without a failure"
        assert log_count(logs, "Conflict") == 0, "two processes polled getUpdates at once"
        phase3 = len(control.sent())

        # 3. kill -9 the receiver while it holds claims; the others take over
        holder = with_db(pg_url, _lease_holder)
        assert holder is not None
        victim = next(p for p in procs if f":{p.pid}:" in holder)
        victim_log = logs[procs.index(victim)]
        article2 = with_db(pg_url, lambda s: _second_article(s, seeded.story_id))
        wait_until(
            lambda: len(with_db(pg_url, _claimed_by(holder, article2))) >= 20,
            60,
            "the receiver to claim deliveries of the second article",
            0.02,
        )
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        dead_claims = with_db(pg_url, _claimed_by(holder, article2))  # as it died
        assert dead_claims, "the receiver sent all its claims before the kill"
        control.push_message(8, "/start", user_id=8, language_code="en")
        wait_until(lambda: reply_count(control, 8) >= 1, 60, "/start answered after the kill")
        wait_until(
            lambda: (
                with_db(pg_url, _states(DeliveryKind.ARTICLE, article2))
                == {str(DeliveryState.SENT): len(CHATS)}
            ),
            90,
            "every push of the second article sent, the dead one's claims included",
            0.3,
        )
        second = per_chat(control, phase3)
        assert set(second) == set(CHATS)
        problem = no_excess(
            pg_url, control, second, DeliveryKind.ARTICLE, article2, dead_claims.values()
        )
        assert not problem, f"repeats of rows that were not in doubt: {problem}"
        assert sum(n - 1 for n in second.values()) <= REPEAT_BOUND
        assert reply_count(control, 8) == 1, "/start was answered more than once"
        survivors = [p for p in procs if p is not victim]
        assert all(p.poll() is None for p in survivors)
        survivor_logs = [log for log in logs if log != victim_log]
        assert logs_with(survivor_logs, RECEIVING) == 1, "not exactly one survivor took over"
        assert log_count(logs, "Conflict") == 0, "two processes polled getUpdates at once"
        too_fast = paced_too_fast(control)
        assert not too_fast, f"chats sent two messages within a second: {too_fast}"
        hit_times = {path: list(times) for path, times in feeds.hit_times.items()}

    feeds.close()
    for n in range(SOURCES):
        times = hit_times.get(f"/feed{n}.xml", [])
        assert len(times) >= 2, f"/feed{n}.xml fetched {len(times)} times"
        gap = shortest_gap(times)
        assert gap >= POLL_SECONDS - 0.05, f"/feed{n}.xml fetched twice within {gap:.2f} s"
    for log in logs:
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
