"""Start-up that explains itself: waiting for the Bot API, a rejected token, clean exits."""

from __future__ import annotations

import asyncio
import logging
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from telegram import Bot
from telegram.error import Conflict, NetworkError, TimedOut

from bot.settings import setting_sources
from bot.startup import (
    BotApiReachability,
    BotApiUnreachable,
    DatabaseUnavailable,
    NetworkTracebackFilter,
    PollingErrorLog,
    TokenRejected,
    api_host,
    backoff_delays,
    check_token,
    database_unavailable,
    migrate,
    network_reason,
    wait_for_bot_api,
)
from bot.telegram_request import AiohttpRequest
from tests.e2e import REPO_ROOT, FeedServer, bot_env, bot_process, rss, run_cli, wait_until
from tests.fakebotapi import FakeBotAPI, spawn

TOKEN = "123456:TEST-token"


def free_port() -> int:
    """A local port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_bot(base_url: str, token: str = TOKEN) -> Bot:
    """A PTB bot on our aiohttp transport, pointed at `base_url`."""
    return Bot(
        token,
        base_url=base_url,
        request=AiohttpRequest(connection_pool_size=2),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )


def attempt_lines(text: str) -> list[str]:
    """The start-up's per-attempt lines in a log."""
    return [line for line in text.splitlines() if "cannot reach the Telegram Bot API" in line]


# ------------------------------------------------------------------ pure parts


def test_backoff_doubles_up_to_the_cap() -> None:
    """Waits double from 1 s and stay at the cap."""
    delays = backoff_delays(10.0)
    assert [next(delays) for _ in range(7)] == [1, 2, 4, 8, 10, 10, 10]
    small = backoff_delays(0.25)
    assert [next(small) for _ in range(3)] == [0.25, 0.25, 0.25]


def test_network_reason_reads_the_whole_chain() -> None:
    """DNS failures, refusals and timeouts are named in words, whatever wraps them."""

    def wrapped(inner: BaseException) -> NetworkError:
        try:
            try:
                raise inner
            except OSError as exc:
                raise RuntimeError("client layer") from exc
        except RuntimeError as exc:
            try:
                raise NetworkError("aiohttp.ClientConnectorError: ...") from exc
            except NetworkError as outer:
                return outer

    dns = wrapped(socket.gaierror(-2, "Name or service not known"))
    assert network_reason(dns) == "name resolution failed"
    assert network_reason(wrapped(ConnectionRefusedError(111, "refused"))) == "connection refused"
    assert network_reason(TimedOut()) == "timed out"
    assert network_reason(NetworkError("Bad Gateway")) == "the server answered: Bad Gateway"
    unchained = {  # what a transport that does not chain its errors leaves: the text
        "aiohttp.ClientConnectorDNSError: Cannot connect to host api.telegram.org:443 "
        "ssl:default [Name or service not known]": "name resolution failed",
        "aiohttp.ClientConnectorError: Cannot connect to host 127.0.0.1:9 ssl:default "
        "[Connect call failed ('127.0.0.1', 9)]": "connection refused",
        "aiohttp.ServerDisconnectedError: Server disconnected": "connection reset",
        "aiohttp.ClientConnectorError: Cannot connect to host api.telegram.org:443 ssl:default "
        "[Network is unreachable]": "network is unreachable",
        "aiohttp.ClientConnectorCertificateError: Cannot connect to host api.telegram.org:443 "
        "ssl:True [SSLCertVerificationError: (1, '[SSL: CERTIFICATE_VERIFY_FAILED] ...')]": (
            "TLS handshake failed"
        ),
    }
    for text, reason in unchained.items():
        assert network_reason(NetworkError(text)) == reason, text
    assert api_host("https://api.telegram.org/bot") == "api.telegram.org"
    assert api_host("http://127.0.0.1:8081/bot") == "127.0.0.1:8081"


def test_setting_sources_environment_over_dotenv_over_default(tmp_path: Path) -> None:
    """Each setting's source follows pydantic-settings' order, names matched case-insensitively."""
    env_file = tmp_path / ".env"
    env_file.write_text("TELEGRAM_BOT_TOKEN=1:from-file\nAKHBAR_POLL_SECONDS=60\n")
    sources = setting_sources({"akhbar_poll_seconds": "5", "PATH": "/bin"}, env_file)
    assert sources["poll_seconds"] == "environment"
    assert sources["telegram_bot_token"] == ".env"
    assert sources["database_url"] == "default"
    assert setting_sources({}, tmp_path / "missing.env")["telegram_bot_token"] == "default"


def test_polling_errors_are_logged_once_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """A repeated Conflict is one line; a different trouble gets its own line; no exc_info."""
    now = [0.0]
    errors = PollingErrorLog("https://api.telegram.org/bot", monotonic=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="akhbar.startup")
    for _ in range(5):
        errors(Conflict("Conflict: terminated by other getUpdates request"))
        now[0] += 10
    errors(NetworkError("aiohttp.ClientConnectorError: x"))
    errors(NetworkError("aiohttp.ClientConnectorError: x"))
    errors(NetworkError("Connection reset by peer"))  # another reason, the same outage
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "Conflict" in lines[0] and "another program is receiving updates" in lines[0]
    assert "api.telegram.org" in lines[1]
    assert all(r.exc_info is None for r in caplog.records)
    now[0] += 7200  # an hour later the same trouble is worth a line again
    errors(NetworkError("aiohttp.ClientConnectorError: x"))
    assert len(caplog.records) == 3


def test_ptb_network_tracebacks_become_one_line() -> None:
    """An ERROR with a traceback about an unreachable Bot API becomes one WARNING line."""
    try:
        raise NetworkError("aiohttp.ClientConnectorError: [Connect call failed ('x', 1)]")
    except NetworkError:
        info = sys.exc_info()
    record = logging.LogRecord(
        "telegram.ext.Updater",
        logging.ERROR,
        __file__,
        1,
        "Error while calling `get_updates` one more time. Suppressing error.",
        None,
        info,
    )
    assert NetworkTracebackFilter().filter(record)
    assert record.exc_info is None and record.levelname == "WARNING"
    assert (
        record.getMessage() == "Error while calling `get_updates` one more time: connection refused"
    )
    ours = logging.LogRecord(
        "akhbar", logging.ERROR, __file__, 1, "setMyCommands failed", None, info
    )
    assert NetworkTracebackFilter().filter(ours) and ours.exc_info is None
    assert ours.getMessage() == "setMyCommands failed: connection refused"
    try:
        raise ValueError("a bug")
    except ValueError:
        bug = sys.exc_info()
    other = logging.LogRecord("akhbar", logging.ERROR, __file__, 1, "boom", None, bug)
    assert NetworkTracebackFilter().filter(other) and other.exc_info is bug  # kept in full
    assert other.levelname == "ERROR"


# ------------------------------------------------- in-process, against a local Bot API


async def test_wait_logs_each_attempt_keeps_working_and_connects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Refused connections: one line per attempt, the offline work runs, then getMe succeeds."""
    caplog.set_level(logging.INFO, logger="akhbar.startup")
    port = free_port()
    api = FakeBotAPI(port=port)
    bot = make_bot(api.base_url)
    worked = asyncio.Event()
    passes = 0

    async def work() -> None:
        nonlocal passes
        passes += 1
        worked.set()

    async def come_up_later() -> None:
        await worked.wait()
        while len(attempt_lines(caplog.text)) < 3:
            await asyncio.sleep(0.02)
        await api.start()

    starter = asyncio.create_task(come_up_later())
    try:
        reached = await wait_for_bot_api(
            bot,
            api_url=api.base_url,
            token_origin="the environment",
            stopping=asyncio.Event(),
            max_backoff=0.1,
            while_waiting=work,
            work_every=0.01,
        )
        assert reached
        assert (await bot.get_me()).username == "akhbar_test_bot"
    finally:
        await starter
        await bot.shutdown()
        await api.stop()
    lines = attempt_lines(caplog.text)
    assert len(lines) >= 3
    assert all("connection refused; retrying in" in line for line in lines)
    assert [int(re.search(r"attempt (\d+)", ln).group(1)) for ln in lines] == list(  # type: ignore[union-attr]
        range(1, len(lines) + 1)
    )
    assert passes >= 1
    assert "Traceback" not in caplog.text


async def test_wrong_token_is_rejected_at_once_without_the_token() -> None:
    """401 on getMe raises TokenRejected (exit code 2) naming where the token came from."""
    async with FakeBotAPI(token="999:the-right-one") as api:
        bot = make_bot(api.base_url)
        started = time.monotonic()
        with pytest.raises(TokenRejected) as caught:
            await wait_for_bot_api(
                bot, api_url=api.base_url, token_origin="the .env file", stopping=asyncio.Event()
            )
        assert time.monotonic() - started < 2
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "rejected" in message and "the .env file" in message and TOKEN not in message


async def test_bounded_retries_give_up_with_one_line() -> None:
    """AKHBAR_STARTUP_RETRIES=N: N retries, then BotApiUnreachable (exit code 1)."""
    port = free_port()
    bot = make_bot(f"http://127.0.0.1:{port}/bot")
    with pytest.raises(BotApiUnreachable) as caught:
        await wait_for_bot_api(
            bot,
            api_url=f"http://127.0.0.1:{port}/bot",
            token_origin="the environment",
            stopping=asyncio.Event(),
            retries=2,
            max_backoff=0.01,
        )
    assert caught.value.exit_code == 1
    assert "connection refused; gave up after 3 attempts" in str(caught.value)


async def test_stop_while_waiting_returns_false() -> None:
    """A stop request during the wait ends it at once."""
    port = free_port()
    stopping = asyncio.Event()
    bot = make_bot(f"http://127.0.0.1:{port}/bot")

    async def work() -> None:
        stopping.set()

    reached = await asyncio.wait_for(
        wait_for_bot_api(
            bot,
            api_url=f"http://127.0.0.1:{port}/bot",
            token_origin="the environment",
            stopping=stopping,
            max_backoff=60.0,
            while_waiting=work,
        ),
        timeout=10,
    )
    assert reached is False


async def test_check_token_names_the_dotenv_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick pre-flight getMe: True when good, False when unreachable, TokenRejected on 401."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    (tmp_path / ".env").write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\n")
    async with FakeBotAPI(token="999:the-right-one") as api:
        with pytest.raises(TokenRejected, match=r"TELEGRAM_BOT_TOKEN came from the \.env file"):
            await check_token(api.base_url, TOKEN)
        assert await check_token(api.base_url, "999:the-right-one") is True
    assert await check_token(f"http://127.0.0.1:{free_port()}/bot", TOKEN) is False


async def test_unreachable_database_stops_start_up_with_one_line() -> None:
    """PostgreSQL refusing connections, or a database that does not exist: DatabaseUnavailable."""
    refused = f"postgresql+asyncpg://postgres:secret@127.0.0.1:{free_port()}/akhbar"
    with pytest.raises(DatabaseUnavailable) as caught:
        await migrate(refused)
    assert "connection refused" in str(caught.value) and "secret" not in str(caught.value)
    assert "akhbar doctor" in str(caught.value) and caught.value.exit_code == 1


def test_database_errors_that_are_bugs_are_not_hidden() -> None:
    """Only connection-level failures become one line; a failing statement keeps its traceback."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    assert database_unavailable(OperationalError("connect", {}, Exception("unable to open")))
    assert database_unavailable(ConnectionRefusedError(111, "refused"))
    assert not database_unavailable(IntegrityError("insert", {}, Exception("duplicate key")))
    assert not database_unavailable(ValueError("bad revision"))


# ------------------------------------------------------ `akhbar run` as a real process


@pytest.mark.slow
def test_run_waits_for_the_bot_api_polls_sources_then_answers(tmp_path: Path) -> None:
    """The Bot API refuses connections, then comes up: the bot waits, ingests, then serves."""
    port = free_port()
    db_path = tmp_path / "bot.db"
    env = bot_env(
        f"http://127.0.0.1:{port}/bot",
        f"sqlite+aiosqlite:///{db_path}",
        AKHBAR_STARTUP_MAX_BACKOFF="0.5",
    )
    feeds = FeedServer()
    feed_url = feeds.put(
        "/feed.xml",
        rss(
            "Gulf",
            [
                {
                    "title": "Heavy rain floods Jeddah streets",
                    "link": "https://gulf.example/jeddah-rain",
                    "description": "Heavy rain flooded streets across Jeddah on Tuesday.",
                }
            ],
        ),
    )
    added = run_cli(env, "source", "add", feed_url, "--name", "Gulf")
    assert added.returncode == 0, added.stderr
    log = tmp_path / "bot.log"
    try:
        with bot_process(env, log) as proc:
            wait_until(lambda: len(attempt_lines(log.read_text())) >= 3, 60, "three attempts")
            wait_until(lambda: feeds.hits.get("/feed.xml"), 30, "the source polled meanwhile")
            with spawn("--port", str(port)) as control:
                control.push_message(42, "/start", user_id=42, language_code="en")
                wait_until(lambda: control.sent(42), 60, "the answer to /start", 0.2)
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=30) == 0
    finally:
        feeds.close()
    text = log.read_text()
    lines = attempt_lines(text)
    assert all("connection refused; retrying in" in line for line in lines), lines
    assert "reached the Telegram Bot API" in text
    assert "Traceback" not in text and "Unclosed" not in text, text[-3000:]
    assert "Task was destroyed" not in text and "TEST-token" not in text


@pytest.mark.slow
def test_run_rides_out_an_outage_after_start_up(tmp_path: Path) -> None:
    """The Bot API goes away while the bot runs and comes back: one line, then service again."""
    port = free_port()
    env = bot_env(f"http://127.0.0.1:{port}/bot", f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    log = tmp_path / "bot.log"
    with bot_process(env, log) as proc:
        with spawn("--port", str(port)) as control:
            control.push_message(5, "/start", user_id=5, language_code="en")
            wait_until(lambda: control.sent(5), 60, "the answer to /start", 0.2)
        wait_until(lambda: attempt_lines(log.read_text()), 30, "the outage to be noticed")
        time.sleep(3)  # stay down across a few of the bot's polling retries
        with spawn("--port", str(port)) as control:
            # A restarted fake numbers its updates from 1 again, below the bot's offset:
            # the first ones are skipped as already seen, so send a few.
            for _ in range(3):
                control.push_message(6, "/start", user_id=6, language_code="en")
            wait_until(lambda: control.sent(6), 90, "an answer after the outage", 0.2)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    text = log.read_text()
    assert len(attempt_lines(text)) == 1, attempt_lines(text)
    assert "polling keeps retrying" in attempt_lines(text)[0]
    recovered = re.findall(r"reached the Telegram Bot API at \S+ again after", text)
    assert len(recovered) == 1, text[-3000:]
    assert "Traceback" not in text and "Unclosed" not in text, text[-3000:]


def test_reachability_logs_the_end_of_an_outage_once(caplog: pytest.LogCaptureFixture) -> None:
    """Calls that never reached the API, then one answered: one line with the outage's length."""
    clock = [100.0]
    seen = BotApiReachability("http://127.0.0.1:8081/bot", monotonic=lambda: clock[0])
    with caplog.at_level(logging.WARNING, logger="akhbar.startup"):
        seen("sendMessage", "200")  # healthy: nothing to say
        seen("getUpdates", "network")
        clock[0] = 112.5
        seen("sendMessage", "network")
        seen("sendMessage", "timeout")  # a slow answer is not the end of the outage
        assert caplog.messages == []
        seen("getUpdates", "200")
        seen("sendMessage", "429")  # still reachable: no second line
    assert caplog.messages == [
        "reached the Telegram Bot API at 127.0.0.1:8081 again after 12.5 s "
        "(2 calls could not reach it)"
    ]


@pytest.mark.slow
def test_run_stops_cleanly_while_the_bot_api_is_down(tmp_path: Path) -> None:
    """SIGTERM during an outage: exit 0, no traceback (PTB's last getUpdates fails quietly)."""
    port = free_port()
    env = bot_env(f"http://127.0.0.1:{port}/bot", f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    log = tmp_path / "bot.log"
    with bot_process(env, log) as proc:
        with spawn("--port", str(port)) as control:
            control.push_message(5, "/start", user_id=5, language_code="en")
            wait_until(lambda: control.sent(5), 60, "the answer to /start", 0.2)
        wait_until(lambda: attempt_lines(log.read_text()), 30, "the outage to be noticed")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    text = log.read_text()
    assert "Traceback" not in text and "Unclosed" not in text, text[-3000:]
    assert "Task was destroyed" not in text


@pytest.mark.slow
def test_run_reports_a_conflict_once(tmp_path: Path) -> None:
    """Another program polling with the same token: one clear Conflict line, no traceback."""
    with spawn() as control:
        env = bot_env(control.base_url, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
        log = tmp_path / "bot.log"
        with bot_process(env, log) as proc:
            control.push_message(7, "/start", user_id=7, language_code="en")
            wait_until(lambda: control.sent(7), 60, "the answer to /start", 0.2)
            rival = f"{control.base_url}{TOKEN}/getUpdates?timeout=0"
            deadline = time.monotonic() + 30
            while "Telegram answered Conflict" not in log.read_text():
                assert time.monotonic() < deadline, "no Conflict line"
                with urllib.request.urlopen(rival, timeout=10) as answer:  # as a second bot would
                    answer.read()
                time.sleep(0.3)
            for _ in range(8):  # keep conflicting: the line must not repeat
                with urllib.request.urlopen(rival, timeout=10) as answer:
                    answer.read()
                time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    text = log.read_text()
    assert text.count("Telegram answered Conflict") == 1, text[-3000:]
    assert "Traceback" not in text and "Unclosed" not in text, text[-3000:]


@pytest.mark.slow
def test_run_with_an_unreachable_database_exits_1_with_one_line(tmp_path: Path) -> None:
    """PostgreSQL refusing connections at start-up: one line pointing to `akhbar doctor`, exit 1."""
    with spawn() as control:
        env = bot_env(
            control.base_url, f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/akhbar"
        )
        done = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 1, output
    assert len(output.splitlines()) == 1, output
    assert "cannot open the database" in output and "connection refused" in output
    assert "Traceback" not in output and "Unclosed" not in output


@pytest.mark.slow
def test_run_with_a_rejected_token_exits_2_within_5_s_with_one_line(tmp_path: Path) -> None:
    """401 on getMe: exit code 2 with one line saying where the token came from, in under 5 s.

    The 5 s bound is on the child's CPU time (user + system), which the other processes on a
    busy 2-core machine do not inflate; wall time gets a loose bound. The token is checked
    before the migrations: the database file is never created.
    """
    db_path = tmp_path / "bot.db"
    with spawn("--token", "999:the-right-one") as control:
        env = bot_env(control.base_url, f"sqlite+aiosqlite:///{db_path}")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert cpu < 5 and elapsed < 30, f"took {cpu:.1f} s of CPU, {elapsed:.1f} s wall"
    assert len(output.splitlines()) == 1, output
    assert "rejected the bot token" in output and "came from the environment" in output
    assert "TEST-token" not in output and "Traceback" not in output
    assert not db_path.exists()
