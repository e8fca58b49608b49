"""Inline mode: `@bot <query>` in any chat answers with shareable search results.

The query gets the same handling as /search (invisible characters dropped, spaces folded,
at most `MAX_QUERY_CHARS`); a longer or forged one is answered with no results and a button
to open the bot. An empty query shows the latest headlines. Results are in the user's
language (their private chat's setting, else Telegram's language code). Inline queries have
their own per-user flood gate: clients send one per keystroke.
"""

from __future__ import annotations

import logging
from typing import Final

from telegram import (
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.chats import MAX_QUERY_CHARS
from bot.domain import Chat, pick_language
from bot.inline import InlinePage, InlineSearch
from bot.presentation.i18n import t
from bot.presentation.inline import InlineArticle, render_inline_article
from handlers.commands import strip_invisible
from handlers.context import AnyContext, services
from handlers.flood import FloodGuard, Verdict

log = logging.getLogger("akhbar.handlers")

INLINE_FLOOD_KEY: Final = "akhbar.inline_flood"
CACHE_SECONDS: Final = 60
RAW_MAX: Final = 4 * MAX_QUERY_CHARS  # longer raw queries are refused before any cleaning
INLINE_LIMIT: Final = 60  # inline queries per user per minute
START_PARAMETER: Final = "inline"


def inline_flood(context: AnyContext) -> FloodGuard:
    """The per-user inline-query limiter of this application."""
    found = context.bot_data.get(INLINE_FLOOD_KEY)
    if not isinstance(found, FloodGuard):
        found = FloodGuard(limit=INLINE_LIMIT)
        context.bot_data[INLINE_FLOOD_KEY] = found
    return found


async def inline_gate(update: Update, context: AnyContext) -> None:
    """Per-user rate limit of inline queries: over it, the query is dropped unanswered."""
    query = update.inline_query
    if query is None:
        return
    now = services(context).clock().timestamp()
    if inline_flood(context).check(query.from_user.id, now) is not Verdict.ALLOW:
        raise ApplicationHandlerStop


async def reader(context: AnyContext, query: InlineQuery) -> Chat:
    """The asking user as a reader: their private chat's settings, or defaults in the
    language of their Telegram client (nothing is stored)."""
    svc = services(context)
    user = query.from_user
    known = await svc.chats.get(user.id)
    if known is not None:
        return known
    lang = pick_language(user.language_code, svc.settings.default_language)
    return Chat(id=user.id, language=lang, timezone=svc.settings.default_timezone)


def clean_query(raw: str | None) -> str | None:
    """The query as /search reads it; None when it is too long to search."""
    text = raw or ""
    if len(text) > RAW_MAX:
        return None
    cleaned = strip_invisible(text)
    return cleaned if len(cleaned) <= MAX_QUERY_CHARS else None


def page_number(offset: str | None) -> int:
    """The page an inline offset asks for (0 for anything unreadable)."""
    value = (offset or "").strip()
    return int(value) if value.isdigit() and len(value) <= 3 else 0


def as_result(item: InlineArticle) -> InlineQueryResultArticle:
    """An inline result for Telegram."""
    preview = LinkPreviewOptions(url=item.url) if item.url else LinkPreviewOptions(is_disabled=True)
    return InlineQueryResultArticle(
        id=item.id,
        title=item.title,
        input_message_content=InputTextMessageContent(
            item.text, parse_mode=ParseMode.HTML, link_preview_options=preview
        ),
        url=item.url,
        description=item.description or None,
        thumbnail_url=item.thumbnail,
    )


async def find(context: AnyContext, text: str, chat: Chat, page: int) -> InlinePage:
    """The page of articles for a cleaned query (empty when the search fails)."""
    svc = services(context)
    try:
        return await InlineSearch(svc.db, svc.search, svc.clock).find(text, chat, page)
    except Exception:  # an inline answer is never an error; the failure is logged
        log.exception("inline search failed")
        return InlinePage((), False)


async def on_inline_query(update: Update, context: AnyContext) -> None:
    """Answer an inline query with articles (or a button that opens the bot)."""
    query = update.inline_query
    if query is None:
        return
    chat = await reader(context, query)
    lang = chat.language
    text = clean_query(query.query)
    page = page_number(query.offset)
    found = InlinePage((), False) if text is None else await find(context, text, chat, page)
    results = [as_result(render_inline_article(lang, chat.timezone, a)) for a in found.articles]
    button = None
    if text is None:
        button = InlineQueryResultsButton(
            t(lang, "inline.too_long"), start_parameter=START_PARAMETER
        )
    elif not results and page == 0:
        button = InlineQueryResultsButton(
            t(lang, "inline.no_results"), start_parameter=START_PARAMETER
        )
    try:
        await query.answer(
            results,
            cache_time=CACHE_SECONDS,
            is_personal=True,
            next_offset=str(page + 1) if found.has_more else "",
            button=button,
        )
    except TelegramError as exc:  # the query expired (over 10 s) or was answered already
        log.info("inline answer failed: %s", exc)
