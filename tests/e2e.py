"""Helpers for end-to-end tests: a local feed server and `akhbar run` as a real subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from tests.fakebotapi import ControlClient, spawn

REPO_ROOT = Path(__file__).resolve().parent.parent


class FeedServer:
    """A threaded HTTP server on 127.0.0.1 serving mutable documents by path."""

    def __init__(self) -> None:
        """Start serving at once on a free port."""
        self.documents: dict[str, tuple[bytes, str]] = {}
        self.hits: dict[str, int] = {}
        self.hit_times: dict[str, list[float]] = {}  # time.monotonic() of each request
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner._count(self.path)
                doc = owner.documents.get(self.path)
                if doc is None:
                    self.send_error(404)
                    return
                body, content_type = doc
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _count(self, path: str) -> None:
        """Record one request (handler threads run concurrently)."""
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1
            self.hit_times.setdefault(path, []).append(time.monotonic())

    @property
    def base(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def put(self, path: str, body: bytes, content_type: str = "application/rss+xml") -> str:
        """Serve `body` at `path` and return its full URL."""
        self.documents[path] = (body, content_type)
        return self.base + path

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def rss(title: str, items: list[dict[str, Any]]) -> bytes:
    """A small RSS 2.0 document from item dicts (title, link, description, published)."""
    parts = [
        f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{escape(title)}</title>"
    ]
    for item in items:
        published = item.get("published") or datetime.now(UTC)
        parts.append(
            "<item>"
            f"<title>{escape(item['title'])}</title><link>{escape(item['link'])}</link>"
            f"<guid>{escape(item['link'])}</guid>"
            f"<description>{escape(item['description'])}</description>"
            f"<pubDate>{format_datetime(published)}</pubDate>"
            "</item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def bot_env(api_base_url: str, db_url: str, **extra: str) -> dict[str, str]:
    """Environment for an `akhbar run` subprocess against local servers only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKHBAR_", "TELEGRAM_"))}
    env.update(
        {
            "TELEGRAM_BOT_TOKEN": "123456:TEST-token",
            "TELEGRAM_API_URL": api_base_url,
            "DATABASE_URL": db_url,
            "AKHBAR_POLL_SECONDS": "1",
            "AKHBAR_TICK_SECONDS": "0.3",
            "AKHBAR_LEASE_SECONDS": "3",
            "AKHBAR_ALLOW_PRIVATE_SOURCES": "true",
            "AKHBAR_ADMIN_IDS": "1",
            "AKHBAR_LOG_LEVEL": "INFO",
            # No multilingual encoder worker (1.5 s CPU and 180 MB per bot process): linking is
            # tested through the linker with fake encoders, the real model in test_embeddings.
            "AKHBAR_ENCODER": "off",
            # Index folders go to a temporary folder, not data/ in the checkout (each database
            # gets its own subfolder there, named by an id stored in that database).
            "AKHBAR_SEARCH_INDEX_DIR": str(Path(tempfile.gettempdir()) / "akhbar-e2e-index"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@contextmanager
def bot_process(
    env: dict[str, str], log_path: Path, *args: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m bot run` with `env`; SIGTERM (then SIGKILL) on exit; output to log_path."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", *args],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run one `akhbar` CLI command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll a cheap predicate on a local server until it is truthy (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}: {value!r}")
        time.sleep(interval)


def excess_sends(
    sent: Mapping[int, int], attempts: Mapping[int, int], in_doubt: Iterable[int] = ()
) -> dict[int, int]:
    """Chats sent a message more often than the delivery guarantee allows.

    Once per outbox row, plus one per failed attempt (a timed-out send may have gone out),
    plus one when the row was claimed by a process at the moment it was killed.
    """
    doubt = set(in_doubt)
    return {
        chat: n
        for chat, n in sent.items()
        if n > 1 + attempts.get(chat, 0) + (1 if chat in doubt else 0)
    }


LOG_TAIL_BYTES = 12_000
_NOTABLE = (" WARNING ", " ERROR ", " CRITICAL ", "receives updates", "running as", "stopping")


def log_report(path: Path, tail_bytes: int = LOG_TAIL_BYTES) -> str:
    """A process log for a failure report: its notable lines, then its last bytes."""
    if not path.exists():
        return f"===== {path.name}: no log =====\n"
    text = path.read_text(errors="replace")
    notable = [line for line in text.splitlines() if any(m in line for m in _NOTABLE)]
    tail = text[-tail_bytes:]
    return (
        f"===== {path} ({len(text)} chars): notable lines =====\n"
        + "\n".join(notable[-200:])
        + f"\n===== {path.name}: last {len(tail)} chars =====\n{tail}\n"
    )


@contextmanager
def logs_on_failure(paths: list[Path]) -> Iterator[None]:
    """Print the child processes' logs to stderr when the block fails (pytest shows them).

    With AKHBAR_TEST_ARTIFACTS set, the full logs are also copied into that folder.
    """
    try:
        yield
    except BaseException:
        for path in paths:
            sys.stderr.write(log_report(path))
        keep = os.environ.get("AKHBAR_TEST_ARTIFACTS")
        if keep:
            folder = Path(keep)
            folder.mkdir(parents=True, exist_ok=True)
            for path in paths:
                if path.exists():
                    shutil.copyfile(path, folder / f"{int(time.time())}-{path.name}")
        raise


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(text, callback_data) of every inline button in a recorded message."""
    markup = message.get("reply_markup") or {}
    if isinstance(markup, str):
        import json

        markup = json.loads(markup)
    return [
        (b.get("text", ""), b.get("callback_data", ""))
        for row in markup.get("inline_keyboard", [])
        for b in row
        if b.get("callback_data")
    ]


@contextmanager
def running_bot(
    tmp_path: Path, **extra_env: str
) -> Iterator[tuple[ControlClient, FeedServer, Path]]:
    """The fake Bot API (a subprocess), a feed server and `akhbar run` on a fresh SQLite
    database in `tmp_path`: yields (control, feeds, the bot's log) and, at the end, checks
    that the bot is still running."""
    feeds = FeedServer()
    try:
        with spawn() as control:
            env = bot_env(
                control.base_url, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", **extra_env
            )
            log = tmp_path / "bot.log"
            with bot_process(env, log) as proc:
                try:
                    yield control, feeds, log
                finally:
                    assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        feeds.close()
