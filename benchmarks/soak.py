"""Soak: a real `akhbar run` for N minutes against local feeds and the fake Bot API, with faults.

The bot process (`python -m bot run`, SQLite file) polls ``--feeds`` local RSS feeds that
gain a new item every ``--item-every`` seconds; every item matches a keyword that all
``--chats`` chats follow, so each item fans out to every chat. The fake Bot API (a
subprocess enforcing Telegram's flood limits) is given faults while it runs: 429s
(``retry_after``) and read timeouts (``hang``: the send times out after 5 s) on random
chats, and a 403 (``blocked``) for a few chats at the start; one more feed serves a
malformed document throughout.

Printed: the bot's RSS after warm-up, every fifth minute and at the end (and the growth
from warm-up to end, the RSS of every minute, and the slope over the run's second half, to
tell growth that levels off from growth that goes on), event-loop lag (the
worst p99 and max the process reported on ``/metrics`` over the run), pushes sent, the
faults answered, outbox states, polls by outcome. Then it stops adding items, lets the
outbox drain and asserts nothing was lost: every article fanned out to every chat, every
row of a chat that did not block the bot sent (or folded into a sent message), no row
parked or left pending, the blocked chats' rows skipped, and no chat sent a push more
often than its rows and failed attempts allow.

Run from the repository root::

    .venv/bin/python benchmarks/soak.py [--minutes 2] [--chats 300] [--feeds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from bot.pipeline.text import query_terms
from storage.db import Database
from storage.migrate import upgrade
from storage.models import ArticleRow, DeliveryRow
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.sources import SourceRepo
from tests.e2e import FeedServer, bot_env, bot_process, rss
from tests.fakebotapi import ControlClient, spawn

KEYWORD = "harbour"
FIRST_CHAT = 50_000
_LAG = re.compile(r'^akhbar_loop_lag_seconds\{quantile="(0\.99|1)"\} (\S+)$', re.M)
_POLLS = re.compile(r'^akhbar_polls_total\{outcome="(\w+)"\} (\S+)$', re.M)
_SQLITE = re.compile(r"^akhbar_sqlite_memory_bytes (\S+)$", re.M)


def sqlite_mib(metrics: str) -> float | None:
    """SQLite's heap in the bot (MiB) from a /metrics text, or None when absent."""
    found = _SQLITE.search(metrics)
    return None if found is None else float(found.group(1)) / 2**20


def mib(value: float | None) -> str:
    """A MiB figure to one decimal, or "n/a"."""
    return "n/a" if value is None else f"{value:.1f}"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident set size of a process (KiB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def scrape(port: int) -> str:
    """The bot's /metrics text ("" while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return str(answer.read().decode())
    except OSError:
        return ""


async def seed(url: str, chats: list[int], feed_urls: list[str]) -> None:
    """Chats that follow the keyword (digest time twelve hours away), and the sources."""
    db = Database(url)
    digest_time = (datetime.now(UTC) + timedelta(hours=12)).time().replace(second=0, microsecond=0)
    try:
        async with db.unit_of_work() as session:
            for chat_id in chats:
                await ChatRepo(session).ensure(chat_id, digest_time=digest_time)
                await FollowRepo(session).follow_keyword(chat_id, KEYWORD, query_terms(KEYWORD))
            for n, feed_url in enumerate(feed_urls):
                await SourceRepo(session).add(feed_url, f"feed {n}", poll_seconds=2)
    finally:
        await db.dispose()


async def outbox(url: str) -> tuple[Counter[str], dict[int, Counter[str]], int, int]:
    """Rows by state, rows by chat and state, articles, articles not yet fanned out."""
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            rows = (
                await session.execute(
                    select(DeliveryRow.chat_id, DeliveryRow.state, func.count()).group_by(
                        DeliveryRow.chat_id, DeliveryRow.state
                    )
                )
            ).all()
            articles = int(await session.scalar(select(func.count(ArticleRow.id))) or 0)
            waiting = int(
                await session.scalar(
                    select(func.count(ArticleRow.id)).where(ArticleRow.fanned_out.is_(False))
                )
                or 0
            )
            attempts = {
                int(chat_id): int(total or 0)
                for chat_id, total in await session.execute(
                    select(DeliveryRow.chat_id, func.sum(DeliveryRow.attempts)).group_by(
                        DeliveryRow.chat_id
                    )
                )
            }
    finally:
        await db.dispose()
    states: Counter[str] = Counter()
    by_chat: dict[int, Counter[str]] = {}
    for chat_id, state, n in rows:
        states[str(state)] += int(n)
        by_chat.setdefault(int(chat_id), Counter())[str(state)] += int(n)
    for chat_id, total in attempts.items():
        by_chat.setdefault(chat_id, Counter())["attempts"] = total
    return states, by_chat, articles, waiting


class Publisher:
    """Adds one new item to a random feed every `every` seconds (a thread)."""

    def __init__(self, server: FeedServer, paths: list[str], every: float) -> None:
        """Start with one item per feed."""
        self.server = server
        self.paths = paths
        self.every = every
        self.items: dict[str, list[dict[str, object]]] = {p: [] for p in paths}
        self.count = 0
        self._stop = threading.Event()
        for path in paths:
            self.add(path)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def add(self, path: str) -> None:
        """One more item (distinct words, so no two are near-duplicates) on a feed."""
        self.count += 1
        n = self.count
        words = " ".join(random.sample(WORDS, 12))
        item: dict[str, object] = {
            "title": f"{KEYWORD.title()} report {n}: {words}",
            "link": f"{self.server.base}/news/{n}",
            "description": f"Report {n} from the {KEYWORD}. {words}. " * 3,
        }
        feed = self.items[path]
        feed.insert(0, item)
        del feed[20:]
        self.server.put(path, rss(f"Feed {path}", feed))

    def _run(self) -> None:
        """Publish until stopped."""
        while not self._stop.wait(self.every):
            self.add(random.choice(self.paths))

    def start(self) -> None:
        """Begin publishing."""
        self.thread.start()

    def stop(self) -> None:
        """Stop publishing."""
        self._stop.set()
        self.thread.join()


WORDS = tuple(
    [
        "tide",
        "crane",
        "dock",
        "vessel",
        "cargo",
        "strike",
        "union",
        "wage",
        "talks",
        "minister",
        "port",
        "berth",
        "tanker",
        "grain",
        "storm",
        "flood",
        "bridge",
        "rail",
        "freight",
        "customs",
        "pilot",
        "tug",
        "anchor",
        "quay",
        "ferry",
        "container",
        "fuel",
        "market",
        "price",
        "export",
        "import",
        "ministry",
        "court",
        "ruling",
        "budget",
        "council",
        "mayor",
        "river",
        "canal",
        "shipyard",
        "welder",
        "engineer",
        "inspector",
        "convoy",
    ]
)


def inject_faults(control: ControlClient, chats: list[int], stop: threading.Event) -> Counter[str]:
    """Every few seconds a 429 and a read timeout for random chats (a thread's loop)."""
    injected: Counter[str] = Counter()
    while not stop.wait(3.0):
        chat = random.choice(chats)
        control.add_fault("retry_after", method="sendMessage", chat_id=chat, retry_after=2)
        injected["retry_after"] += 1
        if random.random() < 0.5:
            control.add_fault("hang", method="sendMessage", chat_id=random.choice(chats))
            injected["hang"] += 1
    return injected


def main() -> None:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--feeds", type=int, default=4)
    parser.add_argument("--item-every", type=float, default=15.0, help="seconds between items")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before the first RSS")
    parser.add_argument("--blocked", type=int, default=5, help="chats that answer 403")
    args = parser.parse_args()
    random.seed(7)
    chats = list(range(FIRST_CHAT, FIRST_CHAT + args.chats))
    blocked = chats[: args.blocked]
    live = chats[args.blocked :]
    workdir = Path(tempfile.mkdtemp(prefix="akhbar-soak-"))
    url = f"sqlite+aiosqlite:///{workdir / 'soak.db'}"
    upgrade(url)
    server = FeedServer()
    paths = [f"/feed{n}.xml" for n in range(args.feeds)]
    publisher = Publisher(server, paths, args.item_every)
    broken = b"<?xml version='1.0'?><rss version='2.0'><channel><title>Broken &amp</channel><<"
    bad = server.put("/broken.xml", broken, "application/rss+xml")
    asyncio.run(seed(url, chats, [server.base + p for p in paths] + [bad]))
    ops_port = free_port()
    log = workdir / "bot.log"
    stop_faults = threading.Event()
    injected: Counter[str] = Counter()
    try:
        with spawn("--limits") as control:
            for chat in blocked:
                control.add_fault("blocked", method="sendMessage", chat_id=chat)
            env = bot_env(
                control.base_url,
                url,
                AKHBAR_OPS_PORT=str(ops_port),
                AKHBAR_LEASE_SECONDS="30",  # the production default (the tests' 3 s is short)
            )
            with bot_process(env, log) as bot:
                publisher.start()
                faults = threading.Thread(
                    target=lambda: injected.update(inject_faults(control, live, stop_faults)),
                    daemon=True,
                )
                faults.start()
                started = time.monotonic()
                ends = started + args.minutes * 60
                rss_start: int | None = None
                sqlite_start: float | None = None
                series: list[int] = []  # RSS each minute (MiB), to tell a slope from a warm-up
                p99 = worst = 0.0
                while time.monotonic() < ends:
                    time.sleep(2.0)
                    if bot.poll() is not None:
                        raise SystemExit(f"the bot died (exit {bot.returncode}); log: {log}")
                    elapsed = time.monotonic() - started
                    if rss_start is None and elapsed >= args.warmup:
                        rss_start = rss_kib(bot.pid)
                        sqlite_start = sqlite_mib(scrape(ops_port))
                    if elapsed >= 60 * (len(series) + 1):
                        series.append(rss_kib(bot.pid) // 1024)
                    for quantile, value in _LAG.findall(scrape(ops_port)):
                        if quantile == "0.99":
                            p99 = max(p99, float(value))
                        else:
                            worst = max(worst, float(value))
                rss_end = rss_kib(bot.pid)
                sqlite_end = sqlite_mib(scrape(ops_port))
                stop_faults.set()
                publisher.stop()
                faults.join()
                control.clear_faults()
                sent_during = control.stats()["sent"]
                drained_at = drain(url, publisher.count)
                metrics = scrape(ops_port)
                stats = control.stats()
                sends = Counter(int(m["chat_id"]) for m in control.sent())
        states, by_chat, articles, waiting = asyncio.run(outbox(url))
    finally:
        server.close()
    polls = {outcome: float(n) for outcome, n in _POLLS.findall(metrics)}
    growth = 100.0 * (rss_end - (rss_start or rss_end)) / max(rss_start or rss_end, 1)
    print(f"soak: {args.minutes:g} min, {args.chats} chats, {args.feeds} feeds (+1 malformed)")
    print(f"RSS after {args.warmup:g} s warm-up {rss_start} KiB, at the end {rss_end} KiB")
    print(f"RSS growth {growth:+.1f} % (target < 10 % over 30 min after warm-up)")
    print(f"RSS (MiB) {rss_milestones(rss_start or rss_end, series, rss_end)}")
    print(f"RSS by minute (MiB): {series}; {late_slope(series)}")
    print(f"SQLite heap (MiB) after warm-up {mib(sqlite_start)}, at the end {mib(sqlite_end)}")
    print(f"loop lag: worst p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms")
    print(f"items published {publisher.count}, articles stored {articles}")
    print(f"pushes sent {sent_during} during the run, {stats['sent']} after draining")
    print(
        f"faults: 429 answered {stats['count_429']} (flood limits {stats['limit_429s']}), "
        f"injected {dict(injected)}, 403 for {len(blocked)} chats"
    )
    print(f"outbox {dict(states)}; drained {drained_at:.1f} s after the run")
    print(f"polls by outcome {polls}")
    check_nothing_lost(articles, waiting, states, by_chat, sends, blocked, live)
    print("nothing lost: every row sent or folded (blocked chats skipped), no repeats")


def rss_milestones(start_kib: int, by_minute: list[int], end_kib: int) -> str:
    """RSS after warm-up, every fifth minute and at the end, on one line."""
    marks = [f"warm-up {start_kib // 1024}"]
    marks += [f"{m} min {by_minute[m - 1]}" for m in range(5, len(by_minute) + 1, 5)]
    return ", ".join([*marks, f"end {end_kib // 1024}"])


def late_slope(by_minute: list[int]) -> str:
    """How fast RSS still rose over the second half of the run (MiB a minute)."""
    if len(by_minute) < 4:
        return "too short for a slope"
    half = len(by_minute) // 2
    slope = (by_minute[-1] - by_minute[half - 1]) / (len(by_minute) - half)
    return f"second half {slope:+.2f} MiB/min (minute {half} to {len(by_minute)})"


def drain(url: str, published: int, timeout: float = 180.0) -> float:
    """Wait until every published item is stored and fanned out and no row is pending or
    claimed (an item published just before the stop may not be stored yet: an empty outbox
    alone does not mean drained)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        states, _, articles, waiting = asyncio.run(outbox(url))
        stored = articles >= published
        if stored and not waiting and not states.get("pending") and not states.get("claimed"):
            return time.monotonic() - started
        time.sleep(1.0)
    raise SystemExit(f"the outbox did not drain in {timeout:.0f} s: {dict(states)}")


def check_nothing_lost(
    articles: int,
    waiting: int,
    states: Counter[str],
    by_chat: dict[int, Counter[str]],
    sends: Counter[int],
    blocked: list[int],
    live: list[int],
) -> None:
    """Every article reached every chat that did not block the bot, once."""
    problems = []
    if waiting:
        problems.append(f"{waiting} articles never fanned out")
    for state in ("pending", "claimed", "failed"):
        if states.get(state):
            problems.append(f"{states[state]} rows {state}")
    for chat in live:
        rows = by_chat.get(chat, Counter())
        delivered = rows["sent"] + rows["folded"]
        if delivered != articles:
            problems.append(f"chat {chat}: {delivered} of {articles} articles delivered {rows}")
        if sends[chat] > rows["sent"] + rows["attempts"]:
            problems.append(f"chat {chat}: {sends[chat]} pushes for {rows['sent']} sent rows")
    for chat in blocked:
        rows = by_chat.get(chat, Counter())
        if rows["sent"] or rows["folded"]:
            problems.append(f"blocked chat {chat} was sent to: {rows}")
    if problems:
        raise SystemExit("LOST OR REPEATED:\n  " + "\n  ".join(problems[:30]))


if __name__ == "__main__":
    main()
