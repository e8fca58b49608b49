"""Mute service: a chat's muted words and sources, with typed, localisable errors.

Muted words are stored as the same matching terms as keyword follows (Arabic-normalised,
stemmed; all must occur), so `/mute` never runs user patterns. Sources are found by id,
name or host (`bot.pipeline.mutes.find_source`). Every call is one unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.chats import ChatError
from bot.domain import Mute, MuteKind, Source
from bot.pipeline.mutes import (
    MAX_MUTE_CHARS,
    MAX_MUTE_TERMS,
    MAX_MUTES,
    find_source,
    mute_key,
    name_form,
)
from bot.pipeline.text import query_terms
from storage.db import Database
from storage.repos.mutes import MuteRepo
from storage.repos.sources import SourceRepo

MAX_INDEX_DIGITS = 5  # "/unmute 3": a list position, not an id


class BadMute(ChatError):
    """Words that are empty, unmatchable, too long or too many."""


class MuteLimit(ChatError):
    """The chat has as many mutes as allowed."""


class MuteNotFound(ChatError):
    """No mute of this chat matches."""


@dataclass(eq=False)
class SourceChoice(ChatError):
    """A source name that is unknown or means several sources: the candidates to offer."""

    query: str = ""
    candidates: tuple[Source, ...] = field(default_factory=tuple)
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class MuteResult:
    """A mute and whether this call created it (False: it already existed)."""

    mute: Mute
    created: bool


def parse_words(text: str) -> tuple[str, list[str]]:
    """A word mute's query (single spaces) and matching terms; BadMute when unusable."""
    query = " ".join(text.split())
    if not query:
        raise BadMute("mute.usage")
    if len(query) > MAX_MUTE_CHARS:
        raise BadMute("mute.too_long", {"max": MAX_MUTE_CHARS})
    terms = query_terms(query, limit=MAX_MUTE_TERMS + 1)
    if not terms:
        raise BadMute("mute.no_terms")
    if len(terms) > MAX_MUTE_TERMS:
        raise BadMute("mute.too_many_words", {"max": MAX_MUTE_TERMS})
    return query, terms


def pick_mute(mutes: list[Mute], target: str) -> Mute | None:
    """The mute a user means: a list position, the same words, or a muted source's name/id."""
    text = " ".join(target.split())
    if text.isdigit() and len(text) <= MAX_INDEX_DIGITS:
        index = int(text)
        return mutes[index - 1] if 1 <= index <= len(mutes) else None
    head, _, rest = text.partition(" ")
    if name_form(head) in SOURCE_WORDS and rest:
        return _muted_source(mutes, rest)
    key = mute_key(query_terms(text))
    wanted = text.casefold()
    for mute in mutes:
        if mute.kind is MuteKind.WORD and (
            (key and mute_key(mute.terms) == key) or (mute.query or "").casefold() == wanted
        ):
            return mute
    return _muted_source(mutes, text)


def _muted_source(mutes: list[Mute], name: str) -> Mute | None:
    """The source mute whose source the name or id means (among the muted sources only)."""
    muted = [m for m in mutes if m.kind is MuteKind.SOURCE and m.source_id is not None]
    sources = [Source(id=m.source_id or 0, url="", name=m.source_name or "") for m in muted]
    found = find_source(name, sources).source
    if found is None:
        return None
    return next(m for m in muted if m.source_id == found.id)


#: The first word of `/mute source …` and `/unmute source …`, in matching form.
SOURCE_WORDS = frozenset({"source", "src", "مصدر", "المصدر"})


class MuteService:
    """A chat's mutes over the repositories."""

    def __init__(self, db: Database) -> None:
        """Use `db`."""
        self.db = db

    async def mutes(self, chat_id: int) -> list[Mute]:
        """The chat's mutes, oldest first (source mutes with their names)."""
        async with self.db.unit_of_work() as session:
            return await MuteRepo(session).for_chat(chat_id)

    async def mute_words(self, chat_id: int, text: str) -> MuteResult:
        """Mute articles that contain all these words; the same words again change nothing."""
        query, terms = parse_words(text)
        key = mute_key(terms)
        async with self.db.unit_of_work() as session:
            repo = MuteRepo(session)
            existing = await repo.for_chat(chat_id)
            same = next((m for m in existing if mute_key(m.terms) == key), None)
            if same is not None:
                return MuteResult(same, False)
            _check_room(existing)
            mute, created = await repo.add_words(chat_id, query, terms)
            return MuteResult(mute, created)

    async def mute_source(self, chat_id: int, name: str) -> MuteResult:
        """Mute the source a name, host or id means; SourceChoice when it is unknown or ambiguous."""
        query = " ".join(name.split())
        if not query:
            raise BadMute("mute.source_usage")
        async with self.db.unit_of_work() as session:
            sources = await SourceRepo(session).list_all()
        match = find_source(query[:MAX_MUTE_CHARS], sources)
        if match.source is None:
            shown = query[:MAX_MUTE_CHARS]
            key = "mute.source_ambiguous" if match.ambiguous else "mute.source_unknown"
            raise SourceChoice(key, {"query": shown}, shown, match.candidates, match.ambiguous)
        return await self.mute_source_id(chat_id, match.source.id)

    async def mute_source_id(self, chat_id: int, source_id: int) -> MuteResult:
        """Mute one source by id (a button); MuteNotFound when the source is gone."""
        async with self.db.unit_of_work() as session:
            if await SourceRepo(session).get(source_id) is None:
                raise MuteNotFound("mute.source_gone")
            repo = MuteRepo(session)
            existing = await repo.for_chat(chat_id)
            same = next((m for m in existing if m.source_id == source_id), None)
            if same is not None:
                return MuteResult(same, False)
            _check_room(existing)
            mute, created = await repo.add_source(chat_id, source_id)
            return MuteResult(mute, created)

    async def unmute(self, chat_id: int, target: str) -> Mute:
        """Remove a mute by list position, words or source name; MuteNotFound otherwise."""
        async with self.db.unit_of_work() as session:
            repo = MuteRepo(session)
            found = pick_mute(await repo.for_chat(chat_id), target)
            if found is None or not await repo.remove(chat_id, found.id):
                raise MuteNotFound("unmute.not_found")
            return found

    async def unmute_id(self, chat_id: int, mute_id: int) -> Mute:
        """Remove one of the chat's mutes by id (a button)."""
        async with self.db.unit_of_work() as session:
            repo = MuteRepo(session)
            found = next((m for m in await repo.for_chat(chat_id) if m.id == mute_id), None)
            if found is None or not await repo.remove(chat_id, found.id):
                raise MuteNotFound("unmute.not_found")
            return found

    async def unmute_source(self, chat_id: int, source_id: int) -> Mute:
        """Remove the chat's mute of one source (the Undo button)."""
        async with self.db.unit_of_work() as session:
            repo = MuteRepo(session)
            found = next(
                (m for m in await repo.for_chat(chat_id) if m.source_id == source_id), None
            )
            if found is None or not await repo.remove(chat_id, found.id):
                raise MuteNotFound("unmute.not_found")
            return found


def _check_room(existing: list[Mute]) -> None:
    """MuteLimit when the chat already has the most mutes allowed."""
    if len(existing) >= MAX_MUTES:
        raise MuteLimit("mute.limit", {"max": MAX_MUTES})
