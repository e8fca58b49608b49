"""Forum topics in handlers: which topic an update came from, replies into that topic, and
the `/settings topic` and `/settings preview` settings."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

from telegram import Update

from bot.chats import FollowResult
from bot.domain import Chat
from bot.presentation.previews import PREVIEW_BUTTONS
from bot.presentation.render import Rendered, render_notice
from bot.services import Services
from bot.topics import TopicService

#: The /settings buttons for the digest topic: this topic, the general topic.
TOPIC_BUTTONS: Final = {"th": "", "tg": "general"}

#: Setting names of `/settings topic` and `/settings preview`, both languages.
TOPIC_NAMES: Final = frozenset({"topic", "الموضوع", "موضوع"})
PREVIEW_NAMES: Final = frozenset({"preview", "المعاينة", "معاينة"})

#: The (chat, topic) of the update being handled, so replies go back into that topic.
_REPLY_TOPIC: ContextVar[tuple[int, int] | None] = ContextVar("akhbar_reply_topic", default=None)


def topic_of(update: Update) -> int | None:
    """The forum topic an update's message is in (None: not a forum, or the general topic)."""
    chat = update.effective_chat
    message = update.effective_message
    if chat is None or not chat.is_forum or message is None:
        return None
    if not getattr(message, "is_topic_message", False):
        return None
    thread = getattr(message, "message_thread_id", None)
    return int(thread) if isinstance(thread, int) else None


def remember_topic(update: Update) -> None:
    """Note the update's chat and topic: replies to that chat go into that topic."""
    chat = update.effective_chat
    thread = topic_of(update)
    _REPLY_TOPIC.set((chat.id, thread) if chat is not None and thread is not None else None)


def reply_topic(chat_id: int) -> int | None:
    """The topic a reply to `chat_id` goes into (the topic of the update being handled)."""
    found = _REPLY_TOPIC.get()
    return found[1] if found is not None and found[0] == chat_id else None


async def note_forum(svc: Services, chat: Chat, update: Update) -> Chat:
    """Record whether the update's chat is a forum."""
    tg_chat = update.effective_chat
    is_forum = bool(tg_chat is not None and tg_chat.is_forum)
    return await TopicService(svc.db).note_forum(chat, is_forum)


async def place_follow(svc: Services, chat: Chat, result: FollowResult, update: Update) -> None:
    """In a forum, a follow delivers into the topic it was made (or made again) in."""
    if not chat.is_forum:
        return
    thread = topic_of(update)
    if result.follow.thread_id != thread:
        await TopicService(svc.db).place_follow(chat.id, result.follow.id, thread)


async def topic_setting(svc: Services, chat: Chat, value: str, update: Update) -> Rendered:
    """`/settings topic [general]`: the digest topic is this one (or the general topic)."""
    changed = await TopicService(svc.db).set_digest_topic(chat, value, topic_of(update))
    if changed.digest_thread_id is None:
        return render_notice(changed.language, "settings.topic_general")
    return render_notice(changed.language, "settings.topic_set")


async def preview_setting(svc: Services, chat: Chat, value: str) -> Rendered:
    """`/settings preview below|above|off`."""
    changed = await TopicService(svc.db).set_preview(chat.id, value)
    return render_notice(changed.language, f"settings.preview_{changed.preview.value}")


async def setting_pressed(svc: Services, chat: Chat, which: str, update: Update) -> Chat | None:
    """A /settings preview or digest-topic button pressed: the changed chat; None when
    `which` is neither (the topic button means the topic of the settings message)."""
    topics = TopicService(svc.db)
    if which in PREVIEW_BUTTONS:
        return await topics.set_preview(chat.id, PREVIEW_BUTTONS[which].value)
    if which in TOPIC_BUTTONS:
        return await topics.set_digest_topic(chat, TOPIC_BUTTONS[which], topic_of(update))
    return None
