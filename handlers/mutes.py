"""/mute and /unmute, and the mute buttons: Mute source (with Undo) and Unmute."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError

from bot.chats import ChatError
from bot.domain import Chat
from bot.mutes import SOURCE_WORDS, MuteService, SourceChoice
from bot.pipeline.mutes import name_form
from bot.presentation.callbacks import BadCallback, CallbackData, encode
from bot.presentation.i18n import t
from bot.presentation.message import Button, Keyboard, Rendered, strip_tags
from bot.presentation.mutes import (
    MYSUBS_VIEW,
    UNMUTE_VIEW,
    render_mute_list,
    render_muted,
    render_source_choice,
    render_unmuted,
    source_label,
    swap_button,
)
from bot.presentation.render import mute_source_button, render_notice
from bot.services import Services
from handlers.commands import (
    command_args,
    current_chat,
    edit_or_send,
    guarded,
    mysubs_view,
    notice,
    require_change,
    send,
)
from handlers.context import AnyContext, services
from handlers.markup import to_markup

log = logging.getLogger("akhbar.handlers")


def mute_service(svc: Services) -> MuteService:
    """The mute service over the application's database (stateless, so built per use)."""
    return MuteService(svc.db)


# --------------------------------------------------------------------------- commands


@guarded
async def cmd_mute(update: Update, context: AnyContext) -> None:
    """Hide articles: /mute <words> or /mute source <name>."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    text = command_args(update.effective_message)
    if not text:
        await notice(context, chat, "mute.usage")
        return
    if not await require_change(update, context, chat):
        return
    mutes = mute_service(services(context))
    head, _, rest = text.partition(" ")
    try:
        if name_form(head) in SOURCE_WORDS:
            result = await mutes.mute_source(chat.id, rest)
        else:
            result = await mutes.mute_words(chat.id, text)
    except SourceChoice as exc:
        choice = render_source_choice(chat.language, exc.query, exc.candidates, exc.ambiguous)
        await send(context, chat.id, choice)
        return
    await send(context, chat.id, render_muted(chat.language, result.mute, result.created))


@guarded
async def cmd_unmute(update: Update, context: AnyContext) -> None:
    """Show hidden things again: /unmute <words | source name | number>; alone, the list."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    mutes = mute_service(services(context))
    text = command_args(update.effective_message)
    if not text:
        await send(context, chat.id, render_mute_list(chat.language, await mutes.mutes(chat.id)))
        return
    if not await require_change(update, context, chat):
        return
    removed = await mutes.unmute(chat.id, text)
    await send(context, chat.id, render_unmuted(chat.language, removed))


# --------------------------------------------------------------------------- buttons


def _message(update: Update) -> Message | None:
    """The accessible message the pressed button belongs to, if any."""
    query = update.callback_query
    if query is None or not isinstance(query.message, Message):
        return None
    return query.message


def keyboard_of(markup: InlineKeyboardMarkup | None) -> Keyboard | None:
    """A message's inline keyboard as plain buttons; None when a button is of another kind."""
    if markup is None:
        return ()
    rows: list[tuple[Button, ...]] = []
    for row in markup.inline_keyboard:
        buttons: list[Button] = []
        for b in row:
            if isinstance(b.callback_data, str):
                buttons.append(Button(b.text, b.callback_data))
            elif b.url:
                buttons.append(Button(b.text, url=b.url))
            else:
                return None
        rows.append(tuple(buttons))
    return tuple(rows)


async def _swap(context: AnyContext, message: Message | None, old: str, new: Button) -> None:
    """Replace one button of a bot message's keyboard in place (Mute source ↔ Undo)."""
    if message is None:
        return
    keyboard = keyboard_of(message.reply_markup)
    if not keyboard or not any(b.data == old for row in keyboard for b in row):
        return
    markup = to_markup(Rendered("", swap_button(keyboard, old, new)))
    try:
        await context.bot.edit_message_reply_markup(
            chat_id=message.chat_id, message_id=message.message_id, reply_markup=markup
        )
    except TelegramError:
        log.info("could not swap a mute button in chat %s", message.chat_id)


def _named(message: Message | None) -> bool:
    """Whether the message's source buttons name their sources (several sources in one)."""
    keyboard = keyboard_of(message.reply_markup) if message is not None else None
    found = [b for row in keyboard or () for b in row if (b.data or "")[:3] in ("xs:", "xu:")]
    return len(found) > 1


def _toast(lang: str, exc: ChatError) -> str:
    """A user error as toast text."""
    return strip_tags(render_notice(lang, exc.key, **exc.params).text)


async def mute_source_pressed(
    update: Update, context: AnyContext, chat: Chat, data: CallbackData
) -> str:
    """Mute source (a push, or a choice of sources): mute it, offer Undo in place."""
    source_id = data.int_arg(0)
    try:
        result = await mute_service(services(context)).mute_source_id(chat.id, source_id)
    except ChatError as exc:
        return _toast(chat.language, exc)
    name = source_label(result.mute)
    message = _message(update)
    key = "btn.unmute_source_named" if _named(message) else "btn.unmute_source"
    undo = Button(t(chat.language, key, name=name[:30]), encode("xu", source_id))
    await _swap(context, message, encode("xs", source_id), undo)
    return t(chat.language, "toast.source_muted", name=name)


async def unmute_source_pressed(
    update: Update, context: AnyContext, chat: Chat, data: CallbackData
) -> str:
    """Undo a Mute source: unmute it and put the Mute source button back."""
    source_id = data.int_arg(0)
    try:
        removed = await mute_service(services(context)).unmute_source(chat.id, source_id)
    except ChatError as exc:
        return _toast(chat.language, exc)
    name = source_label(removed)
    message = _message(update)
    again = mute_source_button(chat.language, source_id, name if _named(message) else None)
    await _swap(context, message, encode("xu", source_id), again)
    return t(chat.language, "toast.source_unmuted", name=name)


async def unmute_pressed(
    update: Update, context: AnyContext, chat: Chat, data: CallbackData
) -> str:
    """Unmute from the /unmute list or /mysubs, and redraw that message in place."""
    view = data.str_arg(1)
    if view not in (UNMUTE_VIEW, MYSUBS_VIEW):
        raise BadCallback(f"unknown mute view {view!r}")
    svc = services(context)
    mutes = mute_service(svc)
    try:
        await mutes.unmute_id(chat.id, data.int_arg(0))
    except ChatError:
        return t(chat.language, "toast.stale")
    if view == UNMUTE_VIEW:
        rendered = render_mute_list(chat.language, await mutes.mutes(chat.id))
    else:
        rendered = await mysubs_view(svc, chat)
    await edit_or_send(context, _message(update), rendered)
    return t(chat.language, "toast.unmuted")
