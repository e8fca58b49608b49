"""Forged ids past the database's INTEGER range get a plain answer, never a traceback (both engines).

Before: `lp:9223372036854775807` made SQLite raise "Python int too large to convert to
SQLite INTEGER", and on PostgreSQL an 18-digit /story id or a `mo:`/`fs:` id overflowed int4.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from bot.presentation.i18n import t
from storage.db import Database
from tests.bot_harness import ADMIN_ID, Harness, joined, make_harness

HUGE = "9223372036854775807"
STALE = t("en", "toast.stale")
FORGED = [
    f"lp:{HUGE}",
    f"tp:{HUGE}",
    f"sp:1:{HUGE}",
    f"sp:{HUGE}:0",
    f"fq:{HUGE}",
    f"mo:{HUGE}",
    f"fs:{HUGE}",
    "fs:2147483648",
    "ms:2147483648",
    "us:2147483648",
    "mo:999999999999999999",
    "rm:2147483648",
    "md:2147483648",
    "mu:2147483648",
    "lp:-1",
    "fs:-5",
]


@pytest.fixture
async def bot(db: Database) -> AsyncIterator[Harness]:
    """A harness over an empty database."""
    async with make_harness(db) as harness:
        yield harness


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages of records at ERROR or above, or carrying a traceback."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_forged_ids_in_buttons_answer_stale(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Every out-of-range id or page is answered with the stale-button toast, nothing logged."""
    await bot.command("/start")
    caplog.clear()
    for data in FORGED:
        calls = await bot.press(data)
        assert calls[-1].method == "answerCallbackQuery", data
        assert str(calls[-1].params.get("text")) == STALE, (data, joined(calls))
        assert "Something went wrong" not in joined(calls)
    assert errors_logged(caplog) == []


async def test_forged_ids_in_commands_answer_plainly(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """An 18-digit /story id is a story that does not exist; so is an 18-digit source id."""
    await bot.command("/start")
    caplog.clear()
    story = joined(await bot.command("/story 999999999999999999"))
    assert "can't find story" in story
    admin = {"chat_id": ADMIN_ID, "user_id": ADMIN_ID}
    removed = joined(await bot.command("/removesource 999999999999999999", **admin))
    assert "no source" in removed
    assert "Something went wrong" not in story + removed
    assert errors_logged(caplog) == []
