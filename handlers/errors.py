"""The one error handler: log first (ids only, no user text), then apologise when possible."""

from __future__ import annotations

import logging

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode

from bot.presentation.render import render_notice
from handlers.context import AnyContext, services

log = logging.getLogger("akhbar.handlers")


def _describe(update: object) -> str:
    """Ids of an update for the log line, never its text."""
    if isinstance(update, Update):
        chat = update.effective_chat
        return f"update {update.update_id} chat {chat.id if chat else '-'}"
    return type(update).__name__


async def on_error(update: object, context: AnyContext) -> None:
    """Log the exception, then tell the chat that something went wrong."""
    log.error("error handling %s", _describe(update), exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    lang = "en"
    try:
        chat = await services(context).chats.get(update.effective_chat.id)
        if chat is not None:
            lang = chat.language
    except Exception:
        log.warning("could not read the chat's language while reporting an error")
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(render_notice(lang, "error.generic").text[:190])
            return
        rendered = render_notice(lang, "error.generic")
        await context.bot.send_message(
            update.effective_chat.id,
            rendered.text,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
    except Exception:
        log.warning("could not send the error notice", exc_info=True)
