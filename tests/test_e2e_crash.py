"""kill -9 of a real `akhbar run` in the middle of a fan-out to 2,000 chats loses nothing.

The bot sends to the fake Bot API (a subprocess with a little latency per call, so the
fan-out is still in progress when we look); once some hundreds of messages went out the
process is SIGKILLed, restarted, and must finish the job: every chat gets the article,
and at most `WorkerTuning.repeat_bound` messages (in flight + sent but not yet
flushed; the documented bound in `bot.delivery`) are repeated for the one kill. Only rows
in doubt may repeat: those the killed process had claimed, or whose send failed (a
timed-out send may have gone out); a row recorded as sent must never go out again.

Load: the test makes no assumption about speed. Every wait is for progress, with a
deadline far past what an idle machine needs (a start-up on a loaded 2-core machine can
take many times longer), and repeats explained by a failed attempt (a send that timed out
on a starved machine, then went again) are not charged to the kill's bound. A wait that
runs out reports the progress so far (pushes, chats reached, outbox states, whether the
bot is alive), so a failure says which step stalled.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.delivery import WorkerTuning
from bot.domain import DeliveryState
from storage.db import Database
from storage.migrate import upgrade
from storage.models import DeliveryRow
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.stories import StoryRepo
from tests.e2e import bot_env, bot_process, excess_sends, logs_on_failure, wait_until
from tests.fakebotapi import ControlClient, spawn

pytestmark = [pytest.mark.slow]

CHATS = 2000
FIRST_CHAT = 10_000
KILLS = 1
# The documented bound per killed process: `max_in_flight` sends in progress plus
# `flush_rows` sent messages whose marks had not been flushed (64 + 100).
REPEAT_BOUND = WorkerTuning().repeat_bound
assert REPEAT_BOUND == 164
# Deadlines for progress, not for speed: on an idle machine the first pushes come within
# a few seconds of the start, and the remaining ~1,700 pushes at the 400 msg/s budget take
# about 5 s after the 3 s lease of the killed process's claims has expired.
FIRST_PUSHES_TIMEOUT = 240
RESTART_TIMEOUT = 240
MARKS_TIMEOUT = 90


@dataclass(frozen=True)
class Seeded:
    """What `seed_fanout` created."""

    chat_ids: list[int]
    story_id: int
    article_id: int


async def seed_fanout(
    db: Database, chat_ids: list[int], *, label: str = "Harbour strike", slug: str = "strike"
) -> Seeded:
    """Chats that all follow one story, and one article of that story not yet fanned out.

    The chats' digest time is twelve hours away, so no digest falls due during a test
    whatever the time of day (a test may still make it due on purpose).
    """
    now = datetime.now(UTC)
    digest_time = (now + timedelta(hours=12)).time().replace(second=0, microsecond=0)
    async with db.unit_of_work() as session:
        chats, follows = ChatRepo(session), FollowRepo(session)
        story = await StoryRepo(session).create(label, now - timedelta(hours=1))
        for chat_id in chat_ids:
            await chats.ensure(chat_id, digest_time=digest_time)
            await follows.follow_story(chat_id, story.id)
        articles = ArticleRepo(session)
        article = await articles.insert(
            ArticleFields(
                url=f"https://news.example/{slug}-{story.id}",
                title=f"{label}: dock workers walk out for a second day",
                lede=f"{label} enters its second day as talks stall.",
                text=f"{label} enters its second day as talks stall. Ships wait offshore.",
                summary=(f"{label} enters its second day as talks stall.",),
                guid=f"{slug}-{story.id}",
                published_at=now - timedelta(minutes=5),
                fetched_at=now,
                search_text=f"{label} dock workers",
                fanned_out=False,
            )
        )
        await articles.set_story(article.id, story.id)
    return Seeded(list(chat_ids), story.id, article.id)


def sends_per_chat(control: ControlClient, chat_ids: list[int]) -> Counter[int]:
    """sendMessage calls the fake recorded, per chat (only the given chats)."""
    wanted = set(chat_ids)
    return Counter(int(m["chat_id"]) for m in control.sent() if int(m["chat_id"]) in wanted)


async def _delivery_states(url: str) -> dict[str, int]:
    """Outbox row count per state."""
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            rows = await session.execute(
                select(DeliveryRow.state, func.count(DeliveryRow.id)).group_by(DeliveryRow.state)
            )
            return {str(state): int(n) for state, n in rows}
    finally:
        await db.dispose()


async def _attempts(url: str) -> dict[int, int]:
    """Failed send attempts recorded per chat (each may have gone out: a timeout)."""
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            rows = await session.execute(
                select(DeliveryRow.chat_id, DeliveryRow.attempts).where(DeliveryRow.attempts > 0)
            )
            return {int(chat_id): int(n) for chat_id, n in rows}
    finally:
        await db.dispose()


async def _claimed_chats(url: str) -> set[int]:
    """Chats whose outbox rows are claimed (a killed process's rows in doubt)."""
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            rows = await session.scalars(
                select(DeliveryRow.chat_id).where(DeliveryRow.state == str(DeliveryState.CLAIMED))
            )
            return {int(chat_id) for chat_id in rows}
    finally:
        await db.dispose()


async def seed_database(url: str, chat_ids: list[int]) -> Seeded:
    """Seed a migrated database (SQLite file or PostgreSQL) with `seed_fanout`."""
    db = Database(url)
    try:
        return await seed_fanout(db, chat_ids)
    finally:
        await db.dispose()


def progress(control: ControlClient, url: str, chat_ids: list[int], proc: Popen[bytes]) -> str:
    """What the run has done so far, for a failure message."""
    per_chat = sends_per_chat(control, chat_ids)
    alive = "running" if proc.poll() is None else f"exited with {proc.returncode}"
    return (
        f"{sum(per_chat.values())} pushes to {len(per_chat)} of {len(chat_ids)} chats; "
        f"outbox {asyncio.run(_delivery_states(url))}; bot {alive}"
    )


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    report: Callable[[], str],
    interval: float = 0.1,
) -> Any:
    """`wait_until`, whose timeout also says how far the run got."""
    try:
        return wait_until(predicate, timeout, what, interval=interval)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; progress: {report()}") from None


def kill_repeats(sent: Counter[int], attempts: dict[int, int]) -> dict[int, int]:
    """Repeats per chat that no failed attempt explains (those the kill may have caused)."""
    extra = {chat: n - 1 - attempts.get(chat, 0) for chat, n in sent.items()}
    return {chat: n for chat, n in extra.items() if n > 0}


def test_sigkill_mid_fanout_loses_nothing(tmp_path: Path) -> None:
    """Every chat gets the article after kill -9 + restart; repeats stay within the bound."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    upgrade(url)
    chat_ids = list(range(FIRST_CHAT, FIRST_CHAT + CHATS))
    asyncio.run(seed_database(url, chat_ids))
    log = tmp_path / "bot.log"

    with logs_on_failure([log]), spawn("--latency", "0.005") as control:
        env = bot_env(control.base_url, url, AKHBAR_MAX_MESSAGES_PER_SECOND="400")
        with bot_process(env, log) as first:
            sent_at_kill = wait_for(
                lambda: (n := control.stats()["sent"]) >= 300 and n,
                FIRST_PUSHES_TIMEOUT,
                "the first few hundred pushes",
                lambda: progress(control, url, chat_ids, first),
                interval=0.02,
            )
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL
        assert sent_at_kill < CHATS, (
            f"the fan-out finished before the kill ({sent_at_kill} pushes); nothing was tested"
        )
        in_doubt = asyncio.run(_claimed_chats(url))  # sent or not: only these may repeat

        with bot_process(env, log) as second:

            def report() -> str:
                """Progress after the restart."""
                return progress(control, url, chat_ids, second)

            wait_for(
                lambda: (
                    len(sends_per_chat(control, chat_ids)) == CHATS or second.poll() is not None
                ),
                RESTART_TIMEOUT,
                "a push in every chat after the restart",
                report,
                interval=0.5,
            )
            assert second.poll() is None, f"the restarted bot died: {report()}"
            wait_for(
                lambda: asyncio.run(_delivery_states(url)).get(str(DeliveryState.SENT)) == CHATS,
                MARKS_TIMEOUT,
                "every outbox row marked sent",
                report,
                interval=0.3,
            )
            assert second.poll() is None, f"the restarted bot died: {report()}"

        per_chat = sends_per_chat(control, chat_ids)
        assert set(per_chat) == set(chat_ids), (
            f"chats never reached: {set(chat_ids) - set(per_chat)}"
        )
        attempts = asyncio.run(_attempts(url))
        excess = excess_sends(per_chat, attempts, in_doubt)
        assert not excess, (
            f"repeated pushes of rows that were not in doubt: {excess} "
            f"({len(in_doubt)} chats were claimed at the kill; attempts of those: "
            f"{ {c: attempts.get(c, 0) for c in excess} })"
        )
        repeats = kill_repeats(per_chat, attempts)
        assert sum(repeats.values()) <= REPEAT_BOUND * KILLS, (
            f"{sum(repeats.values())} pushes repeated by the kill (bound {REPEAT_BOUND}); "
            f"{sum(n - 1 for n in per_chat.values())} repeats in all, "
            f"{sum(attempts.values())} failed attempts, {len(in_doubt)} chats in doubt"
        )
        states = asyncio.run(_delivery_states(url))
        assert states == {str(DeliveryState.SENT): CHATS}, states
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, "a traceback in the bot's log (printed above)"


def test_kill_repeats_leave_out_repeats_a_failed_attempt_explains() -> None:
    """A chat sent twice after one failed attempt is no repeat of the kill's."""
    sent = Counter({1: 1, 2: 2, 3: 3, 4: 2})
    assert kill_repeats(sent, {2: 1, 3: 1}) == {3: 1, 4: 1}
    assert kill_repeats(Counter({1: 1}), {}) == {}


def test_excess_sends_allows_only_rows_in_doubt() -> None:
    """One message per row, one more per failed attempt, one more if claimed at the kill."""
    sent = {1: 1, 2: 2, 3: 2, 4: 3, 5: 2}
    attempts = {3: 1, 4: 1}
    assert excess_sends(sent, attempts, in_doubt={4}) == {2: 2, 5: 2}
    assert excess_sends(sent, attempts, in_doubt={2, 5}) == {4: 3}
    assert excess_sends({1: 1}, {}) == {}
