"""A fast python-telegram-bot transport on one aiohttp ClientSession.

PTB's default ``HTTPXRequest`` costs about ten times more CPU per call than aiohttp on
these machines (see ARCHITECTURE.md, "Measured on these machines"); the delivery worker
sends thousands of messages, so the transport matters. Usage::

    request = AiohttpRequest(connection_pool_size=64)
    app = ApplicationBuilder().token(token).request(request).build()

Timeouts follow PTB's ``HTTPXRequest`` contract:

* ``pool_timeout`` bounds the wait for a free connection slot (``TimedOut`` with the
  same "Pool timeout" message as PTB when exceeded; nothing is sent);
* ``connect_timeout`` bounds establishing a new connection;
* ``write_timeout`` plus ``read_timeout`` bound the time from sending the request to
  the response headers (aiohttp has no separate write phase timer);
* ``read_timeout`` bounds each wait for response bytes while reading the body.

Timeouts raise ``telegram.error.TimedOut``; other client errors raise ``NetworkError``.
Error texts never carry the bot token: aiohttp puts the request URL (``…/bot<token>/…``)
in some messages, so they are redacted and the original exception is not chained.

Calls without files send their parameters as one JSON body (native JSON types); uploads
go as multipart form data. The session keeps no cookies (the Bot API sets none) and
reuses its timeout objects, which trims aiohttp's per-request work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.redact import redact

#: Told each call's Bot API method and outcome: the HTTP status, or "timeout" / "network" / "cancelled".
ResponseObserver = Callable[[str, str], None]

POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: All connections in the connection pool are occupied. "
    "Request was *not* sent to Telegram. Consider adjusting the connection "
    "pool size or the pool timeout."
)


def _resolve(value: ODVInput[float], default: float | None) -> float | None:
    """A per-call timeout, or the instance default when the caller left it unset."""
    if isinstance(value, DefaultValue):
        return default
    return value


def _sum(*values: float | None) -> float | None:
    """The sum of timeouts, or None (no limit) when any of them is unlimited."""
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _dumps(value: object) -> str:
    """Compact JSON with non-ASCII text kept as is (orjson; the stdlib for what it refuses)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _body(request_data: RequestData | None) -> dict[str, Any]:
    """The request body as aiohttp keyword arguments: JSON, or multipart when files are attached.

    Without files the parameters go as one JSON object (the Bot API accepts
    ``application/json`` for every method but uploads): one C-level dump instead of a
    JSON-encoded string per field and then URL-encoding the lot.
    """
    if request_data is None:
        return {}
    if not request_data.contains_files:
        return {"json": request_data.parameters}
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return {"data": form}


class AiohttpRequest(BaseRequest):
    """``telegram.request.BaseRequest`` over one pooled aiohttp.ClientSession."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_observer",
        "_pool_size",
        "_pool_slots",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_timeouts",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        on_response: ResponseObserver | None = None,
    ) -> None:
        """Configure the pool and default timeouts; `on_response` sees every call's outcome."""
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._observer = on_response
        self._session: aiohttp.ClientSession | None = None
        self._pool_slots: asyncio.Semaphore | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds it to getUpdates' long-poll timeout)."""
        return self._read_timeout

    @property
    def connection_pool_size(self) -> int:
        """How many requests may be in flight at once."""
        return self._pool_size

    async def initialize(self) -> None:
        """Open the session (idempotent)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, limit_per_host=self._pool_size, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets no cookies
                json_serialize=_dumps,
            )
            self._pool_slots = asyncio.Semaphore(self._pool_size)

    async def shutdown(self) -> None:
        """Close the session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request and return ``(status, body)``; TimedOut/NetworkError on failure."""
        session, slots = self._session, self._pool_slots
        if session is None or session.closed or slots is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data is not None and request_data.contains_files
        write_default = self._media_write_timeout if files else self._write_timeout
        read = _resolve(read_timeout, self._read_timeout)
        write = _resolve(write_timeout, write_default)
        connect = _resolve(connect_timeout, self._connect_timeout)
        pool = _resolve(pool_timeout, self._pool_timeout)
        timeout = self._timeouts.get((connect, read))
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=None, connect=connect, sock_connect=connect, sock_read=read
            )
            if len(self._timeouts) < 64:
                self._timeouts[(connect, read)] = timeout
        await self._acquire(slots, pool)
        outcome = "network"
        try:
            status, body = await self._send(
                session, url, method, _body(request_data), timeout, _sum(connect, write, read)
            )
            outcome = str(status)
            return status, body
        except TimedOut:
            outcome = "timeout"
            raise
        except asyncio.CancelledError:  # stopped by us (shutdown), not a failure to reach the API
            outcome = "cancelled"
            raise
        finally:
            slots.release()
            if self._observer is not None:
                self._observer(url.rsplit("/", 1)[-1], outcome)

    @staticmethod
    async def _acquire(slots: asyncio.Semaphore, pool: float | None) -> None:
        """Take a connection slot within the pool timeout."""
        if not slots.locked():
            await slots.acquire()
            return
        try:
            async with asyncio.timeout(pool):
                await slots.acquire()
        except TimeoutError as err:
            raise TimedOut(POOL_TIMEOUT_MESSAGE) from err

    @staticmethod
    async def _send(
        session: aiohttp.ClientSession,
        url: str,
        method: str,
        body: dict[str, Any],
        timeout: aiohttp.ClientTimeout,
        until_headers: float | None,
    ) -> tuple[int, bytes]:
        """Perform the HTTP exchange with mapped timeouts and errors."""
        failure: NetworkError
        try:
            async with asyncio.timeout(until_headers):
                response = await session.request(method, url, timeout=timeout, **body)
            async with response:
                return response.status, await response.read()
        except (TimeoutError, aiohttp.ServerTimeoutError):
            failure = TimedOut()
        except (aiohttp.ClientError, ValueError) as err:
            failure = NetworkError(redact(f"aiohttp.{err.__class__.__name__}: {err}"))
        # Raised outside the handler, so neither chained nor with a context: the original's
        # text (and a traceback of it) may hold the URL, and with it the token.
        raise failure
