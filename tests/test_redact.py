"""The bot token never reaches a log line or an error text, even when the transport fails
with the request URL in its message (a malformed or redirecting answer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from telegram import Bot
from telegram.error import NetworkError

from bot.redact import MASK, RedactingFilter, install_log_redaction, redact, register_secrets
from bot.telegram_request import AiohttpRequest

TOKEN = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

#: Raw answers that make aiohttp fail with the URL in its error text.
MALFORMED = b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}"


def redirect_to_self(port: int) -> Callable[[bytes], bytes]:
    """An answer that redirects every request to the same path (aiohttp gives up, naming it)."""

    def answer(request_line: bytes) -> bytes:
        """A 302 back to the requested path."""
        path = request_line.split(b" ")[1]
        return (
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d%s\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n" % (port, path)
        )

    return answer


@pytest.fixture
async def raw_server() -> AsyncIterator[tuple[int, list[Callable[[bytes], bytes]]]]:
    """A TCP server on 127.0.0.1 whose answer is the first function of the returned list."""
    answers: list[Callable[[bytes], bytes]] = [lambda _line: MALFORMED]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one request head, write the canned answer, close."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(answers[0](head.split(b"\r\n", 1)[0]))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, answers


def test_redact_masks_token_shapes_and_registered_secrets() -> None:
    """Anything shaped like a bot token goes, and so does any registered secret."""
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    assert redact(url) == f"https://api.telegram.org/bot{MASK}/sendMessage"
    register_secrets(["webhook-secret-value-123", None, "short"])
    assert redact("secret=webhook-secret-value-123") == f"secret={MASK}"
    assert redact("short words stay") == "short words stay"
    assert redact("chat 12345: fine") == "chat 12345: fine"


@pytest.mark.parametrize("failure", ["malformed", "redirect"])
async def test_transport_error_text_has_no_token(
    raw_server: tuple[int, list[Callable[[bytes], bytes]]],
    failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Bot API answering garbage or redirecting: the NetworkError (and the error a sender
    would store in deliveries.last_error), its chain and the log line all lack the token."""
    port, answers = raw_server
    if failure == "redirect":
        answers[0] = redirect_to_self(port)
    request = AiohttpRequest(connection_pool_size=2, read_timeout=2)
    base = f"http://127.0.0.1:{port}/bot"
    logger = logging.getLogger("akhbar.test_redact")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    install_log_redaction(logger)
    try:
        async with Bot(TOKEN, base_url=base, request=request, get_updates_request=request) as bot:
            with pytest.raises(NetworkError) as info:
                await bot.send_message(1, "hello")
            logger.error("send failed: %s", info.value, exc_info=info.value)
    except NetworkError as exc:  # Bot's own getMe on entering failed the same way
        info = pytest.ExceptionInfo.from_exception(exc)
        logger.error("send failed: %s", exc, exc_info=exc)
    finally:
        logger.removeHandler(handler)
    error = info.value
    stored = f"{type(error).__name__}: {error}"  # what the sender stores as last_error
    assert "ClientResponseError" in stored or "TooManyRedirects" in stored, stored
    chain = [error, error.__cause__, error.__context__]
    assert all(TOKEN not in str(e) for e in chain if e is not None), stored
    record = next(r for r in caplog.records if r.name == "akhbar.test_redact")
    assert TOKEN not in record.getMessage()
    assert TOKEN not in (record.exc_text or "") and TOKEN not in handler.format(record)


def test_filter_redacts_message_arguments_and_traceback() -> None:
    """A record carrying the token in its arguments and its exception comes out clean."""
    try:
        raise RuntimeError(f"GET https://api.telegram.org/bot{TOKEN}/getMe failed")
    except RuntimeError as exc:
        record = logging.LogRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "calling %s",
            (f"/bot{TOKEN}/x",),
            (RuntimeError, exc, exc.__traceback__),
        )
    assert RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert TOKEN not in formatted and MASK in formatted


async def test_sender_error_stored_as_last_error_has_no_token(
    raw_server: tuple[int, list[Callable[[bytes], bytes]]],
) -> None:
    """The delivery sender's error (its text is what deliveries.last_error keeps) carries the
    failure but not the token, through every link of its chain."""
    from bot.delivery.sender import TelegramSender
    from bot.pipeline.outcomes import SendError

    port, _answers = raw_server
    request = AiohttpRequest(connection_pool_size=2, read_timeout=2)
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
    await request.initialize()
    try:
        with pytest.raises(SendError) as info:
            await TelegramSender(bot).send(1, "hello", (), True)
    finally:
        await request.shutdown()
    chain: list[BaseException] = []
    error: BaseException | None = info.value
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert "ClientResponseError" in str(info.value)
    assert all(TOKEN not in str(e) and TOKEN not in repr(e) for e in chain), chain
