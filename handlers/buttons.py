"""The callback-query handler: decode the button's data, act, edit in place, always answer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from telegram import Message, Update
from telegram.error import TelegramError

from bot.chats import ChatError, StoryNotFound
from bot.domain import Chat, DeliveryMode
from bot.presentation.callbacks import BadCallback, CallbackData, decode
from bot.presentation.i18n import t
from bot.presentation.render import render_notice, render_settings
from handlers.commands import (
    current_chat,
    edit_or_send,
    forget_follow,
    may_change,
    mysubs_view,
    search_view,
    send,
    send_digest,
    send_story,
)
from handlers.context import AnyContext, services
from handlers.mutes import mute_source_pressed, unmute_pressed, unmute_source_pressed
from handlers.operators import sources_page, toggle_source
from handlers.topics import place_follow, setting_pressed

log = logging.getLogger("akhbar.handlers")

#: Actions that change the chat (group admins only); the rest only read.
CHANGING: Final = frozenset(
    {"fs", "ms", "us", "rm", "md", "mu", "fq", "lg", "st", "xs", "xu", "xr"}
)
TOAST_MAX: Final = 190

Action = Callable[[Update, AnyContext, Chat, CallbackData], Awaitable[str | None]]


async def _follow_story(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> str:
    """Follow a story from /topics or a push."""
    result = await services(context).chats.follow_story(chat.id, data.int_arg(0))
    await place_follow(services(context), chat, result, update)
    return t(chat.language, "toast.followed" if result.created else "toast.already")


async def _mute_story(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> str:
    """Mute a story."""
    await services(context).chats.mute_story(chat.id, data.int_arg(0))
    return t(chat.language, "toast.muted")


async def _unmute_story(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> str:
    """Unmute a story."""
    await services(context).chats.unmute_story(chat.id, data.int_arg(0))
    return t(chat.language, "toast.unmuted")


async def _more(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> None:
    """The story card."""
    await send_story(context, chat, data.int_arg(0))


async def _refresh_mysubs(update: Update, context: AnyContext, chat: Chat) -> None:
    """Redraw the /mysubs message in place."""
    rendered = await mysubs_view(services(context), chat)
    await edit_or_send(context, _message(update), rendered)


async def _remove(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> str:
    """Remove a follow."""
    svc = services(context)
    removed = await svc.chats.unfollow(chat.id, data.int_arg(0))
    await forget_follow(svc, removed)
    await _refresh_mysubs(update, context, chat)
    return t(chat.language, "toast.removed")


async def _mode(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> str:
    """Toggle a follow between instant and digest-only."""
    follow = await services(context).chats.toggle_follow_mode(chat.id, data.int_arg(0))
    await _refresh_mysubs(update, context, chat)
    digest = follow.mode is DeliveryMode.DIGEST
    return t(chat.language, "toast.digest" if digest else "toast.instant")


async def _mute(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> str:
    """Toggle a follow's mute."""
    follow = await services(context).chats.toggle_follow_mute(chat.id, data.int_arg(0))
    await _refresh_mysubs(update, context, chat)
    return t(chat.language, "toast.muted" if follow.muted else "toast.unmuted")


async def _search_page(
    update: Update, context: AnyContext, chat: Chat, data: CallbackData
) -> str | None:
    """Another page of a stored search, edited in place."""
    svc = services(context)
    token, page = data.int_arg(0), max(0, data.int_arg(1))
    query = await svc.chats.load_query(chat.id, token)
    if query is None:
        return t(chat.language, "toast.stale")
    rendered = await search_view(svc, chat, query, token, page)
    await edit_or_send(context, _message(update), rendered)
    return None


async def _follow_query(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> str:
    """Turn a stored search into a keyword follow."""
    svc = services(context)
    query = await svc.chats.load_query(chat.id, data.int_arg(0))
    if query is None:
        return t(chat.language, "toast.stale")
    result = await svc.chats.follow_keyword(chat.id, query)
    await place_follow(svc, chat, result, update)
    if result.created:
        await svc.follows.refresh()
        return t(chat.language, "toast.followed")
    return t(chat.language, "toast.already")


async def _topics_page(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> None:
    """Another page of /topics, edited in place."""
    rendered = await services(context).views.topics(chat, data.int_arg(0))
    await edit_or_send(context, _message(update), rendered)


async def _latest_page(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> None:
    """Another page of /latest, edited in place."""
    rendered = await services(context).views.latest(chat, data.int_arg(0))
    await edit_or_send(context, _message(update), rendered)


async def _language(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> str:
    """Switch the interface language and confirm in the new one."""
    lang = data.str_arg(0)
    if lang not in ("en", "ar"):
        raise BadCallback(f"unknown language {lang!r}")
    changed = await services(context).chats.set_language(chat.id, lang)
    await send(context, chat.id, render_notice(changed.language, "language.switched"))
    return t(changed.language, "toast.saved")


async def _setting(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> str:
    """Toggle a setting from the /settings buttons and redraw them."""
    chats = services(context).chats
    which = data.str_arg(0)
    if which == "ed":
        changed = await chats.toggle_empty_digest(chat.id)
    elif which == "qm":
        changed = await chats.toggle_quiet_mode(chat.id)
    elif which == "qo":
        changed = await chats.set_quiet(chat.id, "off")
    elif which in ("nar", "nen", "nboth"):  # the chosen one again: back to the default
        wanted = which[1:]
        changed = await chats.set_news_langs(chat.id, None if chat.news_langs == wanted else wanted)
    elif (pressed := await setting_pressed(services(context), chat, which, update)) is not None:
        changed = pressed
    else:
        raise BadCallback(f"unknown setting {which!r}")
    await edit_or_send(context, _message(update), render_settings(changed.language, changed))
    return t(changed.language, "toast.saved")


async def _digest(update: Update, context: AnyContext, chat: Chat, data: CallbackData) -> None:
    """Send my digest now."""
    await send_digest(context, chat)


ACTIONS: Final[dict[str, Action]] = {
    "fs": _follow_story,
    "ms": _mute_story,
    "us": _unmute_story,
    "mo": _more,
    "rm": _remove,
    "md": _mode,
    "mu": _mute,
    "sp": _search_page,
    "fq": _follow_query,
    "tp": _topics_page,
    "lp": _latest_page,
    "lg": _language,
    "st": _setting,
    "dg": _digest,
    "sv": sources_page,
    "sx": toggle_source,
    "xs": mute_source_pressed,
    "xu": unmute_source_pressed,
    "xr": unmute_pressed,
}


def _message(update: Update) -> Message | None:
    """The accessible message the button belongs to, if any."""
    query = update.callback_query
    if query is None or not isinstance(query.message, Message):
        return None
    return query.message


async def _dispatch(update: Update, context: AnyContext, chat: Chat, raw: object) -> str | None:
    """Decode and run one button; returns the toast text (None: no toast)."""
    try:
        data = decode(raw)
    except BadCallback:
        return t(chat.language, "toast.stale")
    if data.action in CHANGING and not await may_change(update, context):
        return t(chat.language, "toast.not_allowed")
    try:
        return await ACTIONS[data.action](update, context, chat, data)
    except StoryNotFound as exc:
        return render_notice(chat.language, exc.key, **exc.params).text
    except ChatError:
        return t(chat.language, "toast.stale")
    except BadCallback:
        return t(chat.language, "toast.stale")


async def on_button(update: Update, context: AnyContext) -> None:
    """Handle a button press; the query is always answered, even when acting fails."""
    query = update.callback_query
    if query is None:
        return
    text: str | None = None
    try:
        chat = await current_chat(update, context)
        if chat is None:
            text = t(query.from_user.language_code or "en", "toast.stale")
        else:
            text = await _dispatch(update, context, chat, query.data)
    finally:
        try:
            await query.answer(text[:TOAST_MAX] if text else None)
        except TelegramError:
            log.info("could not answer a callback query")
