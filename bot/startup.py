"""Start-up against the Telegram Bot API: wait for it, say why in one line, stop on a bad token.

`check_token` makes one quick getMe before the heavy part of start-up, so a rejected token
ends it at once with a `TokenRejected` naming where the token came from; `migrate` turns a
database that cannot be opened into one `DatabaseUnavailable` line. `wait_for_bot_api`
calls getMe until it answers, with capped exponential backoff and one log line per failed
attempt, running the bot's offline work (source polling, fan-out) between attempts.
`PollingErrorLog` is PTB's polling error callback (one line per kind of trouble after
start-up) and `NetworkTracebackFilter` makes any logged Bot API network failure one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from urllib.parse import urlsplit

from telegram import Bot
from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError, TimedOut

from bot.settings import setting_sources
from bot.telegram_request import AiohttpRequest

log = logging.getLogger("akhbar.startup")

FIRST_DELAY = 1.0  # seconds before the first retry; each later wait doubles up to the cap
REPEAT_AFTER = 3600.0  # the same polling trouble is logged again after this many seconds
TOKEN_VARIABLE = "TELEGRAM_BOT_TOKEN"

Work = Callable[[], Awaitable[None]]


class StartupError(Exception):
    """Start-up cannot go on: the message is one line for the operator."""

    exit_code = 1


class TokenRejected(StartupError):
    """The Bot API refused the token (401 Unauthorized or 404 on getMe)."""

    exit_code = 2


class BotApiUnreachable(StartupError):
    """The Bot API did not answer within the bounded number of start-up attempts."""

    exit_code = 1


class DatabaseUnavailable(StartupError):
    """The database cannot be reached or opened at start-up."""

    exit_code = 1


def database_reason(exc: BaseException) -> str:
    """Why a database could not be used: a network or file reason when a socket or file failed,
    else the driver's first line (without SQLAlchemy's background link)."""
    for item in _chain(exc):
        if isinstance(item, OSError):
            return network_reason(item)
    message = str(exc).strip()
    first = message.splitlines()[0] if message else type(exc).__name__
    return first.split("(Background on this error")[0].strip()


def database_unavailable(exc: BaseException) -> bool:
    """Whether an error means the database cannot be reached or opened (not a bug in a query)."""
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.exc import InterfaceError, OperationalError

    kinds = (
        OSError,
        OperationalError,
        InterfaceError,
        asyncpg.PostgresConnectionError,
        asyncpg.InvalidCatalogNameError,
        asyncpg.InvalidAuthorizationSpecificationError,
        asyncpg.CannotConnectNowError,
        asyncpg.TooManyConnectionsError,
    )
    return any(isinstance(item, kinds) for item in _chain(exc))


async def migrate(url: str) -> None:
    """Apply the migrations; a database that cannot be opened stops start-up with one line."""
    from sqlalchemy.engine import make_url

    from storage.migrate import upgrade_async

    try:
        await upgrade_async(url)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        where = make_url(url).render_as_string(hide_password=True)
        raise DatabaseUnavailable(
            f"cannot open the database {where}: {database_reason(exc)}; "
            "`akhbar doctor` checks the whole setup"
        ) from None


def api_host(api_url: str) -> str:
    """The host (and port, when given) of a Bot API base URL, for messages."""
    parts = urlsplit(api_url)
    return parts.netloc.rpartition("@")[2] or api_url


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """An exception, its causes and contexts, and any wrapped `os_error`, each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__, getattr(current, "os_error", None)):
            if isinstance(linked, BaseException):
                todo.append(linked)


_TEXT_REASONS = (  # transports that do not chain their errors still name them in the text
    (
        ("DNSError", "name or service not known", "name resolution", "nodename nor servname"),
        "name resolution failed",
    ),
    (("connect call failed", "connection refused"), "connection refused"),
    (("certificate", "[ssl", "sslerror", "ssl handshake"), "TLS handshake failed"),
    (("serverdisconnected", "connection reset"), "connection reset"),
)


_BRACKETED = re.compile(r"\[([^\[\]]+)\]\s*$")


def _reason_from_text(text: str) -> str | None:
    """A reason named in an error's text, if any."""
    lowered = text.lower()
    for needles, reason in _TEXT_REASONS:
        if any(needle.lower() in lowered for needle in needles):
            return reason
    bracketed = _BRACKETED.search(
        text
    )  # aiohttp ends with the OS's words: "[Network is unreachable]"
    return bracketed.group(1).strip().lower() if bracketed else None


def network_reason(exc: BaseException) -> str:
    """A few words on why a Bot API call failed, read from the exception chain and its text."""
    chain = list(_chain(exc))
    checks: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [
        (socket.gaierror, "name resolution failed"),
        (ConnectionRefusedError, "connection refused"),
        (ssl.SSLError, "TLS handshake failed"),
        ((TimeoutError, TimedOut), "timed out"),
        ((ConnectionResetError, ConnectionAbortedError), "connection reset"),
    ]
    for kinds, reason in checks:
        if any(isinstance(item, kinds) for item in chain):
            return reason
    if any(type(item).__name__.endswith("DNSError") for item in chain):
        return "name resolution failed"
    for item in chain:
        if isinstance(item, OSError) and item.strerror:
            return item.strerror.lower()
    message = exc.message if isinstance(exc, TelegramError) else str(exc)
    from_text = _reason_from_text(message)
    if from_text is not None:
        return from_text
    if message.startswith("aiohttp."):
        return message.removeprefix("aiohttp.")
    if isinstance(exc, TelegramError):
        return f"the server answered: {message}"
    return type(exc).__name__


def backoff_delays(cap: float, first: float = FIRST_DELAY) -> Iterator[float]:
    """Waits between attempts: `first`, doubling, never above `cap`, for ever."""
    delay = min(first, cap)
    while True:
        yield delay
        delay = min(delay * 2, cap)


def seconds(value: float) -> str:
    """A wait for a log line: '1 s', '0.5 s', '30 s'."""
    return f"{value:g} s"


def describe_source(source: str) -> str:
    """Where the token came from, in words, from `setting_sources()`'s value."""
    if source == "environment":
        return "the environment"
    if source == ".env":
        return "the .env file"
    return "the settings"


def token_rejected_message(origin: str) -> str:
    """The one line printed when the Bot API refuses the token."""
    return (
        f"the Telegram Bot API rejected the bot token (401 Unauthorized / 404 on getMe); "
        f"{TOKEN_VARIABLE} came from {origin}: copy the token again from @BotFather"
    )


def token_origin() -> str:
    """Where TELEGRAM_BOT_TOKEN was read from, in words."""
    return describe_source(setting_sources()["telegram_bot_token"])


async def check_token(api_url: str, token: str, *, timeout: float = 5.0) -> bool:
    """One quick getMe before the heavy part of start-up; False when the Bot API did not answer.

    Raises TokenRejected on 401/404, so a wrong token stops the bot before migrations run.
    Network trouble is left to `wait_for_bot_api`, which retries and explains.
    """
    request = AiohttpRequest(
        connection_pool_size=1, connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout
    )
    async with request:
        try:
            await request.post(f"{api_url}{token}/getMe")
        except InvalidToken:
            raise TokenRejected(token_rejected_message(token_origin())) from None
        except TelegramError:
            return False
    return True


async def wait_for_bot_api(
    bot: Bot,
    *,
    api_url: str,
    token_origin: str,
    stopping: asyncio.Event,
    retries: int | None = None,
    max_backoff: float = 30.0,
    while_waiting: Work | None = None,
    work_every: float = 2.0,
) -> bool:
    """Initialize `bot` (getMe), retrying with backoff; False if `stopping` was set first.

    Between attempts the bot's requests are closed, so stopping at any moment leaves no open
    HTTP session. Raises TokenRejected at once on 401/404, and BotApiUnreachable after
    `retries` failed retries (None: retry for ever).
    """
    host = api_host(api_url)
    delays = backoff_delays(max_backoff)
    worker: _Background | None = None
    attempt = 0
    try:
        while not stopping.is_set():
            attempt += 1
            try:
                await bot.initialize()
            except InvalidToken:
                await bot.shutdown()
                raise TokenRejected(token_rejected_message(token_origin)) from None
            except TelegramError as exc:
                await bot.shutdown()
                reason = network_reason(exc)
            else:
                if attempt > 1:
                    log.info("reached the Telegram Bot API at %s (attempt %d)", host, attempt)
                return True
            if retries is not None and attempt > retries:
                raise BotApiUnreachable(
                    f"cannot reach the Telegram Bot API at {host}: {reason}; gave up after "
                    f"{attempt} attempts (AKHBAR_STARTUP_RETRIES={retries})"
                )
            delay = next(delays)
            log.warning(
                "cannot reach the Telegram Bot API at %s: %s; retrying in %s (attempt %d)",
                host,
                reason,
                seconds(delay),
                attempt,
            )
            if worker is None and while_waiting is not None:
                worker = _Background(while_waiting, work_every)
            await _sleep_unless(stopping, delay)
        return False
    finally:
        if worker is not None:
            await worker.finish()


async def _sleep_unless(stopping: asyncio.Event, delay: float) -> None:
    """Sleep `delay` seconds, or less when `stopping` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=delay)


class _Background:
    """Runs `work` every `every` seconds until finished; finishing lets the current pass end."""

    def __init__(self, work: Work, every: float) -> None:
        """Start at once."""
        self._done = asyncio.Event()
        self._task = asyncio.create_task(self._loop(work, every), name="akhbar:startup-work")

    async def _loop(self, work: Work, every: float) -> None:
        """Run the work, then wait, until done."""
        while not self._done.is_set():
            try:
                await work()
            except Exception:
                log.exception("work while waiting for the Bot API failed")
            await _sleep_unless(self._done, every)

    async def finish(self) -> None:
        """Stop after the pass in progress (or at once if cancelled while waiting)."""
        self._done.set()
        try:
            await self._task
        except asyncio.CancelledError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            raise


def polling_error_line(error: TelegramError, host: str) -> str:
    """What to log when long polling fails: one line naming the trouble and what happens next."""
    if isinstance(error, Conflict):
        return (
            "Telegram answered Conflict: another program is receiving updates for this bot "
            "token (a second bot outside this database's lease, or a webhook); stop it or "
            "delete the webhook. Polling keeps retrying"
        )
    if isinstance(error, NetworkError):
        return (
            f"cannot reach the Telegram Bot API at {host}: {network_reason(error)}; "
            "polling keeps retrying (up to every 30 s), sends wait in the outbox"
        )
    return f"polling for updates failed: {type(error).__name__}: {error.message}"


class PollingErrorLog:
    """PTB's polling `error_callback`: each kind of trouble logged once, never a traceback."""

    def __init__(
        self,
        api_url: str,
        *,
        repeat_after: float = REPEAT_AFTER,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Log lines about the Bot API at `api_url`."""
        self.host = api_host(api_url)
        self.repeat_after = repeat_after
        self.monotonic = monotonic
        self._last: tuple[str, float] | None = None

    def __call__(self, error: TelegramError) -> None:
        """Log the error's line unless the same kind of trouble was logged recently.

        Network failures are one kind whatever their reason: one outage often shows
        "connection reset" and then "connection refused", and that is still one outage."""
        line = polling_error_line(error, self.host)
        kind = "network" if isinstance(error, NetworkError) else line
        now = self.monotonic()
        if (
            self._last is not None
            and self._last[0] == kind
            and now - self._last[1] < self.repeat_after
        ):
            return
        self._last = (kind, now)
        log.warning("%s", line)


class BotApiReachability:
    """A transport observer: after calls failed to reach the Bot API, one line when one succeeds.

    The start of an outage is logged by `PollingErrorLog` (and the sends' outcomes); this says
    when it ended and how long it lasted, so an operator reading the log sees both ends.
    """

    def __init__(self, api_url: str, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        """Watch calls to the Bot API at `api_url`."""
        self.host = api_host(api_url)
        self.monotonic = monotonic
        self.down_since: float | None = None
        self.failed_calls = 0

    def __call__(self, method: str, outcome: str) -> None:
        """Note one call's outcome: "network" when it never reached the API, else its status."""
        if outcome == "network":
            if self.down_since is None:
                self.down_since = self.monotonic()
            self.failed_calls += 1
            return
        if outcome in ("timeout", "cancelled") or self.down_since is None:
            return
        lasted = self.monotonic() - self.down_since
        log.warning(
            "reached the Telegram Bot API at %s again after %s (%d calls could not reach it)",
            self.host,
            seconds(round(lasted, 1)),
            self.failed_calls,
        )
        self.down_since, self.failed_calls = None, 0


class NetworkTracebackFilter(logging.Filter):
    """Logs of a Bot API network failure: one WARNING line with the reason, no traceback.

    PTB logs some failures itself with a traceback (the last getUpdates on stopping, for
    one), and so do our own `log.exception` calls around Bot API calls (setMyCommands, the
    update receiver's steps); when the cause is only that the Bot API cannot be reached, the
    traceback says nothing the reason does not. Other exceptions keep their tracebacks.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite such a record in place; never drops one."""
        if not record.exc_info:
            return True
        error = record.exc_info[1]
        if not isinstance(error, NetworkError):
            return True
        first = record.getMessage().split(". ")[0].rstrip(".")
        record.msg, record.args = f"{first}: {network_reason(error)}", None
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_network_tracebacks(logger: logging.Logger | None = None) -> NetworkTracebackFilter:
    """Put one NetworkTracebackFilter on every handler of `logger` (the root by default)."""
    target = logger or logging.getLogger()
    found = next(
        (f for h in target.handlers for f in h.filters if isinstance(f, NetworkTracebackFilter)),
        None,
    )
    active = found or NetworkTracebackFilter()
    for handler in target.handlers:
        if active not in handler.filters:
            handler.addFilter(active)
    return active
