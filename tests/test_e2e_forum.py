"""`akhbar run` against the fake Bot API: a forum group receives pushes in the topic where
its follow was made, with the article's link preview."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import FeedServer, rss, running_bot, wait_until
from tests.fakebotapi import ControlClient

pytestmark = pytest.mark.slow
FORUM = -1001234
ADMIN = 1
NOW = datetime.now(UTC)
OLD = {
    "title": "Harbour authority opens a new ferry terminal",
    "link": "https://wire.example/ferry",
    "description": "The harbour authority opened a new ferry terminal on Monday. "
    "Ferries will leave every hour for the islands.",
    "published": NOW - timedelta(hours=2),
}
NEW = {
    "title": "Zeppelin lands in the harbour after a long trip",
    "link": "https://wire.example/zeppelin",
    "description": "A zeppelin landed safely in the harbour on Tuesday after a long trip "
    "over the sea. Crowds watched the zeppelin from the pier.",
    "published": NOW - timedelta(minutes=5),
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ControlClient, FeedServer]]:
    """The fake Bot API (subprocess), a feed server and a running bot."""
    with running_bot(tmp_path) as (control, feeds, _log):
        yield control, feeds


def reply(control: ControlClient, chat_id: int, before: int, what: str) -> dict[str, Any]:
    """The bot's first message in a chat after `before` sends."""
    return wait_until(lambda: (control.sent(chat_id)[before:] or [None])[0], 20, what)


def test_a_forum_group_gets_pushes_in_the_topic_of_its_follow(
    world: tuple[ControlClient, FeedServer],
) -> None:
    """An admin follows "zeppelin" inside topic 5 of a forum group: the confirmation and the
    push of a new article arrive in topic 5, the push with the article's preview."""
    control, feeds = world
    url = feeds.put("/wire.xml", rss("Wire", [OLD]))
    control.push_message(ADMIN, f"/addsource {url}", user_id=ADMIN)
    reply(control, ADMIN, 0, "the /addsource answer")
    control.set_admins(FORUM, [ADMIN])
    group = {"chat_type": "supergroup", "is_forum": True, "user_id": ADMIN}
    control.push_message(FORUM, "/follow zeppelin", thread_id=5, **group)
    confirmed = reply(control, FORUM, 0, "the /follow answer")
    assert "zeppelin" in confirmed["text"] and confirmed["message_thread_id"] == 5
    feeds.put("/wire.xml", rss("Wire", [OLD, NEW]))
    push = wait_until(
        lambda: next(
            (m for m in control.sent(FORUM) if "Zeppelin lands" in (m["text"] or "")), None
        ),
        60,
        "the push of the zeppelin article",
    )
    assert push["message_thread_id"] == 5
    assert push["link_preview_options"] == {"url": "https://wire.example/zeppelin"}
