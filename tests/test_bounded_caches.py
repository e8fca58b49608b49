"""Every in-memory cache of a long-running process is bounded in entries and in entry size.

One test per bound: the digest parts waiting for their send (dropped when the row is
never composed here), a digest's sent-parts progress (dropped when the row fails for good,
capped), render and stemmer memos (hostile, long keys are computed, never kept), and the
fetcher's per-host gates (dropped when no fetch of the host is under way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from bot.delivery import DeliveryWorker, SendTransient, WorkerTuning
from bot.delivery import chat_sender as chat_sender_module
from bot.digests import DigestScheduler
from bot.domain import Chat, DeliveryState
from bot.fetch import Fetcher
from bot.pipeline import text as text_module
from bot.pipeline.memo import short_key_cache
from bot.presentation import render
from storage.db import Database
from storage.repos.chats import ChatRepo
from storage.repos.deliveries import DeliveryRepo
from tests.delivery_helpers import FakeClock, FakeSender, compose, make_chat

HOSTILE = "x" * 200_000  # one feed item's headline or word, as long as a body


async def three_parts(chat: Chat, since: datetime) -> Sequence[str]:
    """A digest of three messages for every chat."""
    return [f"part {n} for {chat.id}" for n in (1, 2, 3)]


async def test_digest_parts_of_rows_never_composed_here_are_dropped(db: Database) -> None:
    """Parts built for a chat that is then paused (its row skipped) or served by another
    process wait at most `cache_seconds`, then the next tick drops them."""
    for chat_id in (1, 2, 3):
        await make_chat(db, chat_id)
    clock = FakeClock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    scheduler = DigestScheduler(db, three_parts, clock=clock, cache_seconds=600)
    await scheduler.tick()  # schedules 08:00 UTC
    clock.now = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    assert (await scheduler.tick()).enqueued == 3
    assert scheduler.cached == 3
    async with db.unit_of_work() as s:
        await ChatRepo(s).update(2, paused=True)
    sender = FakeSender(clock)
    worker = DeliveryWorker(
        db, sender, compose, compose_digest=scheduler.compose, clock=clock, sleep=clock.sleep
    )
    await worker.run_until_idle()
    assert sorted({m.chat_id for m in sender.sent}) == [1, 3]
    assert scheduler.cached == 1  # chat 2's parts: its row was skipped, never composed
    clock.advance(601)
    await scheduler.tick()
    assert scheduler.cached == 0


async def test_digest_progress_is_dropped_when_the_row_fails_for_good(db: Database) -> None:
    """A digest interrupted after its first part remembers it; parked, the entry goes."""
    await make_chat(db, 1)
    clock = FakeClock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    scheduler = DigestScheduler(db, three_parts, clock=clock)
    await scheduler.tick()
    clock.now = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    await scheduler.tick()
    sender = FakeSender(clock, faults={})
    tuning = WorkerTuning(max_attempts=2, backoff_base=1.0)
    worker = DeliveryWorker(
        db,
        sender,
        compose,
        compose_digest=scheduler.compose,
        clock=clock,
        sleep=clock.sleep,
        tuning=tuning,
    )
    original = sender.send
    calls = 0

    async def second_part_fails(chat_id: int, text: str, *args: object, **kw: bool) -> int:
        """Part one goes; every later part times out."""
        nonlocal calls
        calls += 1
        if calls > 1:
            raise SendTransient("timed out")
        return await original(chat_id, text, *args, **kw)  # type: ignore[arg-type]

    sender.send = second_part_fails  # type: ignore[method-assign, assignment]
    await worker.run_once()
    assert list(worker.chats.progress.values()) == [1]
    clock.advance(2)
    await worker.run_once()
    async with db.unit_of_work() as s:
        (row,) = await DeliveryRepo(s).for_chat(1)
    assert row.state == DeliveryState.FAILED
    assert worker.chats.progress == {}


def test_digest_progress_keeps_at_most_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past `PROGRESS_MAX` interrupted digests the oldest are forgotten."""
    monkeypatch.setattr(chat_sender_module, "PROGRESS_MAX", 3)
    worker = DeliveryWorker(Database("sqlite+aiosqlite://"), FakeSender(FakeClock()), compose)
    for row_id in range(10):
        worker.chats._progressed(row_id, 1)
    worker.chats._progressed(8, 2)
    assert worker.chats.progress == {7: 1, 9: 1, 8: 2}


def test_render_memos_keep_no_long_key() -> None:
    """A hostile headline renders the same, but is not kept in the memo."""
    render._headline.cache_clear()  # type: ignore[attr-defined]
    url = "https://news.example/a"
    short = render._headline(url, "Port strike")
    assert render._headline.cache_info().currsize == 1  # type: ignore[attr-defined]
    long = render._headline(url, HOSTILE)
    assert render._headline.cache_info().currsize == 1  # type: ignore[attr-defined]
    assert long == render.link(url, render.isolate(HOSTILE, render.HEADLINE_MAX))
    assert short == render.link(url, render.isolate("Port strike", render.HEADLINE_MAX))
    before = render._escaped.cache_info().currsize  # type: ignore[attr-defined]
    render._escaped(HOSTILE, render.SUMMARY_MAX)
    assert render._escaped.cache_info().currsize == before  # type: ignore[attr-defined]


def test_stemmer_memos_keep_no_long_token() -> None:
    """A 200,000-letter 'word' gets its term, but no memo keeps it."""
    text_module.term_of.cache_clear()  # type: ignore[attr-defined]
    text_module._TOKEN_TERMS.clear()
    terms = text_module.matching_terms(f"ports {HOSTILE}")
    assert terms[0] == "port" and len(terms) == 2 and len(terms[1]) > 100_000
    assert list(text_module._TOKEN_TERMS) == ["ports"]
    assert text_module.term_of("ports") == "port" and text_module.term_of(HOSTILE) == terms[1]
    assert text_module.term_of.cache_info().currsize == 1  # type: ignore[attr-defined]
    assert all(len(k) <= text_module.TOKEN_KEY_MAX for k in text_module._TOKEN_TERMS)
    text_module.headline_terms.cache_clear()  # type: ignore[attr-defined]
    assert text_module.headline_terms(f"Ports {HOSTILE}")[0] == "port"
    assert text_module.headline_terms.cache_info().currsize == 0  # type: ignore[attr-defined]


def test_short_key_cache_counts_only_string_arguments() -> None:
    """Calls whose strings hold more than the bound go straight through, same result."""
    calls: list[str] = []

    @short_key_cache(maxsize=10, key_chars_max=5)
    def shout(word: str, times: int) -> str:
        """The word, upper-cased, `times` times."""
        calls.append(word)
        return word.upper() * times

    assert shout("abc", 2) == shout("abc", 2) == "ABCABC"
    assert shout("abcdef", 1) == shout("abcdef", 1) == "ABCDEF"
    assert calls == ["abc", "abcdef", "abcdef"]


async def test_fetcher_drops_a_hosts_gate_when_its_fetches_end() -> None:
    """Per-host gates exist only while a fetch of that host is under way."""
    fetcher = Fetcher()
    try:
        inside = asyncio.Event()
        release = asyncio.Event()

        async def hold(host: str) -> None:
            """Hold one slot of `host` until released."""
            async with fetcher._host_slot(host):
                inside.set()
                await release.wait()

        tasks = [asyncio.create_task(hold(f"h{n}.example")) for n in range(50)]
        await inside.wait()
        await asyncio.sleep(0)
        assert fetcher.hosts_tracked == 50
        release.set()
        await asyncio.gather(*tasks)
        assert fetcher.hosts_tracked == 0
    finally:
        await fetcher.aclose()
