"""Every failure of a send or of composing has an outcome, and the delivery loop never spins.

The real delivery loop (`bot.app.delivery_loop`) runs the real worker and `TelegramSender`
against the recording fake Bot API for a fixed stretch of wall time; the fake answers one
chat with a fault on every call. Counting its calls proves the loop waits: one attempt,
then the backoff (2 s), instead of a new attempt on every pass. Before these outcomes a
ChatMigrated, an InvalidToken, a Conflict, an unreadable answer or a composer that raised
left the rows due again at once without an attempt, and the loop went round at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import cast

import pytest
from telegram import Bot

from bot.app import Engines, delivery_loop
from bot.delivery import DeliveryWorker, FanOut, TelegramSender, WorkerTuning
from bot.delivery.messages import Composer
from bot.domain import Article, Chat, ChatType, Delivery, DeliveryState
from bot.presentation.message import Rendered
from bot.telegram_request import AiohttpRequest
from storage.db import Database
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo
from tests.delivery_helpers import FakeClock, compose, make_article, make_chat, make_story
from tests.fakebotapi import FakeBotAPI, FaultKind

TOKEN = "123456:FAULTS"
RUN_SECONDS = 1.2  # watched after the first attempt, well under the first backoff (2 s)
TICK = 0.05  # the loop's idle wait: a spinning loop would make dozens of calls meanwhile


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """A running fake Bot API."""
    async with FakeBotAPI(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    """A PTB bot on our transport, pointed at the fake."""
    request = AiohttpRequest(connection_pool_size=8, read_timeout=2.0)
    async with Bot(TOKEN, base_url=api.base_url, request=request) as tg:
        yield tg


async def owed(
    db: Database,
    chat_id: int,
    title: str,
    *,
    type: ChatType = ChatType.PRIVATE,
    language: str = "en",
) -> int:
    """A chat following a new story with one article fanned out to it; returns the story."""
    story = await make_story(db, title)
    await make_chat(db, chat_id, type=type, language=language)
    async with db.unit_of_work() as s:
        await FollowRepo(s).follow_story(chat_id, story)
    await make_article(db, story, title)
    await FanOut(db, clock=FakeClock()).run_until_idle()
    return story


def make_worker(
    db: Database, bot: Bot, composer: Composer = compose, **tuning: float
) -> DeliveryWorker:
    """A worker on the real clock sending through `TelegramSender`."""
    return DeliveryWorker(
        db,
        TelegramSender(bot),
        composer,
        max_per_second=1000.0,
        tuning=WorkerTuning(**tuning),  # type: ignore[arg-type]
    )


async def run_loop(
    worker: DeliveryWorker,
    seconds: float = 20.0,
    until: Callable[[], Awaitable[bool]] | None = None,
    after: float = 0.0,
) -> None:
    """Run the process's delivery loop until `until` holds (at most `seconds` of wall time;
    without `until`, all of them), then `after` seconds more, then stop it."""
    stopping = asyncio.Event()
    engines = cast(Engines, SimpleNamespace(worker=worker, wake=asyncio.Event()))
    task = asyncio.create_task(delivery_loop(engines, TICK, stopping))
    clock = asyncio.get_running_loop().time
    ends = clock() + seconds
    while clock() < ends:
        await asyncio.sleep(0.05)
        if until is not None and await until():
            break
    await asyncio.sleep(after)
    stopping.set()
    await worker.stop()
    await asyncio.wait_for(task, 5)


def called(api: FakeBotAPI, *chat_ids: int) -> Callable[[], Awaitable[bool]]:
    """A condition: the fake has answered a sendMessage for one of these chats."""

    async def check() -> bool:
        """Whether any call reached the fake."""
        return any(send_calls(api, c) for c in chat_ids)

    return check


async def rows(db: Database, chat_id: int) -> list[Delivery]:
    """A chat's outbox rows."""
    async with db.unit_of_work() as s:
        return await DeliveryRepo(s).for_chat(chat_id)


def send_calls(api: FakeBotAPI, chat_id: int) -> int:
    """sendMessage calls the fake answered for a chat (failed ones included)."""
    return sum(1 for m, p in api.calls if m == "sendMessage" and p.get("chat_id") == chat_id)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("garbage", "unexpected: TelegramError"),
        ("conflict", "unexpected: Conflict"),
        ("unauthorized", "unauthorized: "),
    ],
)
async def test_unmapped_telegram_errors_back_off_with_an_attempt(
    db: Database, api: FakeBotAPI, bot: Bot, kind: FaultKind, reason: str
) -> None:
    """An unreadable answer, a 409 or a 401: one attempt counted, a backoff, no spinning."""
    await owed(db, 9, "harbour")
    api.add_fault(kind, method="sendMessage", chat_id=9, times=None)
    await run_loop(make_worker(db, bot), until=called(api, 9), after=RUN_SECONDS)
    assert send_calls(api, 9) == 1, (
        f"{send_calls(api, 9)} calls within {RUN_SECONDS} s of the first: a tight loop"
    )
    (row,) = await rows(db, 9)
    assert row.state == DeliveryState.PENDING and row.attempts == 1
    assert (row.last_error or "").startswith(reason), row.last_error


async def test_a_rejected_token_pauses_every_chat(db: Database, api: FakeBotAPI, bot: Bot) -> None:
    """After a 401 no other chat is tried during the backoff either."""
    await owed(db, 9, "harbour")
    await owed(db, 10, "bridge")
    api.add_fault("unauthorized", method="sendMessage", times=None)
    await run_loop(
        make_worker(db, bot, max_in_flight=1), until=called(api, 9, 10), after=RUN_SECONDS
    )
    calls = send_calls(api, 9) + send_calls(api, 10)
    assert calls == 1, f"{calls} sends were tried during the pause"
    states = [r.state for c in (9, 10) for r in await rows(db, c)]
    assert states == [DeliveryState.PENDING, DeliveryState.PENDING]


@dataclass
class FailingComposer:
    """Composes like `compose`, but raises for one chat; counts its calls."""

    broken_chat: int
    calls: list[int] = field(default_factory=list)

    async def __call__(
        self, chat: Chat, batch: Sequence[Delivery], articles: Sequence[Article]
    ) -> Rendered:
        """Raise for the broken chat, compose for the others."""
        self.calls.append(chat.id)
        if chat.id == self.broken_chat:
            raise KeyError("story 7 vanished")
        return await compose(chat, batch, articles)


async def test_a_composer_error_is_an_attempt_then_parks(
    db: Database, api: FakeBotAPI, bot: Bot
) -> None:
    """A composer that raises costs an attempt each time, backs off and parks; others go."""
    await owed(db, 11, "harbour")
    await owed(db, 12, "bridge")
    composer = FailingComposer(broken_chat=11)
    worker = make_worker(db, bot, composer, max_attempts=3, backoff_base=0.1)

    async def parked() -> bool:
        """Whether the broken chat's row has been parked."""
        return [r.state for r in await rows(db, 11)] == [DeliveryState.FAILED]

    await run_loop(worker, 20.0, until=parked)
    await run_loop(make_worker(db, bot, composer), 0.3)  # parked: composed no more
    assert composer.calls.count(11) == 3, composer.calls  # 3 attempts, not one per pass
    (row,) = await rows(db, 11)
    assert row.state == DeliveryState.FAILED and row.attempts == 3
    assert (row.last_error or "").startswith("compose failed: KeyError"), row.last_error
    assert send_calls(api, 11) == 0
    assert [m.chat_id for m in api.sent] == [12]


async def test_a_migrated_group_is_readdressed(db: Database, api: FakeBotAPI, bot: Bot) -> None:
    """ChatMigrated moves the chat (settings, follows, owed rows) and the push goes there."""
    old, new = -5, -1005
    story = await owed(db, old, "harbour", type=ChatType.GROUP, language="ar")
    api.add_fault("migrated", method="sendMessage", chat_id=old, times=None, migrate_to=new)

    async def marked() -> bool:
        """Whether the push to the new id is recorded as sent."""
        return [r.state for r in await rows(db, new)] == [DeliveryState.SENT]

    await run_loop(make_worker(db, bot), until=marked, after=RUN_SECONDS)
    assert send_calls(api, old) == 1, f"{send_calls(api, old)} sends to the old id"
    assert [m.chat_id for m in api.sent] == [new]
    async with db.unit_of_work() as s:
        assert await ChatRepo(s).get(old) is None
        moved = await ChatRepo(s).get(new)
        follows = await FollowRepo(s).for_chat(new)
    assert moved is not None and moved.language == "ar" and moved.type == ChatType.SUPERGROUP
    assert [f.story_id for f in follows] == [story]
    assert [r.state for r in await rows(db, new)] == [DeliveryState.SENT]
    assert await rows(db, old) == []


async def test_a_migration_to_its_own_id_is_a_counted_attempt(
    db: Database, api: FakeBotAPI, bot: Bot
) -> None:
    """A migration that names the chat's own id cannot move it: an attempt, not a spin."""
    await owed(db, -7, "harbour", type=ChatType.GROUP)
    api.add_fault("migrated", method="sendMessage", chat_id=-7, times=None, migrate_to=-7)
    await run_loop(make_worker(db, bot), until=called(api, -7), after=RUN_SECONDS)
    assert send_calls(api, -7) == 1, (
        f"{send_calls(api, -7)} sends within {RUN_SECONDS} s of the first"
    )
    (row,) = await rows(db, -7)
    assert row.state == DeliveryState.PENDING and row.attempts == 1
    assert (row.last_error or "").startswith("unexpected: told to move"), row.last_error
