"""Forum topics and link previews: the digest topic, the preview setting, and forgetting a
topic that Telegram says is closed or deleted."""

from __future__ import annotations

from typing import Final

from bot.chats import BadSetting, ChatError, ChatNotFound
from bot.domain import Chat, PreviewMode
from storage.db import Database
from storage.repos.topics import ForgottenTopic, TopicRepo

#: Words for "the general topic" in `/settings topic general`.
GENERAL_WORDS: Final = frozenset({"general", "off", "none", "reset", "عام", "العام", "إيقاف"})

#: Words accepted by `/settings preview`, both languages.
PREVIEW_WORDS: Final[dict[str, PreviewMode]] = {
    "below": PreviewMode.BELOW,
    "under": PreviewMode.BELOW,
    "on": PreviewMode.BELOW,
    "أسفل": PreviewMode.BELOW,
    "تحت": PreviewMode.BELOW,
    "above": PreviewMode.ABOVE,
    "over": PreviewMode.ABOVE,
    "top": PreviewMode.ABOVE,
    "أعلى": PreviewMode.ABOVE,
    "فوق": PreviewMode.ABOVE,
    "off": PreviewMode.OFF,
    "none": PreviewMode.OFF,
    "no": PreviewMode.OFF,
    "إيقاف": PreviewMode.OFF,
    "ايقاف": PreviewMode.OFF,
    "بدون": PreviewMode.OFF,
}


def parse_preview(text: str) -> PreviewMode:
    """A preview mode from "below", "above" or "off" (or their Arabic); BadSetting if not."""
    mode = PREVIEW_WORDS.get(text.strip().casefold())
    if mode is None:
        raise BadSetting("settings.invalid_preview", {"value": text.strip()[:32]})
    return mode


class TopicService:
    """Reads and writes the forum and preview settings of chats (one unit of work a call)."""

    def __init__(self, db: Database) -> None:
        """Use `db`."""
        self.db = db

    async def note_forum(self, chat: Chat, is_forum: bool) -> Chat:
        """Record whether a seen chat is a forum (a write only when it changed)."""
        if chat.is_forum == is_forum:
            return chat
        async with self.db.unit_of_work() as session:
            changed = await TopicRepo(session).set_forum(chat.id, is_forum)
        return changed or chat

    async def set_digest_topic(self, chat: Chat, value: str, thread_id: int | None) -> Chat:
        """`/settings topic [general]`: digests go to `thread_id` (the topic the command was
        sent in) or, with "general" or outside any topic, to the general topic."""
        if not chat.is_forum:
            raise ChatError("settings.topic_not_forum")
        word = value.strip().casefold()
        if word and word not in GENERAL_WORDS:
            raise BadSetting("settings.invalid_topic", {"value": value.strip()[:32]})
        chosen = None if word else thread_id
        async with self.db.unit_of_work() as session:
            changed = await TopicRepo(session).set_digest_thread(chat.id, chosen)
        if changed is None:
            raise ChatNotFound("unknown.command")
        return changed

    async def set_preview(self, chat_id: int, value: str) -> Chat:
        """`/settings preview below|above|off`."""
        mode = parse_preview(value)
        async with self.db.unit_of_work() as session:
            changed = await TopicRepo(session).set_preview(chat_id, mode)
        if changed is None:
            raise ChatNotFound("unknown.command")
        return changed

    async def place_follow(self, chat_id: int, follow_id: int, thread_id: int | None) -> bool:
        """Deliver a follow into forum topic `thread_id` (None: the general topic)."""
        async with self.db.unit_of_work() as session:
            return await TopicRepo(session).set_follow_thread(chat_id, follow_id, thread_id)

    async def forget_thread(self, chat_id: int, thread_id: int) -> ForgottenTopic:
        """A closed or deleted topic: the chat's follows, digest and owed rows leave it."""
        async with self.db.unit_of_work() as session:
            return await TopicRepo(session).forget_thread(chat_id, thread_id)
