"""`akhbar run` against the fake Bot API: a channel connected with real getChat and
getChatMember calls receives pushes through the outbox, and once the bot lost its rights
(a 403 on the next push) its admin is told once; an inline query that arrives by long
polling is answered with search results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import FeedServer, bot_env, bot_process, rss, wait_until
from tests.fakebotapi import BOT_ID, ControlClient, spawn

pytestmark = pytest.mark.slow
CHANNEL = -1009990001
ADMIN = 5  # a channel admin who is not an operator
GONE = "Forbidden: bot is not a member of the channel chat"
NOW = datetime.now(UTC)
QUAKE_A = {
    "title": "Earthquake shakes Tabriz, buildings evacuated",
    "link": "https://north.example/tabriz-quake",
    "description": "A strong earthquake shook Tabriz on Monday. Residents left buildings and "
    "gathered in parks. Rescue teams checked damaged homes across Tabriz.",
    "published": NOW - timedelta(hours=1),
}
QUAKE_C = {
    "title": "Tabriz earthquake: engineers inspect bridges and schools",
    "link": "https://north.example/tabriz-bridges",
    "description": "Engineers inspected bridges and schools in Tabriz after the earthquake. "
    "Most buildings were safe, officials in Tabriz said.",
}
QUAKE_B = {
    "title": "Tabriz earthquake: aftershocks keep residents outdoors",
    "link": "https://north.example/tabriz-aftershocks",
    "description": "Aftershocks kept Tabriz residents outdoors overnight after the earthquake. "
    "Officials said schools in Tabriz would stay closed.",
}


def reply(control: ControlClient, chat_id: int, text: str) -> dict[str, Any]:
    """Send a command as the chat's user; the bot's next message there."""
    before = len(control.sent(chat_id))
    control.push_message(chat_id, text, user_id=chat_id)
    return wait_until(
        lambda: control.sent(chat_id)[before] if len(control.sent(chat_id)) > before else None,
        20,
        f"a reply to {text!r}",
    )


def test_channel_pushes_and_inline_answers(tmp_path: Path) -> None:
    """Connect a channel, follow keywords there, get a push in it; answer an inline query."""
    feeds = FeedServer()
    with spawn() as control:
        env = bot_env(control.base_url, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
        control.add_channel(CHANNEL, "quake_watch", admins=[ADMIN, BOT_ID])
        log = tmp_path / "bot.log"
        with bot_process(env, log) as proc:
            url = feeds.put("/north.xml", rss("North", [QUAKE_A]))
            reply(control, 1, f"/addsource {url}")
            stranger = reply(control, 9, "/channel add @quake_watch")
            assert "Only admins" in stranger["text"]
            connected = reply(control, ADMIN, "/channel add @quake_watch")
            assert "Connected" in connected["text"], connected["text"]
            followed = reply(control, ADMIN, "/channel follow @quake_watch tabriz earthquake")
            assert "now follows" in followed["text"]
            feeds.put("/north.xml", rss("North", [QUAKE_A, QUAKE_B]))
            pushes = wait_until(lambda: control.sent(CHANNEL), 40, "a push to the channel", 0.3)
            assert "Tabriz" in pushes[0]["text"]

            control.set_admins(CHANNEL, [ADMIN])  # the bot lost its admin rights there
            control.add_fault("blocked", method="sendMessage", chat_id=CHANNEL, description=GONE)
            told_before = len(control.sent(ADMIN))
            feeds.put("/north.xml", rss("North", [QUAKE_A, QUAKE_B, QUAKE_C]))
            told = wait_until(
                lambda: control.sent(ADMIN)[told_before:], 60, "the admin to be told", 0.3
            )
            assert "can no longer post" in told[0]["text"]

            control.push_inline_query(11, "Tabriz")
            answers = wait_until(control.inline_answers, 20, "an inline answer")
            results = answers[0]["results"]
            assert results and "Tabriz" in results[0]["title"]
            assert results[0]["input_message_content"]["parse_mode"] == "HTML"
            assert len(control.sent(ADMIN)) == told_before + 1  # told once
            assert proc.poll() is None, log.read_text()[-3000:]
    feeds.close()
