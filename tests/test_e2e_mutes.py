"""`akhbar run` end to end: a muted word keeps a followed story's new article from being pushed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e import FeedServer, buttons, rss, running_bot, wait_until
from tests.fakebotapi import ControlClient
from tests.test_e2e_run import FLOOD_A, FLOOD_B, FLOOD_C, follow_count, send_and_wait, story_count

pytestmark = pytest.mark.slow

MUTED = {
    "title": "Jeddah floods: stadium roof leaks as heavy rain floods the pitch",
    "link": "https://daily.example/jeddah-floods-stadium",
    "description": "Heavy rain in Jeddah flooded the stadium pitch and the roof leaked. Civil "
    "defence teams pumped water from flooded roads near the stadium. Schools stay closed in Jeddah.",
    "published": datetime.now(UTC) - timedelta(minutes=30),
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ControlClient, FeedServer, Path]]:
    """The fake Bot API (subprocess), a feed server and a running bot."""
    with running_bot(tmp_path) as world:
        yield world


def test_muted_word_is_not_pushed(world: tuple[ControlClient, FeedServer, Path]) -> None:
    """A chat follows a story and mutes a word: the story's new article with the word is not
    pushed, the one without it is."""
    control, feeds, log = world
    db_path = log.parent / "bot.db"
    send_and_wait(control, 1, f"/addsource {feeds.put('/a.xml', rss('Gulf', [FLOOD_A]))}")
    send_and_wait(control, 1, f"/addsource {feeds.put('/b.xml', rss('Daily', [FLOOD_B]))}")
    wait_until(lambda: story_count(db_path, "Jeddah") > 0, 30, "the Jeddah story", 0.2)
    topics = send_and_wait(control, 1, "/topics")
    data = next(d for _, d in buttons(topics) if d.startswith("fs:"))
    control.push_callback(1, topics["message_id"], data, user_id=1)
    wait_until(lambda: follow_count(db_path) > 0, 20, "the story follow", 0.2)
    # a push of the story's second article may come before the reply: wait for the reply
    asked = len(control.sent(1))
    control.push_message(1, "/mute stadium", user_id=1)
    wait_until(
        lambda: next((m for m in control.sent(1)[asked:] if "Muted" in (m["text"] or "")), None),
        20,
        "the reply to /mute",
    )

    before = len(control.sent(1))
    feeds.put("/b.xml", rss("Daily", [FLOOD_B, MUTED, FLOOD_C]))
    push = wait_until(
        lambda: next(
            (m for m in control.sent(1) if "rescues more drivers" in (m["text"] or "")), None
        ),
        30,
        "the push of the article without the muted word",
    )
    assert "stadium" not in push["text"].split("\n")[0].lower()  # its own headline
    assert any(d.startswith("xs:") for _, d in buttons(push))  # Mute source on every push
    time.sleep(1.5)  # the muted article was fanned out in the same pass: nothing more comes
    # pushed headlines are bold (a push's own, or each item of a folded burst); related
    # headlines under a push are not
    bold = [
        b.lower()
        for m in control.sent(1)[before:]
        for b in re.findall(r"<b>(.*?)</b>", m["text"] or "")
    ]
    assert bold and not any("stadium" in b for b in bold), bold
    assert "Traceback" not in log.read_text()
