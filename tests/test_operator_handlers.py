"""Operator commands through the recording Bot API: /sources, its buttons, /export, /import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.demo import ApiCall
from bot.pipeline.opml import read_opml
from bot.presentation.callbacks import encode
from storage.db import Database
from storage.repos.sources import SourceRepo
from tests.bot_harness import ADMIN_ID, USER_ID, Harness, joined, make_harness
from tests.test_opml import BILLION_LAUGHS

ADMIN = {"chat_id": ADMIN_ID, "user_id": ADMIN_ID}
OPML = (
    '<?xml version="1.0" encoding="utf-8"?><opml version="2.0"><body><outline text="Gulf">'
    '<outline text="وكالة الميناء" type="rss" xmlUrl="https://mina.example/rss" language="ar"/>'
    '<outline text="Daily" type="rss" xmlUrl="https://daily.example/feed"/>'
    '<outline text="Bad" type="rss" xmlUrl="javascript:alert(1)"/></outline></body></opml>'
).encode()
TOML = b'[[source]]\nurl = "https://toml.example/rss"\nname = "From TOML"\n'


@pytest.fixture
async def bot(db: Database) -> AsyncIterator[Harness]:
    """A harness whose operator is ADMIN_ID."""
    async with make_harness(db) as harness:
        yield harness


async def add_sources(bot: Harness) -> list[int]:
    """Three sources: one fetched a while ago, one failing with an HTML-ish error, one paused."""
    svc = bot.services.sources
    ok = await svc.add("https://ok.example/rss", name="وكالة الميناء", lang="ar")
    failing = await svc.add("https://failing.example/feed")
    paused = await svc.add("https://paused.example/", name="Paused <b>site</b>")
    now = bot.clock()
    async with bot.services.db.unit_of_work() as session:
        repo = SourceRepo(session)
        await repo.record_poll(ok.id, now=now - timedelta(minutes=5), next_poll_at=now, error=None)
        await repo.record_poll(
            failing.id, now=now, next_poll_at=now, error="HTTP 503 <html>Service Unavailable</html>"
        )
        await repo.set_paused(paused.id, True)
    return [ok.id, failing.id, paused.id]


async def send_document(
    bot: Harness,
    content: bytes,
    name: str,
    *,
    caption: str | None = None,
    reply_to_text: str | None = None,
    user_id: int = ADMIN_ID,
    lang: str = "en",
    size: int | None = None,
) -> list[ApiCall]:
    """A private message carrying a document (optionally captioned or replying to a text)."""
    document = bot.api.add_file(content, name)
    if size is not None:
        document["file_size"] = size
    payload = bot.updates.message("x", chat_id=user_id, user_id=user_id, language_code=lang)
    message: dict[str, Any] = payload["message"]
    message.pop("text")
    message.pop("entities", None)
    message["document"] = document
    if caption is not None:
        message["caption"] = caption
        if caption.startswith("/"):
            length = len(caption.split()[0])
            message["caption_entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    if reply_to_text is not None:
        message["reply_to_message"] = {
            "message_id": 5,
            "date": message["date"],
            "chat": message["chat"],
            "text": reply_to_text,
        }
    return await bot.process(payload)


# --------------------------------------------------------------------------- /sources


async def test_sources_in_english(bot: Harness) -> None:
    """Name, kind, language, last success, escaped last error, error count and paused state."""
    ids = await add_sources(bot)
    text = joined(await bot.command("/sources", **ADMIN))
    assert "Sources</b> 1–3 of 3" in text
    assert "وكالة الميناء" in text and "Arabic" in text and "last success 5 min ago" in text
    assert "failing.example" in text and "no successful fetch yet" in text
    assert "HTTP 503 &lt;html&gt;Service Unavailable&lt;/html&gt;" in text and "1 error" in text
    assert "Paused &lt;b&gt;site&lt;/b&gt;" in text and "paused" in text
    message = bot.last_message(ADMIN_ID)
    datas = [b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert datas == [encode("sx", ids[0], 0), encode("sx", ids[1], 0), encode("sx", ids[2], 0)]
    labels = [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert labels[2].startswith("▶️ Resume") and labels[0].startswith("⏸ Pause")


async def test_sources_in_arabic(bot: Harness) -> None:
    """The same view in Arabic, relative times included."""
    await add_sources(bot)
    text = joined(await bot.command("/sources", lang="ar", **ADMIN))
    assert "المصادر" in text and "من 3" in text
    assert "العربية" in text and "آخر جلب ناجح منذ 5 دقائق" in text
    assert "لم يُجلب بنجاح بعد" in text and "متوقف مؤقتًا" in text and "آخر خطأ" in text


async def test_sources_refused_to_non_operators(bot: Harness) -> None:
    """Only operators see /sources or press its buttons."""
    ids = await add_sources(bot)
    assert "operators only" in joined(await bot.command("/sources"))
    calls = await bot.press(encode("sx", ids[0], 0))
    assert "Only admins" in joined(calls)
    assert not (await bot.services.sources.list())[0].paused
    assert "Only admins" in joined(await bot.press(encode("sv", 1)))


async def test_pause_and_resume_buttons(bot: Harness) -> None:
    """⏸ pauses, ▶️ resumes, the page is redrawn in place; a stale id is a stale button."""
    ids = await add_sources(bot)
    await bot.command("/sources", **ADMIN)
    calls = await bot.press(encode("sx", ids[0], 0), chat_id=ADMIN_ID, user_id=ADMIN_ID)
    assert f"Source #{ids[0]} paused" in joined(calls)
    assert any(c.method == "editMessageText" for c in calls)
    assert (await bot.services.sources.list())[0].paused
    calls = await bot.press(encode("sx", ids[0], 0), chat_id=ADMIN_ID, user_id=ADMIN_ID)
    assert f"Source #{ids[0]} resumed" in joined(calls)
    assert not (await bot.services.sources.list())[0].paused
    calls = await bot.press(encode("sx", 999_999, 0), chat_id=ADMIN_ID, user_id=ADMIN_ID)
    assert "expired" in joined(calls)


async def test_long_lists_are_paged_under_the_limit(bot: Harness) -> None:
    """20 sources with 2,000-character URLs: 8 per page, each under 4096, with ◀ ▶."""
    for i in range(20):
        await bot.services.sources.add(f"https://s{i}.example/" + "p" * 1900, name="n" * 300)
    calls = await bot.command("/sources", **ADMIN)
    assert len(calls) == 1 and len(calls[0].params["text"]) <= 4096
    assert "1–8 of 20" in calls[0].params["text"]
    calls = await bot.press(encode("sv", 2), chat_id=ADMIN_ID, user_id=ADMIN_ID)
    assert "17–20 of 20" in joined(calls)
    calls = await bot.press(encode("sv", 99), chat_id=ADMIN_ID, user_id=ADMIN_ID)
    assert "17–20 of 20" in joined(calls)  # a stale page lands on the last one


# --------------------------------------------------------------------------- /export


async def test_export_sends_an_opml_document(bot: Harness) -> None:
    """/export answers with sendDocument; the file lists every source with its language."""
    assert "No sources to export" in joined(await bot.command("/export", **ADMIN))
    await add_sources(bot)
    calls = await bot.command("/export", **ADMIN)
    assert [c.method for c in calls] == ["sendDocument"]
    assert calls[0].params["caption"] == "📤 3 sources as OPML"
    chat_id, name, content = bot.api.documents[-1]
    assert (chat_id, name) == (ADMIN_ID, "akhbar-sources.opml")
    entries = read_opml(content).entries
    assert [(e.url, e.lang) for e in entries[:1]] == [("https://ok.example/rss", "ar")]
    assert len(entries) == 3
    await bot.services.chats.set_language(ADMIN_ID, "ar")
    arabic = await bot.command("/export", **ADMIN)
    assert arabic[0].params["caption"] == "📤 3 مصادر بصيغة OPML"
    assert "operators only" in joined(await bot.command("/export"))
    assert len(bot.api.documents) == 2


# --------------------------------------------------------------------------- /import


async def test_import_opml_with_caption(bot: Harness) -> None:
    """A document captioned /import is imported: added, already present and rejected reported."""
    calls = await send_document(bot, OPML, "feeds.opml", caption="/import")
    text = joined(calls)
    assert "2 added, 0 already listed, 1 rejected" in text
    assert "وكالة الميناء" in text and "javascript:alert(1)" in text
    assert [c.method for c in calls if c.method == "getFile"] == ["getFile"]
    again = joined(await send_document(bot, OPML, "feeds.opml", caption="/import@akhbar_demo_bot"))
    assert "0 added, 2 already listed, 1 rejected" in again
    sources = {s.url: s for s in await bot.services.sources.list()}
    assert sources["https://mina.example/rss"].lang == "ar"


async def test_import_toml_by_reply_in_arabic(bot: Harness) -> None:
    """/import replying to a TOML document, or a document replying to /import, in Arabic."""
    payload = bot.updates.message("/import", chat_id=ADMIN_ID, user_id=ADMIN_ID, language_code="ar")
    payload["message"]["reply_to_message"] = {
        "message_id": 3,
        "date": payload["message"]["date"],
        "chat": payload["message"]["chat"],
        "document": bot.api.add_file(TOML, "list.toml"),
    }
    text = joined(await bot.process(payload))
    assert "الاستيراد: أُضيف 1" in text and "From TOML" in text
    toml2 = b'[[source]]\nurl = "https://second.example/rss"\n'
    text = joined(await send_document(bot, toml2, "s.toml", reply_to_text="/import", lang="ar"))
    assert "أُضيف 1" in text
    assert len(await bot.services.sources.list()) == 2


async def test_import_bad_input(bot: Harness) -> None:
    """Usage, hostile XML, a file over 1 MB, and non-operators: clear answers, nothing added."""
    assert "caption /import" in joined(await bot.command("/import", **ADMIN))
    arabic = joined(await bot.command("/import", chat_id=8, user_id=ADMIN_ID, lang="ar"))
    assert "بالأمر /import" in arabic  # another chat of the operator's, in Arabic
    hostile = joined(await send_document(bot, BILLION_LAUGHS, "x.opml", caption="/import"))
    assert "Could not read that file: DTDs and entity declarations" in hostile
    big = await send_document(bot, b"x", "big.opml", caption="/import", size=5_000_000)
    assert "too large to import" in joined(big) and not any(c.method == "getFile" for c in big)
    garbage = joined(await send_document(bot, b"\x00\xff\x00garbage", "x.bin", caption="/import"))
    assert "Could not read that file" in garbage
    refused = await send_document(bot, OPML, "feeds.opml", caption="/import", user_id=USER_ID)
    assert "operators only" in joined(refused)
    assert await bot.services.sources.list() == []


async def test_documents_without_import_are_ignored(bot: Harness) -> None:
    """A document with another caption (or none) gets no answer."""
    assert await send_document(bot, OPML, "feeds.opml") == []
    assert await send_document(bot, OPML, "feeds.opml", caption="my feeds") == []
    assert await bot.services.sources.list() == []


async def test_download_failure_is_reported(bot: Harness) -> None:
    """When the file cannot be fetched from Telegram, the operator is told to send it again."""
    payload = bot.updates.message("/import", **ADMIN, language_code="en")
    payload["message"]["reply_to_message"] = {
        "message_id": 3,
        "date": payload["message"]["date"],
        "chat": payload["message"]["chat"],
        "document": {"file_id": "gone", "file_unique_id": "gone", "file_size": 10},
    }
    assert "Could not download the file" in joined(await bot.process(payload))  # getFile: 400
    assert await bot.services.sources.list() == []


async def test_one_shot_inputs_are_not_listed(bot: Harness) -> None:
    """Sources made for one-shot ingestion (`jsonl:…`) are neither listed, resumed nor exported."""
    await bot.add_articles([{"id": "1", "title": "Port reopens", "text": "x" * 80, "source": "S"}])
    synthetic = (await bot.services.sources.list())[0]
    assert synthetic.url == "jsonl:S" and synthetic.paused
    assert "No sources yet" in joined(await bot.command("/sources", **ADMIN))
    calls = await bot.press(encode("sx", synthetic.id, 0), chat_id=ADMIN_ID, user_id=ADMIN_ID)
    assert "expired" in joined(calls) and (await bot.services.sources.list())[0].paused
    assert "No sources to export" in joined(await bot.command("/export", **ADMIN))


def test_file_downloads_go_beside_the_bot_api() -> None:
    """getFile downloads use the file base next to TELEGRAM_API_URL (a local Bot API server)."""
    from bot.app import file_url_for

    assert file_url_for("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    assert file_url_for("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url_for("https://proxy.example/tg/") == "https://api.telegram.org/file/bot"
