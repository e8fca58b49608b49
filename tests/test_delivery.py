"""Fan-out and the delivery worker on SQLite and PostgreSQL, with a fake sender and clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import time, timedelta
from typing import TYPE_CHECKING

from bot.delivery import (
    DeliveryWorker,
    FanOut,
    SendBadContent,
    SendForbidden,
    SendRetryAfter,
    SendTransient,
    WorkerTuning,
)
from bot.domain import ChatType, DeliveryKind, DeliveryMode, DeliveryState, NewDelivery, QuietMode
from bot.pipeline.limits import RateLimiter
from bot.presentation.message import strip_tags
from storage.db import Database
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo
from tests.delivery_helpers import (
    FakeClock,
    FakeSender,
    compose,
    make_article,
    make_chat,
    make_story,
)

if TYPE_CHECKING:
    from telegram.request import RequestData


def worker(db: Database, sender: FakeSender, clock: FakeClock, **kw: object) -> DeliveryWorker:
    """A worker on the fake clock with a generous budget."""
    kw.setdefault("max_per_second", 1000.0)
    return DeliveryWorker(
        db,
        sender,
        compose,
        clock=clock,
        sleep=clock.sleep,
        **kw,  # type: ignore[arg-type]
    )


async def states(db: Database, chat_id: int) -> list[DeliveryState]:
    """A chat's outbox states in id order."""
    async with db.unit_of_work() as s:
        return [d.state for d in await DeliveryRepo(s).for_chat(chat_id)]


async def test_fanout_once_per_chat_and_modes(db: Database) -> None:
    """Story + keyword match → one row; digest-only, muted, paused and blocked get none."""
    story = await make_story(db)
    for cid in (1, 2, 3, 4, 5):
        await make_chat(db, cid)
    await make_chat(db, 6, paused=True)
    await make_chat(db, 7, blocked=True)
    async with db.unit_of_work() as s:
        f = FollowRepo(s)
        story1, _ = await f.follow_story(1, story)
        kw1, _ = await f.follow_keyword(1, "aleppo", ["aleppo"])
        kw2, _ = await f.follow_keyword(2, "aleppo", ["aleppo"])
        await f.follow_story(3, story, DeliveryMode.DIGEST)
        muted, _ = await f.follow_story(4, story)
        await f.update(4, muted.id, muted=True)
        await f.follow_story(5, story, DeliveryMode.DIGEST)
        kw5, _ = await f.follow_keyword(5, "aleppo", ["aleppo"])  # instant wins over digest
        await f.follow_story(6, story)
        await f.follow_story(7, story)
    keyword_ids = {kw1.id, kw2.id, kw5.id}
    art = await make_article(db, story, "aleppo news")
    fan = FanOut(db, lambda a: keyword_ids, clock=FakeClock())
    result = await fan.run_until_idle()
    assert result.articles == 1 and result.enqueued == 3
    assert [await states(db, c) for c in (1, 2, 3, 4, 5, 6, 7)] == [
        [DeliveryState.PENDING],
        [DeliveryState.PENDING],
        [],
        [],
        [DeliveryState.PENDING],
        [],
        [],
    ]
    async with db.unit_of_work() as s:
        rows = await DeliveryRepo(s).for_chat(1)
        assert rows[0].follow_id == story1.id and rows[0].story_id == story  # story follow wins
        assert [r.follow_id for r in await DeliveryRepo(s).for_chat(5)] == [kw5.id]
        # Enqueuing again (a crash after inserting, before the flag) owes nothing twice.
        again = NewDelivery(chat_id=1, article_id=art.id, story_id=story)
        assert await DeliveryRepo(s).enqueue_many([again, again]) == 0
    assert (await fan.run_once()).articles == 0


async def test_syndicated_copy_folds_or_skips(db: Database) -> None:
    """A copy of an already-sent article is skipped; of a pending one, sent in the same message."""
    story = await make_story(db)
    await make_chat(db, 1)
    await make_chat(db, 2)
    async with db.unit_of_work() as s:
        await FollowRepo(s).follow_story(1, story)
        await FollowRepo(s).follow_story(2, story)
    clock = FakeClock()
    sender = FakeSender(clock)
    original = await make_article(db, story, "original")
    await FanOut(db, clock=FakeClock()).run_until_idle()
    async with db.unit_of_work() as s:  # chat 1 already got the original
        row = (await DeliveryRepo(s).for_chat(1))[0]
        await DeliveryRepo(s).mark_sent(row.id, 1, clock())
    await make_article(db, story, "copy", duplicate_of=original.id)
    await FanOut(db, clock=FakeClock()).run_until_idle()
    assert await states(db, 1) == [DeliveryState.SENT, DeliveryState.SKIPPED]
    await worker(db, sender, clock).run_until_idle()
    assert len(sender.to(1)) == 0
    assert [m.text for m in sender.to(2)] == ["<b>2 new</b>: original, copy"]
    assert await states(db, 2) == [DeliveryState.SENT, DeliveryState.FOLDED]


async def test_burst_folds_into_one_message(db: Database) -> None:
    """Three articles of one story for a chat → one message; another story → its own."""
    s1, s2 = await make_story(db, "a"), await make_story(db, "b")
    await make_chat(db, 1)
    async with db.unit_of_work() as s:
        await FollowRepo(s).follow_story(1, s1)
        await FollowRepo(s).follow_story(1, s2)
    for title in ("x1", "x2", "x3"):
        await make_article(db, s1, title)
    await make_article(db, s2, "y1")
    await FanOut(db, clock=FakeClock()).run_until_idle()
    clock = FakeClock()
    sender = FakeSender(clock)
    result = await worker(db, sender, clock).run_until_idle()
    assert result.sent == 2 and result.folded == 2
    assert [m.text for m in sender.to(1)] == ["<b>3 new</b>: x1, x2, x3", "<b>1 new</b>: y1"]
    async with db.unit_of_work() as s:
        rows = await DeliveryRepo(s).for_chat(1)
    sent = [r for r in rows if r.state == DeliveryState.SENT]
    assert sorted(r.message_id or 0 for r in sent) == [m.message_id for m in sender.sent]
    assert {r.folded_into_id for r in rows if r.state == DeliveryState.FOLDED} == {rows[0].id}
    assert sender.sent[1].at - sender.sent[0].at >= timedelta(seconds=1)  # private spacing


async def _one_owed(db: Database, chat_id: int, story: int, title: str = "news") -> None:
    """Create a chat following `story` and fan one article out to it."""
    await make_chat(db, chat_id)
    async with db.unit_of_work() as s:
        await FollowRepo(s).follow_story(chat_id, story)
    await make_article(db, story, f"{title}{chat_id}")
    await FanOut(db, clock=FakeClock()).run_until_idle()


async def test_retry_after_waits_and_never_drops(db: Database) -> None:
    """429 for a chat holds it for retry_after, then the message goes, once."""
    story = await make_story(db)
    await _one_owed(db, 1, story)
    clock = FakeClock()
    sender = FakeSender(clock, faults={1: [SendRetryAfter(7)]})
    w = worker(db, sender, clock)
    first = await w.run_once()
    assert first.retried == 1 and not sender.sent
    async with db.unit_of_work() as s:
        row = (await DeliveryRepo(s).for_chat(1))[0]
    assert row.state == DeliveryState.PENDING and row.attempts == 0
    assert row.next_attempt_at == clock() + timedelta(seconds=7)
    assert (await w.run_once()).claimed == 0  # not yet due
    clock.advance(7)
    await w.run_until_idle()
    assert len(sender.to(1)) == 1
    assert await states(db, 1) == [DeliveryState.SENT]


async def test_global_retry_after_holds_everyone(db: Database) -> None:
    """A global 429 makes other chats wait too (through the limiter), and nothing is lost."""
    story = await make_story(db)
    for cid in range(1, 6):
        await _one_owed(db, cid, story)
    clock = FakeClock()
    sender = FakeSender(clock, faults={1: [SendRetryAfter(3, is_global=True)]})
    w = worker(db, sender, clock, tuning=WorkerTuning(max_in_flight=1))
    start = clock()
    await w.run_until_idle()
    clock.advance(3)
    await w.run_until_idle()
    assert sorted(m.chat_id for m in sender.sent) == [1, 2, 3, 4, 5]
    later = [m for m in sender.sent if m.chat_id != 1]
    assert all(m.at >= start + timedelta(seconds=3) for m in later)


async def test_forbidden_blocks_chat_and_stops(db: Database) -> None:
    """403 marks the chat blocked, skips what it is owed, and fan-out stops adding rows."""
    s1, s2 = await make_story(db, "a"), await make_story(db, "b")
    await _one_owed(db, 1, s1)
    async with db.unit_of_work() as s:
        await FollowRepo(s).follow_story(1, s2)
    await make_article(db, s2, "other")
    await FanOut(db, clock=FakeClock()).run_until_idle()
    clock = FakeClock()
    sender = FakeSender(clock, faults={1: [SendForbidden("bot was blocked by the user")]})
    await worker(db, sender, clock).run_until_idle()
    assert sender.calls == 1 and not sender.sent
    assert await states(db, 1) == [DeliveryState.SKIPPED, DeliveryState.SKIPPED]
    async with db.unit_of_work() as s:
        chat = await ChatRepo(s).get(1)
    assert chat is not None and chat.blocked
    await make_article(db, s1, "later")
    await FanOut(db, clock=FakeClock()).run_until_idle()
    assert len(await states(db, 1)) == 2


async def test_bad_content_plain_fallback_once_then_park(db: Database) -> None:
    """400 → plain text once; a second 400 parks the row as failed, retryable."""
    await _one_owed(db, 1, await make_story(db, "a"))
    await _one_owed(db, 2, await make_story(db, "b"))
    clock = FakeClock()
    bad = SendBadContent("can't parse entities")
    sender = FakeSender(clock, faults={1: [bad], 2: [bad, bad]})
    result = await worker(db, sender, clock).run_until_idle()
    assert result.plain_fallbacks == 2
    assert [(m.html, m.text) for m in sender.to(1)] == [(False, strip_tags("<b>1 new</b>: news1"))]
    assert await states(db, 2) == [DeliveryState.FAILED]
    async with db.unit_of_work() as s:
        assert await DeliveryRepo(s).failed_since(clock() - timedelta(hours=1)) == 1
        assert await DeliveryRepo(s).requeue_failed(clock()) == 1
    await worker(db, sender, clock).run_until_idle()
    assert len(sender.to(2)) == 1 and sender.to(2)[0].html


async def test_transient_backoff_then_park_then_operator_retry(db: Database) -> None:
    """Transient errors back off exponentially, park after N attempts, and requeue works."""
    story = await make_story(db)
    await _one_owed(db, 1, story)
    clock = FakeClock()
    sender = FakeSender(clock, always={1: SendTransient("timed out")})
    w = worker(db, sender, clock, tuning=WorkerTuning(max_attempts=4, backoff_base=2.0))
    waits = []
    for _ in range(10):
        await w.run_until_idle()
        async with db.unit_of_work() as s:
            row = (await DeliveryRepo(s).for_chat(1))[0]
        if row.state == DeliveryState.FAILED:
            break
        assert row.next_attempt_at is not None
        waits.append((row.next_attempt_at - clock()).total_seconds())
        clock.now = row.next_attempt_at
    assert waits == [2.0, 4.0, 8.0]
    assert row.state == DeliveryState.FAILED and row.attempts == 4
    async with db.unit_of_work() as s:
        counts = await DeliveryRepo(s).counts_by_state()
        assert counts["failed"] == 1 and counts["pending"] == 0
        assert await DeliveryRepo(s).requeue_failed(clock()) == 1
    del sender.always[1]
    await w.run_until_idle()
    assert len(sender.to(1)) == 1
    async with db.unit_of_work() as s:
        assert await DeliveryRepo(s).sent_since(clock() - timedelta(minutes=1)) == 1


async def test_lease_takeover_after_dead_holder(db: Database) -> None:
    """Rows claimed by a process that died are taken over only after the lease expires."""
    story = await make_story(db)
    await _one_owed(db, 1, story)
    clock = FakeClock()
    async with db.unit_of_work() as s:
        dead = await DeliveryRepo(s).claim(clock(), "dead", clock() + timedelta(seconds=60), 10)
    assert len(dead) == 1
    sender = FakeSender(clock)
    w = worker(db, sender, clock, holder="alive")
    assert (await w.run_once()).claimed == 0
    clock.advance(61)
    await w.run_until_idle()
    assert len(sender.to(1)) == 1
    assert await states(db, 1) == [DeliveryState.SENT]


async def test_quiet_hours_hold_and_digest_mode(db: Database) -> None:
    """HOLD keeps pushes until the window ends; DIGEST mode skips them for the digest."""
    story = await make_story(db)
    start, end = time(11, 0), time(13, 0)  # T0 is 12:00 UTC
    await make_chat(db, 1, quiet_start=start, quiet_end=end)
    await make_chat(db, 2, quiet_mode=QuietMode.DIGEST, quiet_start=start, quiet_end=end)
    async with db.unit_of_work() as s:
        await FollowRepo(s).follow_story(1, story)
        await FollowRepo(s).follow_story(2, story)
    await make_article(db, story, "night")
    await FanOut(db, clock=FakeClock()).run_until_idle()
    clock = FakeClock()
    sender = FakeSender(clock)
    w = worker(db, sender, clock)
    result = await w.run_until_idle()
    assert result.held == 1 and result.skipped == 1 and not sender.sent
    async with db.unit_of_work() as s:
        held = (await DeliveryRepo(s).for_chat(1))[0]
    assert held.next_attempt_at == clock().replace(hour=13) and held.attempts == 0
    assert await states(db, 2) == [DeliveryState.SKIPPED]
    clock.now = clock().replace(hour=13)
    await w.run_until_idle()
    assert len(sender.to(1)) == 1 and not sender.to(2)


async def test_group_limit_and_stop_releases(db: Database) -> None:
    """A group gets ≤ 20 messages a minute; the rest wait; stop() releases claimed rows."""
    await make_chat(db, -100, type=ChatType.GROUP)
    stories = [await make_story(db, f"s{i}") for i in range(25)]
    async with db.unit_of_work() as s:
        for sid in stories:
            await FollowRepo(s).follow_story(-100, sid)
    for sid in stories:
        await make_article(db, sid, f"a{sid}")
    await FanOut(db, clock=FakeClock()).run_until_idle()
    clock = FakeClock()
    sender = FakeSender(clock)
    limiter = RateLimiter(1000)
    w = worker(db, sender, clock, limiter=limiter, tuning=WorkerTuning(lease_seconds=30))
    await w.run_once()
    assert len(sender.sent) == 20  # the other 5 would wait past the lease: rescheduled
    assert (await w.run_once()).claimed == 0
    clock.advance(62)  # 60 s window plus the limiter's safety margin
    await w.run_until_idle()
    assert len(sender.sent) == 25 and len({m.text for m in sender.sent}) == 25
    async with db.unit_of_work() as s:
        await DeliveryRepo(s).enqueue_many(
            [NewDelivery(chat_id=-100, kind=DeliveryKind.DIGEST)], clock()
        )
        claimed = await DeliveryRepo(s).claim(clock(), w.holder, clock() + timedelta(minutes=1), 5)
    assert len(claimed) == 1
    assert await w.stop() == 1
    assert (await w.run_once()).claimed == 0  # a stopped worker claims nothing
    assert (await states(db, -100))[-1] == DeliveryState.PENDING


async def test_many_chats_two_workers_no_duplicates(db: Database) -> None:
    """Two workers (holders) sharing the outbox, with faults sprinkled: each chat gets one message."""
    story = await make_story(db)
    chats = list(range(1, 121))
    async with db.unit_of_work() as s:
        for cid in chats:
            await ChatRepo(s).ensure(cid)
            await FollowRepo(s).follow_story(cid, story)
    await make_article(db, story, "big")
    assert (await FanOut(db, clock=FakeClock()).run_until_idle()).enqueued == len(chats)
    clock = FakeClock()
    faults: dict[int, list[Exception]] = {
        cid: [SendTransient("502")] if cid % 7 == 0 else [SendRetryAfter(2)] for cid in chats[::5]
    }
    sender = FakeSender(clock, faults=faults)
    w1 = worker(db, sender, clock, holder="p1", tuning=WorkerTuning(batch=50, max_in_flight=16))
    w2 = worker(db, sender, clock, holder="p2", tuning=WorkerTuning(batch=50, max_in_flight=16))
    for _ in range(10):
        await asyncio.gather(w1.run_until_idle(), w2.run_until_idle())
        clock.advance(5)
    assert sorted(m.chat_id for m in sender.sent) == chats
    async with db.unit_of_work() as s:
        counts = await DeliveryRepo(s).counts_by_state()
    assert counts["sent"] == len(chats) and counts["pending"] == counts["claimed"] == 0


class _StubRequest:
    """Just enough of a PTB request for TelegramSender: raises a chosen error or answers."""

    def __init__(self, error: Exception | None) -> None:
        """Remember the error to raise."""
        self.error = error
        self.url = ""
        self.params: dict[str, object] = {}

    async def post(self, url: str, request_data: RequestData) -> object:
        """Record the call; raise the error or answer a sendMessage result."""
        self.url, self.params = url, request_data.parameters
        if self.error is not None:
            raise self.error
        return {"message_id": 42, "chat": {"id": 1, "type": "private"}, "date": 0}


class _StubBot:
    """Just enough of telegram.Bot for TelegramSender: a base URL and a request."""

    base_url = "https://api.example/bot1:x"

    def __init__(self, error: Exception | None) -> None:
        """Answer through a stub request."""
        self.request = _StubRequest(error)


@dataclass(frozen=True)
class _B:
    """A rendered button."""

    text: str
    data: str | None = None
    url: str | None = None


async def test_telegram_sender_maps_errors() -> None:
    """PTB errors become the typed send errors; a success returns the message id."""
    import pytest
    from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

    from bot.delivery import TelegramSender

    ok = _StubBot(None)
    sender = TelegramSender(ok)  # type: ignore[arg-type]
    assert await sender.send(1, "<b>x</b>", [[_B("Follow", data="fs:1")]], True) == 42
    assert ok.request.url == "https://api.example/bot1:x/sendMessage"
    assert ok.request.params["parse_mode"] == "HTML"
    assert ok.request.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Follow", "callback_data": "fs:1"}]]
    }
    cases: list[tuple[Exception, type[Exception]]] = [
        (RetryAfter(5), SendRetryAfter),
        (Forbidden("bot was blocked by the user"), SendForbidden),
        (BadRequest("Chat not found"), SendForbidden),
        (BadRequest("Can't parse entities: unsupported start tag"), SendBadContent),
        (TimedOut(), SendTransient),
        (NetworkError("Bad Gateway"), SendTransient),
    ]
    for error, expected in cases:
        with pytest.raises(expected):
            await TelegramSender(_StubBot(error)).send(1, "t", [], True, html=False)  # type: ignore[arg-type]
    with pytest.raises(SendRetryAfter) as info:
        await TelegramSender(_StubBot(RetryAfter(5))).send(1, "t", [], True)  # type: ignore[arg-type]
    assert info.value.seconds == 5.0 and not info.value.is_global


def _decoded(params: dict[str, str]) -> dict[str, object]:
    """Form fields with their JSON values decoded (key order inside objects is irrelevant)."""
    import json

    return {k: json.loads(v) if v[:1] in "{[" else v for k, v in params.items()}


async def test_send_parameters_match_ptb_send_message() -> None:
    """The fast path posts exactly what `Bot.send_message` would (JSON-encoded fields)."""
    from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions

    from bot.delivery import send_message_data

    class Recorder(_StubRequest):
        """Records what PTB's Bot posts."""

        async def initialize(self) -> None:
            """Nothing to open."""

        async def shutdown(self) -> None:
            """Nothing to close."""

        async def post(self, url: str, request_data: RequestData, **_: object) -> object:
            """Keep the JSON-encoded parameters PTB built."""
            self.json = request_data.json_parameters
            return await super().post(url, request_data)

    recorder = Recorder(None)
    bot = Bot("1:x", request=recorder)  # type: ignore[arg-type]
    buttons = [[_B("Open", url="https://x.example/a")], [_B("Follow", data="fs:1"), _B("Mute")]]
    for html_mode, preview in ((True, True), (False, False)):
        await bot.send_message(
            chat_id=-1001,
            text="<b>خبر</b> & news",
            parse_mode="HTML" if html_mode else None,
            reply_markup=InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton("Open", url="https://x.example/a")],
                    [
                        InlineKeyboardButton("Follow", callback_data="fs:1"),
                        InlineKeyboardButton("Mute", callback_data=""),
                    ],
                ]
            ),
            link_preview_options=LinkPreviewOptions(is_disabled=preview),
        )
        ours = send_message_data(-1001, "<b>خبر</b> & news", buttons, preview, html=html_mode)
        assert _decoded(ours.json_parameters) == _decoded(recorder.json)
    plain = send_message_data(5, "t", [], True, html=False).parameters
    assert "reply_markup" not in plain and "parse_mode" not in plain


async def test_muted_story_blocks_keyword_matches_too(db: Database) -> None:
    """A chat that muted a story gets none of its articles, even through a keyword follow."""
    from datetime import UTC, datetime

    from bot.delivery import FanOut
    from storage.repos.articles import ArticleFields, ArticleRepo
    from storage.repos.chats import ChatRepo, FollowRepo
    from storage.repos.deliveries import DeliveryRepo
    from storage.repos.stories import StoryRepo

    now = datetime(2026, 11, 1, tzinfo=UTC)
    async with db.unit_of_work() as s:
        await ChatRepo(s).ensure(7)
        story = await StoryRepo(s).create("Floods", now)
        keyword, _ = await FollowRepo(s).follow_keyword(7, "floods", ["flood"])
        muted, _ = await FollowRepo(s).follow_story(7, story.id)
        await FollowRepo(s).update(7, muted.id, muted=True)
        article = await ArticleRepo(s).insert(
            ArticleFields(url="https://x/1", title="Floods", published_at=now)
        )
        await ArticleRepo(s).set_story(article.id, story.id)
    result = await FanOut(db, lambda _article: {keyword.id}).run_until_idle()
    async with db.unit_of_work() as s:
        owed = await DeliveryRepo(s).for_chat(7)
    assert result.articles == 1 and owed == []


async def _many_owed(db: Database, count: int) -> list[int]:
    """`count` chats following one story with one article fanned out to each."""
    story = await make_story(db)
    chats = list(range(1, count + 1))
    async with db.unit_of_work() as s:
        for cid in chats:
            await ChatRepo(s).ensure(cid)
            await FollowRepo(s).follow_story(cid, story)
    await make_article(db, story, "wide")
    assert (await FanOut(db, clock=FakeClock()).run_until_idle()).enqueued == count
    return chats


async def test_one_pass_claims_more_while_sending(db: Database) -> None:
    """A pass claims the next batch before its queue runs dry: no pause between batches."""
    chats = await _many_owed(db, 60)
    clock = FakeClock()
    sender = FakeSender(clock)
    w = worker(
        db, sender, clock, max_per_second=4.0, tuning=WorkerTuning(batch=10, max_in_flight=4)
    )
    result = await w.run_once()
    assert result.claimed == 60 and result.sent == 60
    assert sorted(m.chat_id for m in sender.sent) == chats
    async with db.unit_of_work() as s:
        counts = await DeliveryRepo(s).counts_by_state()
    assert counts["sent"] == 60 and counts["pending"] == counts["claimed"] == 0


async def test_stop_mid_pass_leaves_nothing_claimed(db: Database) -> None:
    """Stopping during a refilling pass sends nothing more and gives every claim back."""
    await _many_owed(db, 60)
    clock = FakeClock()
    sender = FakeSender(clock)
    w = worker(
        db, sender, clock, max_per_second=4.0, tuning=WorkerTuning(batch=10, max_in_flight=4)
    )
    running = asyncio.create_task(w.run_once())

    async def fifteen_sent() -> None:
        """Until 15 messages went out."""
        while len(sender.sent) < 15:
            await asyncio.sleep(0)

    await asyncio.wait_for(fifteen_sent(), timeout=30)
    await w.stop()
    result = await running
    async with db.unit_of_work() as s:
        counts = await DeliveryRepo(s).counts_by_state()
    assert 15 <= counts["sent"] == len(sender.sent) < 60
    assert counts["claimed"] == 0 and counts["pending"] == 60 - counts["sent"]
    assert result.sent == len(sender.sent)


async def test_senders_wait_for_the_pace_in_turn(db: Database) -> None:
    """Under a tight budget each send waits about once: senders do not all wake per slot."""
    chats = await _many_owed(db, 120)
    clock = FakeClock()
    sender = FakeSender(clock)
    sleeps: list[float] = []

    async def counting_sleep(seconds: float) -> None:
        """Count the worker's waits on the fake clock."""
        sleeps.append(seconds)
        await clock.sleep(seconds)

    w = DeliveryWorker(
        db,
        sender,
        compose,
        clock=clock,
        sleep=counting_sleep,
        max_per_second=20.0,
        tuning=WorkerTuning(max_in_flight=32),
    )
    start = clock()
    result = await w.run_until_idle()
    assert result.sent == 120 and sorted(m.chat_id for m in sender.sent) == chats
    assert len(sleeps) <= 240  # one or two waits per send (a wake-up herd makes thousands)
    spent = (sender.sent[-1].at - start).total_seconds()
    assert 5.5 <= spent <= 6.5  # 120 sends at 20 per second, evenly spaced


def test_worker_windows_are_capped_at_telegrams_limit() -> None:
    """The default budget is spaced at 29/s under Telegram's 30; a raised one gets the same room."""
    from bot.delivery import window_ceiling
    from bot.settings import DEFAULT_MESSAGES_PER_SECOND, Settings

    field = Settings.model_fields["max_messages_per_second"]
    assert field.default == DEFAULT_MESSAGES_PER_SECOND == 29.0
    assert window_ceiling(29.0) == 30.0 and window_ceiling(10.0) == 30.0
    assert int(window_ceiling(1000.0)) == 1034 and int(window_ceiling(970.0)) == 1003
    limiter = RateLimiter(29.0, ceiling=window_ceiling(29.0))
    assert (limiter.global_count, limiter.window_count) == (29, 30)
