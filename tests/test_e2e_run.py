"""`akhbar run` as a real process against the fake Bot API server and a local feed server."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import FeedServer, buttons, rss, running_bot, wait_until
from tests.fakebotapi import ControlClient

pytestmark = pytest.mark.slow
ARABIC = re.compile(r"[\u0600-\u06FF]")
NOW = datetime.now(UTC)

FLOOD_A = {
    "title": "Floods hit Jeddah as heavy rain closes schools",
    "link": "https://gulf.example/jeddah-floods-schools",
    "description": "Heavy rain flooded streets across Jeddah on Tuesday. Authorities closed schools "
    "and urged residents to stay home. Civil defence teams rescued drivers trapped in Jeddah floods.",
    "published": NOW - timedelta(hours=2),
}
FLOOD_B = {
    "title": "Jeddah floods: schools closed after heavy rain submerges roads",
    "link": "https://daily.example/jeddah-floods-roads",
    "description": "Schools in Jeddah were closed after heavy rain submerged roads. Civil defence "
    "said teams rescued drivers from flooded streets. More rain is expected in Jeddah.",
    "published": NOW - timedelta(hours=1),
}
FLOOD_C = {
    "title": "Jeddah floods: civil defence rescues more drivers as heavy rain continues",
    "link": "https://daily.example/jeddah-floods-rescue",
    "description": "Civil defence teams in Jeddah rescued more drivers from flooded roads as heavy "
    "rain continued. Schools stay closed in Jeddah. Residents were told to avoid low streets.",
}


def story_count(db_path: Path, word: str) -> int:
    """How many stored stories mention `word` in their label (read straight from SQLite)."""
    if not db_path.exists():
        return 0
    with sqlite3.connect(db_path, timeout=5) as conn:
        try:
            row = conn.execute(
                "SELECT count(*) FROM stories WHERE label LIKE ?", (f"%{word}%",)
            ).fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(row[0])


def follow_count(db_path: Path) -> int:
    """How many follows are stored."""
    with sqlite3.connect(db_path, timeout=5) as conn:
        return int(conn.execute("SELECT count(*) FROM follows").fetchone()[0])


def texts(control: ControlClient, chat_id: int) -> list[dict[str, Any]]:
    """Everything the bot sent or edited in a chat."""
    return control.sent(chat_id)


def send_and_wait(
    control: ControlClient, chat_id: int, text: str, timeout: float = 20, **kw: Any
) -> dict[str, Any]:
    """Send a user message and wait for the bot's next message in that chat."""
    before = len(texts(control, chat_id))
    control.push_message(chat_id, text, user_id=kw.pop("user_id", chat_id), **kw)
    return wait_until(
        lambda: texts(control, chat_id)[before] if len(texts(control, chat_id)) > before else None,
        timeout,
        f"a reply to {text!r}",
    )


def press(
    control: ControlClient, chat_id: int, message: dict[str, Any], prefix: str, timeout: float = 20
) -> dict[str, Any]:
    """Press the first button whose callback data starts with `prefix`; wait for the bot's answer."""
    data = next(d for _, d in buttons(message) if d.startswith(prefix))
    before = len(texts(control, chat_id))
    control.push_callback(chat_id, message["message_id"], data, user_id=chat_id)
    return wait_until(
        lambda: texts(control, chat_id)[before] if len(texts(control, chat_id)) > before else None,
        timeout,
        f"an answer to button {data}",
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ControlClient, FeedServer, Path]]:
    """The fake Bot API (subprocess), a feed server and a running bot."""
    with running_bot(tmp_path) as world:
        yield world


def test_start_in_english_and_arabic(world: tuple[ControlClient, FeedServer, Path]) -> None:
    """/start answers in the user's Telegram language."""
    control, _, _ = world
    english = send_and_wait(control, 501, "/start", language_code="en")
    arabic = send_and_wait(control, 502, "/start", language_code="ar")
    assert english["text"] and not ARABIC.search(english["text"].split("\n")[0])
    assert ARABIC.search(arabic["text"])


def test_follow_story_then_push_search_digest_settings(
    world: tuple[ControlClient, FeedServer, Path],
) -> None:
    """A user follows a story from /topics; a new item arrives as a push with related headlines."""
    control, feeds, log = world
    db_path = log.parent / "bot.db"
    url_a = feeds.put("/a.xml", rss("Gulf", [FLOOD_A]))
    url_b = feeds.put("/b.xml", rss("Daily", [FLOOD_B]))
    refused = send_and_wait(control, 2, f"/addsource {url_a}", user_id=2)
    assert "addsource" not in refused["text"].lower() or "admin" in refused["text"].lower()
    send_and_wait(control, 1, f"/addsource {url_a}")
    send_and_wait(control, 1, f"/addsource {url_b}")

    wait_until(lambda: story_count(db_path, "Jeddah") > 0, 60, "the Jeddah story to be stored", 0.3)
    topics = send_and_wait(control, 1, "/topics")
    assert "Jeddah" in topics["text"] and any(d.startswith("fs:") for _, d in buttons(topics))
    data = next(d for _, d in buttons(topics) if d.startswith("fs:"))
    control.push_callback(1, topics["message_id"], data, user_id=1)
    wait_until(lambda: follow_count(db_path) > 0, 30, "the story follow to be stored", 0.2)

    feeds.put("/b.xml", rss("Daily", [FLOOD_B, FLOOD_C]))
    push = wait_until(
        lambda: next(
            (m for m in texts(control, 1) if "rescues more drivers" in (m["text"] or "")), None
        ),
        60,
        "the push of the new article",
    )
    assert "Related" in push["text"] and "Jeddah" in push["text"]
    assert any(d.startswith("mo:") for _, d in buttons(push))
    card = press(control, 1, push, "mo:")
    assert "Jeddah" in card["text"]

    results = send_and_wait(control, 1, "/search jeddah floods")
    assert "Jeddah" in results["text"]
    data = next(d for _, d in buttons(results) if d.startswith("fq:"))
    control.push_callback(1, results["message_id"], data, user_id=1)
    wait_until(lambda: follow_count(db_path) == 2, 30, "the keyword follow to be stored", 0.2)

    digest = send_and_wait(control, 1, "/digest")
    assert digest["text"]
    settings = send_and_wait(control, 1, "/settings time 07:30")
    assert "07:30" in settings["text"]
    logged = log.read_text()
    assert "Traceback" not in logged
    assert (
        "TEST-token" not in logged and "jeddah floods" not in logged.lower()
    )  # no token, no user text
