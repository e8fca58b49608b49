"""Chat service: chats, their settings and their follows, with typed, localisable errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cache
from typing import Any, Final
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import (
    Chat,
    ChatType,
    Clock,
    DeliveryMode,
    Follow,
    FollowKind,
    QuietMode,
    Story,
    normalize_lang,
    pick_language,
)
from bot.pipeline.text import query_terms
from bot.pipeline.xlink import parse_news_langs
from bot.settings import Settings, parse_hhmm
from storage.db import Database
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.ops import CallbackTokenRepo
from storage.repos.stories import StoryRepo

MAX_FOLLOWS: Final = 100
MAX_KEYWORD_CHARS: Final = 100
MAX_QUERY_CHARS: Final = 256
_OFFSET_RE: Final = re.compile(r"^(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?([0-5]\d))?$", re.I)
_QUIET_RE: Final = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–—to]+\s*(\d{1,2}:\d{2})\s*$", re.I)
_OFF_WORDS: Final = frozenset({"off", "none", "no", "0", "إيقاف", "ايقاف", "لا"})


@dataclass(eq=False)
class ChatError(Exception):
    """A user-caused problem: an i18n message key and its (unescaped) fields."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        """The key, for logs."""
        return self.key


class ChatNotFound(ChatError):
    """The chat is not known (it never sent /start)."""


class StoryNotFound(ChatError):
    """The story does not exist (any more)."""


class BadKeywords(ChatError):
    """Keywords that are empty, unmatchable or too long."""


class FollowLimit(ChatError):
    """The chat follows as many things as allowed."""


class FollowNotFound(ChatError):
    """No follow of this chat matches."""


class BadSetting(ChatError):
    """A setting value that cannot be read."""


@dataclass(frozen=True, slots=True)
class FollowResult:
    """A follow and whether this call created it (False: it already existed)."""

    follow: Follow
    created: bool
    story: Story | None = None


@cache
def _zone_names() -> dict[str, str]:
    """Lower-cased IANA names → canonical names."""
    return {name.lower(): name for name in available_timezones()}


@cache
def _city_names() -> dict[str, str]:
    """Lower-cased city parts ("riyadh", "new york") → IANA names, regional zones preferred."""
    cities: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/")):
            continue
        city = name.rsplit("/", 1)[-1].replace("_", " ").lower()
        cities.setdefault(city, name)
    return cities


def _offset_zone(sign: str, hours: int, minutes: int) -> str | None:
    """An IANA zone with this fixed UTC offset (Etc/GMT±H for whole hours)."""
    if hours > 14 or (hours == 14 and minutes):
        return None
    if minutes == 0:
        if hours == 0:
            return "UTC"
        if (sign == "+" and hours > 14) or (sign == "-" and hours > 12):
            return None
        return f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
    wanted = timedelta(hours=hours, minutes=minutes) * (1 if sign == "+" else -1)
    probe = datetime(2025, 1, 15, 12, 0)
    for name in sorted(_city_names().values()):
        if ZoneInfo(name).utcoffset(probe) == wanted:
            return name
    return None


def parse_timezone(text: str) -> str | None:
    """An IANA name for an IANA name, a city or an offset ("+03:00", "UTC+3"); None if unknown."""
    value = " ".join(text.strip().split())
    if not value or len(value) > 64:
        return None
    lowered = value.lower()
    if lowered in ("utc", "gmt", "z"):
        return "UTC"
    match = _OFFSET_RE.match(value)
    if match:
        return _offset_zone(match.group(1), int(match.group(2)), int(match.group(3) or 0))
    exact = _zone_names().get(lowered) or _zone_names().get(lowered.replace(" ", "_"))
    if exact is not None:
        return exact
    return _city_names().get(lowered.replace("_", " "))


def parse_quiet(text: str) -> tuple[time, time] | None:
    """Quiet hours "HH:MM-HH:MM" as (start, end); raises BadSetting when unreadable."""
    value = text.strip()
    if value.lower() in _OFF_WORDS:
        return None
    match = _QUIET_RE.match(value)
    if match is None:
        raise BadSetting("settings.invalid_quiet")
    try:
        start, end = parse_hhmm(match.group(1)), parse_hhmm(match.group(2))
    except ValueError:
        raise BadSetting("settings.invalid_quiet") from None
    if start == end:
        raise BadSetting("settings.invalid_quiet")
    return start, end


def terms_key(text: str) -> str:
    """The stored form of a keyword follow's terms (sorted, space separated)."""
    return " ".join(sorted(set(query_terms(text))))


class ChatService:
    """Chats, settings and follows over the repositories; every call is one unit of work."""

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        """Use `db`; defaults for new chats come from `settings`."""
        self.db = db
        self.settings = settings
        self.clock = clock

    # ----------------------------------------------------------------- chats

    async def ensure_chat(
        self,
        chat_id: int,
        chat_type: ChatType | str = ChatType.PRIVATE,
        title: str | None = None,
        language_code: str | None = None,
    ) -> Chat:
        """The chat, created with defaults (language from Telegram's code) when new."""
        kind = ChatType(str(chat_type))
        clipped = title[:200] if title else None
        async with self.db.unit_of_work() as session:
            repo = ChatRepo(session)
            chat, created = await repo.ensure(
                chat_id,
                type=kind,
                title=clipped,
                language=pick_language(language_code, self.settings.default_language),
                timezone=self.settings.default_timezone,
                digest_time=self.settings.digest_time,
            )
            if not created and (chat.title != clipped or chat.type != kind):
                chat = await repo.update(chat_id, title=clipped, type=kind) or chat
            return chat

    async def get(self, chat_id: int) -> Chat | None:
        """One chat, if known."""
        async with self.db.unit_of_work() as session:
            return await ChatRepo(session).get(chat_id)

    async def _update(self, chat_id: int, **values: Any) -> Chat:
        """Change settings of a known chat."""
        async with self.db.unit_of_work() as session:
            chat = await ChatRepo(session).update(chat_id, **values)
        if chat is None:
            raise ChatNotFound("unknown.command")
        return chat

    async def _require(self, chat_id: int) -> Chat:
        """The chat or ChatNotFound."""
        chat = await self.get(chat_id)
        if chat is None:
            raise ChatNotFound("unknown.command")
        return chat

    async def set_language(self, chat_id: int, language: str) -> Chat:
        """Switch the interface language ("en" or "ar")."""
        if language not in ("en", "ar"):
            raise BadSetting("settings.unknown")
        return await self._update(chat_id, language=normalize_lang(language))

    async def set_digest_time(self, chat_id: int, text: str) -> Chat:
        """Set the daily digest time from "HH:MM" (the schedule is recomputed)."""
        try:
            value = parse_hhmm(text)
        except ValueError:
            raise BadSetting("settings.invalid_time") from None
        return await self._update(chat_id, digest_time=value, next_digest_at=None)

    async def set_timezone(self, chat_id: int, text: str) -> Chat:
        """Set the time zone from an IANA name, a city or an offset."""
        name = parse_timezone(text)
        if name is None:
            raise BadSetting("settings.invalid_timezone", {"value": text.strip()[:64]})
        return await self._update(chat_id, timezone=name, next_digest_at=None)

    async def set_quiet(self, chat_id: int, text: str) -> Chat:
        """Set quiet hours from "HH:MM-HH:MM", or clear them with "off"."""
        window = parse_quiet(text)
        if window is None:
            return await self._update(chat_id, quiet_start=None, quiet_end=None)
        return await self._update(chat_id, quiet_start=window[0], quiet_end=window[1])

    async def set_empty_digest(self, chat_id: int, enabled: bool) -> Chat:
        """Whether to send a digest on days with nothing new."""
        return await self._update(chat_id, empty_digest=enabled)

    async def set_news_langs(self, chat_id: int, value: str | None) -> Chat:
        """Set the news languages ("ar", "en", "both"; None: the default); ChatError if unknown."""
        try:
            chosen = parse_news_langs(value)
        except ValueError as exc:
            raise ChatError("settings.invalid_news") from exc
        return await self._update(chat_id, news_langs=chosen)

    async def toggle_empty_digest(self, chat_id: int) -> Chat:
        """Flip the empty-digest switch."""
        chat = await self._require(chat_id)
        return await self._update(chat_id, empty_digest=not chat.empty_digest)

    async def toggle_quiet_mode(self, chat_id: int) -> Chat:
        """Flip what quiet hours do to pushes: hold them, or fold them into the digest."""
        chat = await self._require(chat_id)
        mode = QuietMode.DIGEST if chat.quiet_mode is QuietMode.HOLD else QuietMode.HOLD
        return await self._update(chat_id, quiet_mode=mode)

    async def pause(self, chat_id: int) -> tuple[Chat, bool]:
        """Pause pushes and digests (/stop); the bool says it changed."""
        chat = await self._require(chat_id)
        if chat.paused:
            return chat, False
        return await self._update(chat_id, paused=True), True

    async def resume(self, chat_id: int) -> tuple[Chat, bool]:
        """Resume after /stop (or after the chat had blocked us); the bool says it changed."""
        chat = await self._require(chat_id)
        if not chat.paused and not chat.blocked:
            return chat, False
        return await self._update(chat_id, paused=False, blocked=False, next_digest_at=None), True

    # ----------------------------------------------------------------- follows

    async def follows(self, chat_id: int) -> list[Follow]:
        """The chat's follows, oldest first."""
        async with self.db.unit_of_work() as session:
            return await FollowRepo(session).for_chat(chat_id)

    async def follows_with_labels(self, chat_id: int) -> tuple[list[Follow], dict[int, str]]:
        """The chat's follows and the labels of the stories they point at."""
        async with self.db.unit_of_work() as session:
            follows = await FollowRepo(session).for_chat(chat_id)
            ids = [f.story_id for f in follows if f.story_id is not None]
            stories = await StoryRepo(session).get_many(ids)
        return follows, {i: s.label for i, s in stories.items()}

    async def follow_story(self, chat_id: int, story_id: int) -> FollowResult:
        """Follow a story that exists; following it again changes nothing (but unmutes)."""
        async with self.db.unit_of_work() as session:
            story, existing, mine = await _story_and_follows(session, chat_id, story_id)
            repo = FollowRepo(session)
            if mine is not None:
                if mine.muted:
                    mine = await repo.update(chat_id, mine.id, muted=False) or mine
                    return FollowResult(mine, True, story)
                return FollowResult(mine, False, story)
            if len(existing) >= MAX_FOLLOWS:
                raise FollowLimit("follow.limit", {"max": MAX_FOLLOWS})
            follow, created = await repo.follow_story(chat_id, story_id)
            return FollowResult(follow, created, story)

    async def mute_story(self, chat_id: int, story_id: int) -> Follow:
        """Mute a story: its pushes stop (a muted story follow is kept to remember it)."""
        async with self.db.unit_of_work() as session:
            _story, existing, mine = await _story_and_follows(session, chat_id, story_id)
            repo = FollowRepo(session)
            if mine is None:
                if len(existing) >= MAX_FOLLOWS:
                    raise FollowLimit("follow.limit", {"max": MAX_FOLLOWS})
                mine, _ = await repo.follow_story(chat_id, story_id)
            if mine.muted:
                return mine
            return await repo.update(chat_id, mine.id, muted=True) or mine

    async def unmute_story(self, chat_id: int, story_id: int) -> Follow:
        """Unmute a story the chat had muted."""
        async with self.db.unit_of_work() as session:
            repo = FollowRepo(session)
            mine = next((f for f in await repo.for_chat(chat_id) if f.story_id == story_id), None)
            if mine is None:
                raise FollowNotFound("unfollow.not_found")
            return await repo.update(chat_id, mine.id, muted=False) or mine

    async def follow_keyword(self, chat_id: int, text: str) -> FollowResult:
        """Follow keywords (all must match); the same words again change nothing."""
        query = " ".join(text.split())
        if len(query) > MAX_KEYWORD_CHARS:
            raise BadKeywords("follow.too_long", {"max": MAX_KEYWORD_CHARS})
        terms = query_terms(query)
        if not terms:
            raise BadKeywords("follow.no_terms")
        async with self.db.unit_of_work() as session:
            repo = FollowRepo(session)
            existing = await repo.for_chat(chat_id)
            key = " ".join(sorted(set(terms)))
            same = next((f for f in existing if " ".join(sorted(f.terms)) == key), None)
            if same is not None:
                return FollowResult(same, False)
            if len(existing) >= MAX_FOLLOWS:
                raise FollowLimit("follow.limit", {"max": MAX_FOLLOWS})
            follow, created = await repo.follow_keyword(chat_id, query, terms)
            return FollowResult(follow, created)

    async def unfollow(self, chat_id: int, target: int | str) -> Follow:
        """Remove a follow by id, or a keyword follow by its words; FollowNotFound otherwise."""
        async with self.db.unit_of_work() as session:
            repo = FollowRepo(session)
            follows = await repo.for_chat(chat_id)
            found: Follow | None
            if isinstance(target, int):
                found = next((f for f in follows if f.id == target), None)
            else:
                key = terms_key(target)
                wanted = " ".join(target.split()).casefold()
                found = next(
                    (
                        f
                        for f in follows
                        if f.kind is FollowKind.KEYWORD
                        and (
                            (key and " ".join(sorted(f.terms)) == key)
                            or (f.query or "").casefold() == wanted
                        )
                    ),
                    None,
                )
            if found is None or not await repo.remove(chat_id, found.id):
                raise FollowNotFound("unfollow.not_found")
            return found

    async def set_follow_mode(self, chat_id: int, follow_id: int, mode: DeliveryMode) -> Follow:
        """Set a follow to instant or digest-only."""
        async with self.db.unit_of_work() as session:
            follow = await FollowRepo(session).update(chat_id, follow_id, mode=mode)
        if follow is None:
            raise FollowNotFound("unfollow.not_found")
        return follow

    async def toggle_follow_mode(self, chat_id: int, follow_id: int) -> Follow:
        """Flip a follow between instant and digest-only."""
        follow = await self._follow(chat_id, follow_id)
        digest = follow.mode is DeliveryMode.DIGEST
        mode = DeliveryMode.INSTANT if digest else DeliveryMode.DIGEST
        return await self.set_follow_mode(chat_id, follow_id, mode)

    async def toggle_follow_mute(self, chat_id: int, follow_id: int) -> Follow:
        """Mute or unmute a follow."""
        follow = await self._follow(chat_id, follow_id)
        async with self.db.unit_of_work() as session:
            changed = await FollowRepo(session).update(chat_id, follow_id, muted=not follow.muted)
        if changed is None:
            raise FollowNotFound("unfollow.not_found")
        return changed

    async def _follow(self, chat_id: int, follow_id: int) -> Follow:
        """One of the chat's follows or FollowNotFound."""
        async with self.db.unit_of_work() as session:
            follow = await FollowRepo(session).get(follow_id)
        if follow is None or follow.chat_id != chat_id:
            raise FollowNotFound("unfollow.not_found")
        return follow

    # ----------------------------------------------------------------- saved queries

    async def save_query(self, chat_id: int, query: str) -> int:
        """Keep a search query server-side and return its short token for buttons."""
        async with self.db.unit_of_work() as session:
            return await CallbackTokenRepo(session).put(chat_id, {"q": query[:MAX_QUERY_CHARS]})

    async def load_query(self, chat_id: int, token: int) -> str | None:
        """The query behind a token, only for the chat it was made for."""
        async with self.db.unit_of_work() as session:
            payload = await CallbackTokenRepo(session).get(chat_id, token)
        if payload is None:
            return None
        query = payload.get("q")
        return query if isinstance(query, str) else None


async def _story_and_follows(
    session: AsyncSession, chat_id: int, story_id: int
) -> tuple[Story, list[Follow], Follow | None]:
    """An existing story, the chat's follows and its follow of that story (if any)."""
    story = await StoryRepo(session).get(story_id)
    if story is None:
        raise StoryNotFound("story.not_found", {"id": story_id})
    existing = await FollowRepo(session).for_chat(chat_id)
    return story, existing, next((f for f in existing if f.story_id == story_id), None)
