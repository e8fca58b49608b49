"""ChatService: chats, settings and follows over a real database."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.chats import (
    MAX_FOLLOWS,
    BadKeywords,
    BadSetting,
    ChatService,
    FollowLimit,
    FollowNotFound,
    StoryNotFound,
    parse_quiet,
    parse_timezone,
)
from bot.domain import ChatType, DeliveryMode, FollowKind, QuietMode
from bot.settings import Settings
from storage.db import Database
from storage.repos.stories import StoryRepo

NOW = datetime(2025, 5, 14, 9, 0, tzinfo=UTC)


def make_service(db: Database) -> ChatService:
    """A service with default settings and a fixed clock."""
    settings = Settings(database_url="sqlite+aiosqlite:///unused.db", default_timezone="UTC")
    return ChatService(db, settings, lambda: NOW)


async def make_story(db: Database, label: str = "Floods in Wadi Sahel") -> int:
    """Create a story and return its id."""
    async with db.unit_of_work() as session:
        return (await StoryRepo(session).create(label, NOW)).id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Asia/Riyadh", "Asia/Riyadh"),
        ("asia/riyadh", "Asia/Riyadh"),
        ("riyadh", "Asia/Riyadh"),
        ("New York", "America/New_York"),
        ("+03:00", "Etc/GMT-3"),
        ("UTC+3", "Etc/GMT-3"),
        ("gmt-5", "Etc/GMT+5"),
        ("utc", "UTC"),
        ("+00:00", "UTC"),
    ],
)
def test_parse_timezone(text: str, expected: str) -> None:
    """Names, cities and offsets all map to IANA zones."""
    assert parse_timezone(text) == expected


@pytest.mark.parametrize("text", ["", "Mars/Olympus", "+25:00", "x" * 200, "\u200b"])
def test_parse_timezone_rejects(text: str) -> None:
    """Unknown zones give None."""
    assert parse_timezone(text) is None


def test_parse_timezone_half_hour_offset() -> None:
    """A half-hour offset maps to a real zone with that offset."""
    name = parse_timezone("+05:30")
    assert name is not None and "/" in name


def test_parse_quiet() -> None:
    """Quiet windows parse, "off" clears, nonsense is refused."""
    assert parse_quiet("22:00-07:00") == (time(22, 0), time(7, 0))
    assert parse_quiet("22:00 – 7:30") == (time(22, 0), time(7, 30))
    assert parse_quiet("off") is None
    for bad in ("25:00-07:00", "22:00", "10:00-10:00", "soon"):
        with pytest.raises(BadSetting):
            parse_quiet(bad)


async def test_ensure_chat_language_and_defaults(db: Database) -> None:
    """A new chat takes its language from Telegram's code; a second call keeps it."""
    service = make_service(db)
    chat = await service.ensure_chat(5, ChatType.PRIVATE, None, "ar-EG")
    assert chat.language == "ar" and chat.timezone == "UTC" and chat.digest_time == time(8, 0)
    again = await service.ensure_chat(5, "private", None, "en")
    assert again.language == "ar"
    other = await service.ensure_chat(6, "group", "G", "de")
    assert other.language == "en" and other.type is ChatType.GROUP


async def test_settings(db: Database) -> None:
    """Every setting can be changed and is validated."""
    service = make_service(db)
    await service.ensure_chat(5)
    assert (await service.set_digest_time(5, "07:30")).digest_time == time(7, 30)
    with pytest.raises(BadSetting):
        await service.set_digest_time(5, "7 am")
    assert (await service.set_timezone(5, "cairo")).timezone == "Africa/Cairo"
    with pytest.raises(BadSetting) as info:
        await service.set_timezone(5, "Atlantis")
    assert info.value.key == "settings.invalid_timezone"
    chat = await service.set_quiet(5, "23:00-06:00")
    assert (chat.quiet_start, chat.quiet_end) == (time(23, 0), time(6, 0))
    assert (await service.toggle_quiet_mode(5)).quiet_mode is QuietMode.DIGEST
    assert (await service.set_quiet(5, "off")).quiet_start is None
    assert (await service.toggle_empty_digest(5)).empty_digest is True
    assert (await service.set_language(5, "ar")).language == "ar"
    with pytest.raises(BadSetting):
        await service.set_language(5, "fr")
    paused, changed = await service.pause(5)
    assert paused.paused and changed
    assert (await service.pause(5))[1] is False
    resumed, changed = await service.resume(5)
    assert not resumed.paused and changed


async def test_follow_story(db: Database) -> None:
    """Following a story is idempotent; a missing story is a typed error."""
    service = make_service(db)
    await service.ensure_chat(5)
    story_id = await make_story(db)
    first = await service.follow_story(5, story_id)
    second = await service.follow_story(5, story_id)
    assert first.created and not second.created and first.follow.id == second.follow.id
    with pytest.raises(StoryNotFound):
        await service.follow_story(5, story_id + 999)
    assert len(await service.follows(5)) == 1


async def test_follow_keyword(db: Database) -> None:
    """Keyword follows: idempotent by terms, empty and long input refused, unfollow by words."""
    service = make_service(db)
    await service.ensure_chat(5)
    first = await service.follow_keyword(5, "Fuel prices")
    again = await service.follow_keyword(5, "  fuel   PRICES ")
    assert first.created and not again.created
    assert first.follow.kind is FollowKind.KEYWORD and first.follow.terms
    for bad in ("", '"*()', "\u200b\u200f"):
        with pytest.raises(BadKeywords):
            await service.follow_keyword(5, bad)
    with pytest.raises(BadKeywords) as info:
        await service.follow_keyword(5, "word " * 2000)
    assert info.value.key == "follow.too_long"
    removed = await service.unfollow(5, "fuel prices")
    assert removed.id == first.follow.id
    with pytest.raises(FollowNotFound):
        await service.unfollow(5, "fuel prices")
    with pytest.raises(FollowNotFound):
        await service.unfollow(5, 12345)


async def test_follow_limit(db: Database) -> None:
    """A chat cannot follow more than the limit."""
    service = make_service(db)
    await service.ensure_chat(5)
    for n in range(MAX_FOLLOWS):
        await service.follow_keyword(5, f"topic{n}x")
    with pytest.raises(FollowLimit):
        await service.follow_keyword(5, "one more thing")


async def test_modes_mute_and_ownership(db: Database) -> None:
    """Mode and mute toggles work only on the chat's own follows."""
    service = make_service(db)
    await service.ensure_chat(5)
    await service.ensure_chat(6)
    follow = (await service.follow_keyword(5, "metro")).follow
    assert (await service.toggle_follow_mode(5, follow.id)).mode is DeliveryMode.DIGEST
    assert (await service.toggle_follow_mode(5, follow.id)).mode is DeliveryMode.INSTANT
    assert (await service.toggle_follow_mute(5, follow.id)).muted is True
    with pytest.raises(FollowNotFound):
        await service.toggle_follow_mute(6, follow.id)
    with pytest.raises(FollowNotFound):
        await service.unfollow(6, follow.id)
    story_id = await make_story(db)
    muted = await service.mute_story(5, story_id)
    assert muted.muted and muted.story_id == story_id
    assert (await service.follow_story(5, story_id)).follow.muted is False


async def test_saved_queries(db: Database) -> None:
    """Query tokens survive and belong to one chat."""
    service = make_service(db)
    await service.ensure_chat(5)
    await service.ensure_chat(6)
    token = await service.save_query(5, "floods حلب")
    assert await service.load_query(5, token) == "floods حلب"
    assert await service.load_query(6, token) is None
    assert await service.load_query(5, token + 100) is None
