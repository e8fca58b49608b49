"""AiohttpRequest against the fake Bot API server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InputFile, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.telegram_request import AiohttpRequest
from tests.fakebotapi import FakeBotAPI

TOKEN = "123456:TEST-token"
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """A running fake server."""
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    """A Bot using AiohttpRequest for both regular calls and getUpdates."""
    request = AiohttpRequest(connection_pool_size=8, read_timeout=0.5)
    updates_request = AiohttpRequest(connection_pool_size=1, read_timeout=0.5)
    async with Bot(
        TOKEN, base_url=api.base_url, request=request, get_updates_request=updates_request
    ) as client:
        yield client


def _free_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_send_message_and_get_me(api: FakeBotAPI, bot: Bot) -> None:
    """Regular calls round-trip and the fake records the parameters."""
    assert (await bot.get_me()).username == "akhbar_test_bot"
    message = await bot.send_message(5, "مرحبا <b>news</b>", parse_mode="HTML")
    assert message.message_id == 1 and message.text == "مرحبا <b>news</b>"
    assert api.sent[0].chat_id == 5 and api.sent[0].parse_mode == "HTML"


async def test_calls_without_files_go_as_json(api: FakeBotAPI, bot: Bot) -> None:
    """Parameters keep their JSON types (a form would turn the unknown field into text)."""
    await bot.send_message(
        -1007,
        "خبر « news » & more",
        disable_notification=True,
        api_kwargs={"probe": {"n": 5, "on": True}, "count": 3},
    )
    params = api.calls[-1][1]
    assert params["chat_id"] == -1007 and params["text"] == "خبر « news » & more"
    assert params["probe"] == {"n": 5, "on": True} and params["count"] == 3
    assert params["disable_notification"] is True


async def test_long_polling(api: FakeBotAPI, bot: Bot) -> None:
    """getUpdates long-polls beyond the default read timeout (PTB adds it)."""
    poll = asyncio.create_task(bot.get_updates(timeout=2))
    await api.wait_for(lambda: api.calls, what="getUpdates")
    api.push_message(9, "/start")
    updates = await asyncio.wait_for(poll, 3)
    assert updates[0].message is not None and updates[0].message.text == "/start"


async def test_multipart_upload(api: FakeBotAPI) -> None:
    """Requests with files go as multipart with the other fields alongside."""
    request = AiohttpRequest()
    await request.initialize()
    try:
        data = RequestData(
            [
                RequestParameter("chat_id", 5, None),
                RequestParameter("text", "with file", None),
                RequestParameter.from_input("document", InputFile(b"abc", filename="a.txt")),
            ]
        )
        payload = await request.post(f"{api.base_url}{TOKEN}/sendMessage", data)
    finally:
        await request.shutdown()
    assert isinstance(payload, dict) and payload["text"] == "with file"
    assert api.sent[0].params["document"] == b"abc"


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("retry_after", RetryAfter),
        ("blocked", Forbidden),
        ("parse", BadRequest),
        ("server_error", NetworkError),
        ("bad_gateway", NetworkError),
    ],
)
async def test_errors_mapped(api: FakeBotAPI, bot: Bot, kind: str, error: type[Exception]) -> None:
    """Telegram error answers map to PTB's exceptions exactly as with HTTPXRequest."""
    api.add_fault(kind, method="sendMessage")  # type: ignore[arg-type]
    with pytest.raises(error):
        await bot.send_message(1, "x")


async def test_read_timeout(api: FakeBotAPI, bot: Bot) -> None:
    """A hanging server raises TimedOut within the read timeout."""
    api.add_fault("hang", method="sendMessage")
    with pytest.raises(TimedOut):
        await bot.send_message(1, "x", read_timeout=0.2)
    assert (await bot.send_message(1, "after")).text == "after"


async def test_pool_timeout(api: FakeBotAPI) -> None:
    """With every connection busy, a call fails with PTB's pool-timeout TimedOut."""
    api.add_fault("hang", method="sendMessage")
    request = AiohttpRequest(connection_pool_size=1, read_timeout=2, pool_timeout=0.1)
    async with Bot(TOKEN, base_url=api.base_url, request=request) as client:
        hanging = asyncio.create_task(client.send_message(1, "hangs"))
        await api.wait_for(lambda: api.faults == [], what="hang started")
        with pytest.raises(TimedOut, match="Pool timeout"):
            await client.send_message(2, "queued")
        hanging.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hanging


async def test_connection_refused_is_network_error() -> None:
    """Nothing listening raises NetworkError (not TimedOut)."""
    request = AiohttpRequest(connect_timeout=1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as info:
            await request.post(f"http://127.0.0.1:{_free_port()}/bot{TOKEN}/getMe")
    finally:
        await request.shutdown()
    assert not isinstance(info.value, TimedOut)


async def test_lifecycle() -> None:
    """Use before initialize fails clearly; initialize and shutdown are idempotent."""
    request = AiohttpRequest(connection_pool_size=3)
    assert request.connection_pool_size == 3 and request.read_timeout == 5.0
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:1/", "POST")
    await request.initialize()
    await request.initialize()
    await request.shutdown()
    await request.shutdown()
    with pytest.raises(ValueError):
        AiohttpRequest(connection_pool_size=0)


async def test_application_polls_with_aiohttp(api: FakeBotAPI) -> None:
    """A PTB Application using AiohttpRequest polls the fake and replies to /start."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply to /start."""
        assert update.effective_message is not None
        await update.effective_message.reply_text("welcome")

    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(api.base_url)
        .request(AiohttpRequest(connection_pool_size=16))
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        api.push_message(31, "/start")
        sent = await api.wait_for_sends(1, timeout=5, chat_id=31)
        await application.updater.stop()
        await application.stop()
    assert sent[0].text == "welcome"


def test_json_bodies_keep_every_value() -> None:
    """Bodies decode to the values given, orjson's refusals included (big ints, int keys)."""
    import json

    from bot.telegram_request import _dumps

    values: list[object] = [
        {"chat_id": -1001234567890, "text": 'خبر « x » \u2028 "q"', "on": True, "n": None},
        {"reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "fs:1"}]]}},
        {"big": 123456789012345678901234567890, "f": 2.5},
        {"keys": {1: "int key"}},
    ]
    for value in values:
        assert json.loads(_dumps(value)) == json.loads(json.dumps(value))


async def test_observer_sees_every_outcome(api: FakeBotAPI) -> None:
    """The on_response observer gets each call's method and HTTP status, or network."""
    seen: list[tuple[str, str]] = []
    request = AiohttpRequest(connection_pool_size=4, on_response=lambda m, o: seen.append((m, o)))
    async with Bot(
        TOKEN, base_url=api.base_url, request=request, get_updates_request=request
    ) as bot:
        await bot.send_message(1, "ok")
        api.add_fault("retry_after", method="sendMessage")  # type: ignore[arg-type]
        with pytest.raises(RetryAfter):
            await bot.send_message(1, "x")
    assert ("sendMessage", "200") in seen and ("sendMessage", "429") in seen
    refused = AiohttpRequest(connect_timeout=1, on_response=lambda m, o: seen.append((m, o)))
    await refused.initialize()
    try:
        with pytest.raises(NetworkError):
            await refused.post(f"http://127.0.0.1:{_free_port()}/bot{TOKEN}/getMe")
    finally:
        await refused.shutdown()
    assert seen[-1] == ("getMe", "network")
