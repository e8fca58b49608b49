"""`akhbar run` against the fake Bot API: source names, a paused-source notice to the
operator, /sources, /export (sendDocument) and /import (getFile and the file download)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.pipeline.opml import read_opml
from tests.e2e import FeedServer, rss, running_bot, wait_until
from tests.fakebotapi import ControlClient

pytestmark = pytest.mark.slow
OPERATOR = 1  # AKHBAR_ADMIN_IDS in bot_env
MINA = "وكالة الميناء"
ITEM = {
    "title": "Port workers end strike after wage deal",
    "link": "https://mina.example/strike-ends",
    "description": "Port workers ended their strike on Monday after a wage deal.",
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ControlClient, FeedServer, Path]]:
    """The fake Bot API, a feed server and a bot that pauses a source after two failures."""
    with running_bot(tmp_path, AKHBAR_PAUSE_AFTER_FAILURES="2") as world:
        yield world


def reply(control: ControlClient, text: str, timeout: float = 20) -> dict[str, Any]:
    """Send an operator command and wait for the bot's next message in that chat."""
    before = len(control.sent(OPERATOR))
    control.push_message(OPERATOR, text, user_id=OPERATOR)
    return wait_until(
        lambda: control.sent(OPERATOR)[before] if len(control.sent(OPERATOR)) > before else None,
        timeout,
        f"a reply to {text!r}",
    )


def test_names_notices_export_and_import(
    world: tuple[ControlClient, FeedServer, Path],
) -> None:
    """The operator's whole loop through a running bot."""
    control, feeds, log = world
    good = feeds.put("/ar.xml", rss(MINA, [ITEM]))
    broken = feeds.base + "/missing.xml"  # 404 every time
    assert "127.0.0.1" in reply(control, f"/addsource {good}")["text"]
    reply(control, f"/addsource {broken}")

    notice = wait_until(
        lambda: next(
            (m for m in control.sent(OPERATOR) if "operator notice" in (m["text"] or "")), None
        ),
        30,
        "the paused-source notice",
        0.3,
    )
    assert "was paused after 2 failures in a row" in notice["text"], log.read_text()[-2000:]
    assert "HTTP 404" in notice["text"] or "404" in notice["text"]
    listing = reply(control, "/sources")["text"]
    assert MINA in listing and "⏸" in listing

    before = len(control.documents())
    reply(control, "/export")
    wait_until(lambda: len(control.documents()) > before, 20, "the OPML document")
    chat_id, content = control.documents()[-1]
    assert chat_id == OPERATOR
    assert {e.url for e in read_opml(content).entries} == {good, broken}

    sent = len(control.sent(OPERATOR))
    toml = b'[[source]]\nurl = "https://imported.example/rss"\nname = "Imported"\n'
    control.push_document(OPERATOR, toml, "list.toml", caption="/import", user_id=OPERATOR)
    report = wait_until(
        lambda: next((m for m in control.sent(OPERATOR)[sent:] if "Import" in m["text"]), None),
        20,
        "the import report",
    )
    assert "1 added" in report["text"] and "Imported" in report["text"]
