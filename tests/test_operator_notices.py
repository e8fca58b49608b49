"""The operator notice job: sent once, coalesced, in the operator's language, kept on errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import OperatorNotice
from bot.operator_notices import OperatorNotices
from bot.pipeline.notices import SourceNotice, failing_notice, paused_notice, read_notice
from bot.presentation.render import MAX_MESSAGE
from bot.presentation.sources import notice_line, render_notices
from bot.settings import Settings
from storage.db import Database
from storage.repos.chats import ChatRepo
from storage.repos.ops import LeaseRepo, NoticeRepo

OPERATORS = frozenset({7, 8})
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Outbox:
    """A SendHtml that records messages and fails for chosen chats."""

    def __init__(self, failing: set[int] | None = None) -> None:
        """Start empty; sends to `failing` chats raise."""
        self.sent: list[tuple[int, str]] = []
        self.failing = failing or set()

    async def __call__(self, chat_id: int, text: str) -> None:
        """Record or fail."""
        if chat_id in self.failing:
            raise RuntimeError("Forbidden: bot was blocked by the user")
        self.sent.append((chat_id, text))


def job(db: Database, outbox: Outbox, holder: str = "p1", limit: int = 20) -> OperatorNotices:
    """A notice job for the two operators."""
    settings = Settings(admin_ids=OPERATORS, default_language="en")
    return OperatorNotices(db, settings, outbox, lambda: NOW, holder, limit=limit)


async def add_notices(db: Database, *texts: str) -> None:
    """Queue notices."""
    async with db.unit_of_work() as session:
        for text in texts:
            await NoticeRepo(session).add(text)


async def test_notices_are_coalesced_and_sent_once(db: Database) -> None:
    """Three notices make one message per operator; a second run sends nothing."""
    await add_notices(db, "source 1 (A) paused", "source 2 (B) failed 5 times <in a row>", "x & y")
    outbox = Outbox()
    run = await job(db, outbox).run_once()
    assert run.sent == 3 and run.kept == 0
    assert [chat for chat, _ in outbox.sent] == [7, 8]
    text = outbox.sent[0][1]
    assert "3 operator notices" in text and "source 1 (A) paused" in text
    assert "&lt;in a row&gt;" in text and "x &amp; y" in text
    again = await job(db, outbox).run_once()
    assert again.sent == 0 and len(outbox.sent) == 2
    async with db.unit_of_work() as session:
        assert await NoticeRepo(session).count_unseen() == 0


async def test_operator_language_is_used(db: Database) -> None:
    """An operator whose chat is in Arabic gets the Arabic header."""
    async with db.unit_of_work() as session:
        await ChatRepo(session).ensure(8, language="ar")
    await add_notices(db, "source 1 (A) paused")
    outbox = Outbox()
    await job(db, outbox).run_once()
    by_chat = dict(outbox.sent)
    assert "operator notice" in by_chat[7]
    assert "تنبيه واحد للمشغّل" in by_chat[8]


async def test_notices_survive_telegram_errors(db: Database) -> None:
    """When every send fails the notices stay queued; one operator reached is enough."""
    await add_notices(db, "source 3 (C) paused")
    failing = Outbox(failing={7, 8})
    assert (await job(db, failing).run_once()).kept == 1
    async with db.unit_of_work() as session:
        assert await NoticeRepo(session).count_unseen() == 1
    partly = Outbox(failing={7})
    assert (await job(db, partly).run_once()).sent == 1
    assert [chat for chat, _ in partly.sent] == [8]
    async with db.unit_of_work() as session:
        assert await NoticeRepo(session).count_unseen() == 0


async def test_bounded_per_run_and_split_under_the_limit(db: Database) -> None:
    """At most `limit` notices per run, the rest announced and sent next run; parts ≤ 4096."""
    await add_notices(db, *(f"notice {i} " + "e" * 380 for i in range(25)))
    outbox = Outbox()
    first = await job(db, outbox, limit=15).run_once()
    assert first.sent == 15
    texts = [text for chat, text in outbox.sent if chat == 7]
    assert len(texts) >= 2 and all(len(t.encode("utf-16-le")) // 2 <= MAX_MESSAGE for t in texts)
    assert "25 operator notices" in texts[0] and "10 more will follow" in texts[-1]
    second = await job(db, outbox, limit=15).run_once()
    assert second.sent == 10


async def test_one_process_at_a_time(db: Database) -> None:
    """While another process holds the notice lease, a run sends nothing."""
    await add_notices(db, "source 1 (A) paused")
    async with db.unit_of_work() as session:
        assert await LeaseRepo(session).acquire("operator-notices", "p2", NOW, timedelta(60))
    outbox = Outbox()
    assert (await job(db, outbox, holder="p1").run_once()).sent == 0
    assert outbox.sent == []


async def test_no_operators_no_work(db: Database) -> None:
    """Without AKHBAR_ADMIN_IDS the job does nothing (notices stay for `akhbar status`)."""
    await add_notices(db, "source 1 (A) paused")
    outbox = Outbox()
    settings = Settings(admin_ids=frozenset())
    run = await OperatorNotices(db, settings, outbox, lambda: NOW, "p1").run_once()
    assert run.sent == 0 and outbox.sent == []


def test_source_notices_are_worded_in_each_language() -> None:
    """Paused and failing notices read back into the operator's language, names isolated and
    escaped; lines in other formats are shown as they are."""
    paused = paused_notice(4, "Bad <b>Name</b> (x)", 20, "HTTP 503: <html>")
    failing = failing_notice(5, "وكالة الميناء", 5, "ValueError: no article found on the page")
    assert read_notice(paused) == SourceNotice(
        "paused", 4, "Bad <b>Name</b> (x)", 20, "HTTP 503: <html>"
    )
    assert read_notice("3 deliveries parked") is None
    en = notice_line("en", paused)
    assert "Source #4" in en and "Bad &lt;b&gt;Name&lt;/b&gt; (x)" in en
    assert "paused after 20 failures in a row" in en and "HTTP 503: &lt;html&gt;" in en
    ar = notice_line("ar", failing)
    assert "يتعثّر جلب المصدر #5" in ar and "وكالة الميناء" in ar and "5" in ar
    assert notice_line("ar", "3 deliveries <parked>") == "3 deliveries &lt;parked&gt;"
    parts = render_notices("ar", [OperatorNotice(1, paused, 4, NOW - timedelta(hours=2))], NOW)
    assert "أُوقف المصدر #4" in parts[0] and "منذ ساعتين" in parts[0]
