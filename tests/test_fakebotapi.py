"""PTB's real client against the fake Bot API server."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import sys
import time
import warnings
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.fakebotapi import FakeBotAPI, LimitConfig, check_html, spawn

TOKEN = "123456:TEST-token"
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """A running fake server."""
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    """PTB's real Bot pointed at the fake, with short timeouts."""
    request = HTTPXRequest(read_timeout=0.5, write_timeout=0.5, connect_timeout=0.5)
    async with Bot(TOKEN, base_url=api.base_url, request=request) as client:
        yield client


def _seconds(error: RetryAfter) -> float:
    """RetryAfter.retry_after as seconds, whichever type this PTB returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def test_get_me(bot: Bot) -> None:
    """getMe answers the fake bot's identity."""
    me = await bot.get_me()
    assert me.is_bot and me.username == "akhbar_test_bot"


async def test_send_message_recorded(api: FakeBotAPI, bot: Bot) -> None:
    """sendMessage answers a full Message and records what was sent."""
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Follow", callback_data="f:1")]])
    first = await bot.send_message(
        42, "<b>Hello</b> &amp; hi", parse_mode=ParseMode.HTML, reply_markup=markup
    )
    second = await bot.send_message(42, "again", disable_web_page_preview=True)
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.chat.id == 42 and first.chat.type == "private" and first.date is not None
    sent = api.sent_to(42)
    assert [m.text for m in sent] == ["<b>Hello</b> &amp; hi", "again"]
    assert sent[0].parse_mode == "HTML"
    assert sent[0].reply_markup == {
        "inline_keyboard": [[{"text": "Follow", "callback_data": "f:1"}]]
    }
    assert sent[1].link_preview_options == {"is_disabled": True}


async def test_json_body_and_unknown_method(api: FakeBotAPI) -> None:
    """JSON bodies are accepted; unknown methods answer 404 like Telegram."""
    async with httpx.AsyncClient() as client:
        ok = await client.post(
            f"{api.base_url}{TOKEN}/sendMessage", json={"chat_id": 7, "text": "json"}
        )
        missing = await client.post(f"{api.base_url}{TOKEN}/noSuchMethod")
    assert ok.json()["result"]["chat"]["id"] == 7
    assert missing.status_code == 404
    assert missing.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_long_polling_returns_pushed_update(api: FakeBotAPI, bot: Bot) -> None:
    """getUpdates waits for a pushed update and honours the offset."""
    poll = asyncio.create_task(bot.get_updates(timeout=5, read_timeout=6))
    await api.wait_for(lambda: api.calls, what="getUpdates call")
    assert not poll.done()
    api.push_message(42, "/start hello", language_code="ar", username="sami")
    updates = await asyncio.wait_for(poll, 2)
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None and message.text == "/start hello"
    assert message.from_user is not None and message.from_user.language_code == "ar"
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    assert api.pending_updates == 0


async def test_empty_long_poll_times_out(bot: Bot) -> None:
    """getUpdates with nothing queued returns empty after its timeout."""
    started = time.monotonic()
    assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.2), read_timeout=2) == ()
    assert 0.15 <= time.monotonic() - started < 1.5


async def test_second_poll_conflicts_first(api: FakeBotAPI) -> None:
    """A newer getUpdates ends an older one with 409 Conflict, as Telegram does."""
    async with Bot(TOKEN, base_url=api.base_url) as one, Bot(TOKEN, base_url=api.base_url) as two:
        first = asyncio.create_task(one.get_updates(timeout=5, read_timeout=6))
        await api.wait_for(lambda: api.calls, what="first poll")
        second = asyncio.create_task(two.get_updates(timeout=5, read_timeout=6))
        with pytest.raises(Conflict):
            await asyncio.wait_for(first, 2)
        api.push_message(1, "hi")
        assert len(await asyncio.wait_for(second, 2)) == 1


async def test_retry_after(api: FakeBotAPI, bot: Bot) -> None:
    """An injected 429 surfaces as RetryAfter with the right retry_after, once."""
    api.add_fault("retry_after", method="sendMessage", retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(1, "x")
    assert _seconds(info.value) == 7
    assert (await bot.send_message(1, "x")).message_id == 1
    assert api.count_429 == 1


async def test_blocked_per_chat_always(api: FakeBotAPI, bot: Bot) -> None:
    """A per-chat 403 applies only to that chat, every time when times=None."""
    api.add_fault("blocked", method="sendMessage", chat_id=5, times=None)
    for _ in range(2):
        with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
            await bot.send_message(5, "x")
    await bot.send_message(6, "x")
    assert [m.chat_id for m in api.sent] == [6]


async def test_bad_request_and_real_html_check(api: FakeBotAPI, bot: Bot) -> None:
    """Injected 400 and malformed HTML both raise BadRequest 'can't parse entities'."""
    api.add_fault("parse", method="sendMessage")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(1, "fine")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(1, "<b>open", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(1, " ")
    assert api.sent == []


@pytest.mark.parametrize("text", ["a < b", "<div>x</div>", "<b>x</i>", "Q&A", "<b>x", "</b>"])
def test_check_html_rejects(text: str) -> None:
    """Markup Telegram rejects is rejected."""
    with pytest.raises(Exception, match=r"(?i)can't parse entities"):
        check_html(text)


def test_check_html_accepts() -> None:
    """Telegram's supported markup passes."""
    check_html('<b>b</b> <a href="https://x.test/?a=1&amp;b=2">l</a> &lt;&#39; <pre>x</pre>')


@pytest.mark.parametrize("kind", ["server_error", "bad_gateway"])
async def test_server_errors(api: FakeBotAPI, bot: Bot, kind: str) -> None:
    """5xx answers surface as NetworkError."""
    api.add_fault(kind, method="sendMessage")  # type: ignore[arg-type]
    with pytest.raises(NetworkError):
        await bot.send_message(1, "x")


async def test_hang_times_out(api: FakeBotAPI, bot: Bot) -> None:
    """A hanging answer surfaces as TimedOut under short client timeouts."""
    api.add_fault("hang", method="sendMessage")
    with pytest.raises(TimedOut):
        await bot.send_message(1, "x", read_timeout=0.2)


async def test_limit_enforcer() -> None:
    """Past the per-chat and global windows the fake answers 429 and counts them."""
    limits = LimitConfig(global_count=3, global_window=60.0)
    async with FakeBotAPI(limits=limits) as server, Bot(TOKEN, base_url=server.base_url) as bot:
        await bot.send_message(1, "a")
        with pytest.raises(RetryAfter) as per_chat:
            await bot.send_message(1, "b")
        assert 1 <= _seconds(per_chat.value) <= 1
        await bot.send_message(2, "c")
        await bot.send_message(-1003, "d")
        with pytest.raises(RetryAfter) as global_limit:
            await bot.send_message(4, "e")
        assert _seconds(global_limit.value) > 1
        assert server.limit_429s == 2 and server.count_429 == 2
        assert len(server.sent) == 3


async def test_group_limit() -> None:
    """Groups get 20 messages per minute by default."""
    async with (
        FakeBotAPI(limits=True) as server,
        Bot(TOKEN, base_url=server.base_url) as bot,
    ):
        server.push_message(-5, "hi", user_id=9, chat_type="group")
        for i in range(20):
            await bot.send_message(-5, f"m{i}")
        with pytest.raises(RetryAfter):
            await bot.send_message(-5, "one too many")


async def test_edits_callbacks_commands_admins(api: FakeBotAPI, bot: Bot) -> None:
    """Edits, callback answers, commands, admins and deletes behave like Telegram."""
    message = await bot.send_message(3, "v1")
    edited = await bot.edit_message_text("v2", chat_id=3, message_id=message.message_id)
    assert isinstance(edited, object) and api.edits[-1].text == "v2"
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("v2", chat_id=3, message_id=message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)not found"):
        await bot.edit_message_text("v3", chat_id=3, message_id=99)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x")]])
    await bot.edit_message_reply_markup(3, message.message_id, reply_markup=markup)
    assert await bot.answer_callback_query("cb1", text="ok")
    assert api.callback_answers[0]["text"] == "ok"
    assert await bot.set_my_commands([("start", "Start"), ("help", "Help")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.set_webhook("https://example.invalid/hook")
    assert await bot.delete_webhook()
    api.set_admins(-100, [10, 11])
    admins = await bot.get_chat_administrators(-100)
    assert [a.status for a in admins] == ["creator", "administrator"]
    assert (await bot.get_chat_member(-100, 12)).status == "member"
    assert await bot.delete_message(3, message.message_id)
    with pytest.raises(BadRequest):
        await bot.delete_message(3, message.message_id)
    assert await bot.close() and await bot.log_out()


async def test_application_polling_replies_to_start(api: FakeBotAPI) -> None:
    """A PTB Application polling the fake replies to /start and to a button press."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with the user's language and a button."""
        assert update.effective_message is not None and update.effective_user is not None
        button = InlineKeyboardButton("more", callback_data="more")
        await update.effective_message.reply_text(
            f"hello {update.effective_user.language_code}",
            reply_markup=InlineKeyboardMarkup([[button]]),
        )

    async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer the button and edit the message."""
        query = update.callback_query
        assert query is not None
        await query.answer("ok")
        await query.edit_message_text("more!")

    application = ApplicationBuilder().token(TOKEN).base_url(api.base_url).build()
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(more))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        api.push_message(77, "/start", language_code="ar")
        sent = await api.wait_for_sends(1, timeout=5, chat_id=77)
        assert sent[0].text == "hello ar"
        api.push_callback(77, sent[0].message_id, "more")
        await api.wait_for(lambda: api.edits, what="edit")
        await application.updater.stop()
        await application.stop()
    assert api.edits[0].text == "more!" and api.callback_answers[0]["text"] == "ok"


@pytest.mark.slow
def test_subprocess_control_api() -> None:
    """Run as a subprocess; the control API injects updates and faults and reads sends."""

    async def scenario(base_url: str) -> list[Update]:
        """Poll once and send twice (one 403)."""
        async with Bot(TOKEN, base_url=base_url) as bot:
            updates = await bot.get_updates(timeout=2, read_timeout=3)
            await bot.send_message(8, "from client")
            with pytest.raises(Forbidden):
                await bot.send_message(9, "blocked")
            return list(updates)

    with spawn() as control:
        control.push_message(8, "/help")
        control.add_fault("blocked", method="sendMessage", chat_id=9)
        updates = asyncio.run(scenario(control.base_url))
        assert updates[0].message is not None and updates[0].message.text == "/help"
        sent = control.wait_for_sends(1, timeout=2)
        assert sent[0]["text"] == "from client" and sent[0]["chat_id"] == 8
        stats = control.stats()
        assert stats["by_method"]["sendMessage"] == 2 and stats["sent"] == 1
        assert json.loads(json.dumps(control.sent(chat_id=9))) == []
        with pytest.raises(TimeoutError):
            control.wait_for_sends(2, timeout=0.1)
    assert sys.executable
