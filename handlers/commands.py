"""Command handlers: parse the input, call a service, reply with a rendered message."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final

from telegram import LinkPreviewOptions, Message, MessageEntity, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.chats import MAX_QUERY_CHARS, ChatError, FollowResult
from bot.domain import DIGEST_WINDOW, Chat, Follow, FollowKind
from bot.mutes import MuteService
from bot.pipeline.urls import canonical_url
from bot.presentation.callbacks import ID
from bot.presentation.i18n import t, to_local
from bot.presentation.mutes import with_mutes
from bot.presentation.render import (
    Rendered,
    news_langs_text,
    render_digest,
    render_help,
    render_language_choice,
    render_mysubs,
    render_notice,
    render_search,
    render_settings,
    render_start,
    render_stats,
)
from bot.services import Services
from bot.sources import SourceError
from handlers.context import AnyContext, flood_guard, services
from handlers.flood import Verdict
from handlers.markup import to_markup
from handlers.topics import (
    PREVIEW_NAMES,
    TOPIC_NAMES,
    note_forum,
    place_follow,
    preview_setting,
    remember_topic,
    reply_topic,
    topic_setting,
)

log = logging.getLogger("akhbar.handlers")

Handler = Callable[[Update, AnyContext], Coroutine[Any, Any, None]]
SEARCH_PAGE: Final = 5
_STORY_ID: Final = re.compile(r"^#?(\d{1,18})$")
_ADMIN_STATES: Final = frozenset({ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})


# --------------------------------------------------------------------------- helpers


def strip_invisible(text: str) -> str:
    """Text without format characters (zero-width, direction marks) and with single spaces."""
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cc", "Cs"))
    return " ".join(kept.split())


def command_args(message: Message | None) -> str:
    """What follows the command in a message ("/follow@bot a b" → "a b"), cleaned."""
    if message is None or not message.text:
        return ""
    text = message.text
    for entity in message.entities:
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            return strip_invisible(text[entity.length :])
    return strip_invisible(text.split(maxsplit=1)[1] if " " in text.strip() else "")


async def send(context: AnyContext, chat_id: int, rendered: Rendered) -> Message:
    """Send one rendered message as Telegram HTML (previews as the render chose)."""
    message: Message = await context.bot.send_message(
        chat_id,
        rendered.text,
        parse_mode=ParseMode.HTML,
        reply_markup=to_markup(rendered),
        link_preview_options=LinkPreviewOptions(is_disabled=rendered.disable_preview),
        message_thread_id=reply_topic(chat_id),
    )
    return message


async def send_parts(context: AnyContext, chat_id: int, parts: Sequence[str]) -> None:
    """Send pre-split HTML parts in order."""
    for part in parts:
        await send(context, chat_id, Rendered(part))


async def notice(context: AnyContext, chat: Chat, key: str, **kwargs: Any) -> None:
    """Send one localised notice to the chat."""
    await send(context, chat.id, render_notice(chat.language, key, **kwargs))


async def current_chat(update: Update, context: AnyContext) -> Chat | None:
    """The chat of this update, created on first contact; None for updates without a chat."""
    tg_chat = update.effective_chat
    if tg_chat is None:
        return None
    user = update.effective_user
    title = tg_chat.title or tg_chat.username or None
    remember_topic(update)
    chat = await services(context).chats.ensure_chat(
        tg_chat.id, str(tg_chat.type), title, user.language_code if user else None
    )
    return await note_forum(services(context), chat, update)


async def may_change(update: Update, context: AnyContext) -> bool:
    """Whether the sender may change this chat's follows and settings (group admins only)."""
    tg_chat = update.effective_chat
    if tg_chat is None:
        return False
    if tg_chat.type in (ChatType.PRIVATE, ChatType.CHANNEL):
        return True
    message = update.message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id == tg_chat.id  # an anonymous admin posts as the group
    user = update.effective_user
    if user is None:
        return False
    try:
        member = await context.bot.get_chat_member(tg_chat.id, user.id)
    except TelegramError:
        log.warning("getChatMember failed for chat %s", tg_chat.id)
        return False
    return member.status in _ADMIN_STATES


def is_operator(update: Update, svc: Services) -> bool:
    """Whether the sender is one of the bot's operators (AKHBAR_ADMIN_IDS)."""
    user = update.effective_user
    return user is not None and user.id in svc.settings.admin_ids


def guarded(handler: Handler) -> Handler:
    """Turn typed user errors from services into a localised reply."""

    async def run(update: Update, context: AnyContext) -> None:
        """Call the handler; answer ChatError with its message."""
        try:
            await handler(update, context)
        except ChatError as exc:
            chat = await current_chat(update, context)
            if chat is not None:
                await notice(context, chat, exc.key, **exc.params)

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


async def require_change(update: Update, context: AnyContext, chat: Chat) -> bool:
    """True when the sender may change the chat; otherwise say so and return False."""
    if await may_change(update, context):
        return True
    await notice(context, chat, "follow.group_admins_only")
    return False


# --------------------------------------------------------------------------- flood gate


def _is_command(update: Update) -> bool:
    """Whether the update is a command message."""
    message = update.message or update.channel_post
    return bool(message and message.text and message.text.startswith("/"))


async def flood_gate(update: Update, context: AnyContext) -> None:
    """Per-chat rate limit for commands and buttons: one polite reply, then silence.

    It runs first for every update, so it also notes the update's forum topic: no reply
    ever goes into the topic of an earlier update."""
    remember_topic(update)
    tg_chat = update.effective_chat
    query = update.callback_query
    if tg_chat is None or not (_is_command(update) or query is not None):
        return
    svc = services(context)
    verdict = flood_guard(context).check(tg_chat.id, svc.clock().timestamp())
    if verdict is Verdict.ALLOW:
        return
    chat = await svc.chats.get(tg_chat.id)
    lang = chat.language if chat is not None else "en"
    if query is not None:
        text = t(lang, "toast.rate") if verdict is Verdict.WARN else None
        try:
            await query.answer(text)
        except TelegramError:
            log.info("could not answer a rate-limited callback in chat %s", tg_chat.id)
    elif verdict is Verdict.WARN:
        await send(context, tg_chat.id, render_notice(lang, "rate.limited"))
    raise ApplicationHandlerStop


# --------------------------------------------------------------------------- user commands


@guarded
async def cmd_start(update: Update, context: AnyContext) -> None:
    """Welcome and tour with the language choice; resumes a paused chat."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    if chat.paused and await may_change(update, context):
        chat, _ = await services(context).chats.resume(chat.id)
        await notice(context, chat, "start.resumed")
    await send(context, chat.id, render_start(chat.language, chat.digest_time))


@guarded
async def cmd_help(update: Update, context: AnyContext) -> None:
    """Every command (operator commands for operators)."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    admin = is_operator(update, services(context))
    await send(context, chat.id, render_help(chat.language, admin, context.bot.username or ""))


@guarded
async def cmd_topics(update: Update, context: AnyContext) -> None:
    """Trending stories with Follow buttons and paging."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    await send(context, chat.id, await services(context).views.topics(chat, 0))


async def followed(context: AnyContext, chat: Chat, result: FollowResult) -> None:
    """Confirm a keyword follow and index it for matching."""
    svc = services(context)
    query = result.follow.query or ""
    if result.created:
        await svc.follows.refresh()
        await notice(context, chat, "follow.ok", query=query)
    else:
        await notice(context, chat, "follow.already", query=query)


@guarded
async def cmd_follow(update: Update, context: AnyContext) -> None:
    """Follow keywords: /follow <words>."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    text = command_args(update.effective_message)
    if not text:
        await notice(context, chat, "follow.usage")
        return
    if not await require_change(update, context, chat):
        return
    result = await services(context).chats.follow_keyword(chat.id, text)
    await place_follow(services(context), chat, result, update)
    await followed(context, chat, result)


def follow_name(follow: Follow, labels: dict[int, str]) -> str:
    """What a follow points at, as plain text."""
    if follow.kind is FollowKind.STORY:
        label = labels.get(follow.story_id or 0)
        return label if label is not None else f"#{follow.story_id}"
    return f"“{follow.query or ''}”"


async def forget_follow(svc: Services, follow: Follow) -> None:
    """Drop a removed keyword follow from the in-memory matcher at once."""
    if follow.kind is FollowKind.KEYWORD:
        svc.follows.forget(follow.id)


@guarded
async def cmd_unfollow(update: Update, context: AnyContext) -> None:
    """Stop following: /unfollow <number|keywords>; no argument shows the list."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    svc = services(context)
    text = command_args(update.effective_message)
    follows, labels = await svc.chats.follows_with_labels(chat.id)
    if not text:
        await send(context, chat.id, render_mysubs(chat.language, follows, labels))
        if follows:
            await notice(context, chat, "unfollow.usage")
        return
    if not await require_change(update, context, chat):
        return
    target: int | str = text
    if text.isdigit() and len(text) < 6:
        index = int(text)
        if not 1 <= index <= len(follows):
            await notice(context, chat, "unfollow.not_found")
            return
        target = follows[index - 1].id
    removed = await svc.chats.unfollow(chat.id, target)
    await forget_follow(svc, removed)
    await notice(context, chat, "unfollow.ok", what=follow_name(removed, labels))


async def mysubs_view(svc: Services, chat: Chat) -> Rendered:
    """The chat's follows and mutes with their buttons."""
    follows, labels = await svc.chats.follows_with_labels(chat.id)
    mutes = await MuteService(svc.db).mutes(chat.id)
    return with_mutes(chat.language, render_mysubs(chat.language, follows, labels), mutes)


@guarded
async def cmd_mysubs(update: Update, context: AnyContext) -> None:
    """What this chat follows, with Remove / Instant↔Digest / Mute buttons."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    await send(context, chat.id, await mysubs_view(services(context), chat))


async def search_view(svc: Services, chat: Chat, query: str, token: int, page: int) -> Rendered:
    """One page of search results for a stored query."""
    result = await svc.search.search(query, page, SEARCH_PAGE, now=svc.clock(), chat=chat)
    return render_search(chat.language, chat.timezone, result, token)


@guarded
async def cmd_search(update: Update, context: AnyContext) -> None:
    """Search: results grouped by story, paging and Follow this search."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    query = command_args(update.effective_message)
    if not query:
        await notice(context, chat, "search.usage")
        return
    if len(query) > MAX_QUERY_CHARS:
        await notice(context, chat, "search.too_long", max=MAX_QUERY_CHARS)
        return
    svc = services(context)
    token = await svc.chats.save_query(chat.id, query)
    await send(context, chat.id, await search_view(svc, chat, query, token, 0))


@guarded
async def cmd_latest(update: Update, context: AnyContext) -> None:
    """The newest articles."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    await send(context, chat.id, await services(context).views.latest(chat))


async def send_story(context: AnyContext, chat: Chat, story_id: int) -> None:
    """Send a story card, or say the story does not exist."""
    parts = await services(context).views.story(chat, story_id)
    if parts is None:
        await notice(context, chat, "story.not_found", id=story_id)
        return
    for part in parts:
        await send(context, chat.id, part)


@guarded
async def cmd_story(update: Update, context: AnyContext) -> None:
    """A story card: /story <id>."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    match = _STORY_ID.match(command_args(update.effective_message))
    if match is None:
        await notice(context, chat, "story.usage")
        return
    story_id = int(match.group(1))
    if story_id not in ID:  # past any stored id (INTEGER): no query, the plain answer
        await notice(context, chat, "story.not_found", id=story_id)
        return
    await send_story(context, chat, story_id)


async def send_digest(context: AnyContext, chat: Chat) -> None:
    """The chat's digest now (an explicit request always gets an answer)."""
    svc = services(context)
    if not await svc.views.has_follows(chat.id):
        await notice(context, chat, "digest.nothing_followed")
        return
    now = svc.clock()
    parts = await svc.digests.build(chat, now - DIGEST_WINDOW)
    if not parts:
        day = to_local(now, chat.timezone).date()
        parts = render_digest(chat.language, chat.timezone, [], 0, day)
    await send_parts(context, chat.id, parts)


@guarded
async def cmd_digest(update: Update, context: AnyContext) -> None:
    """Send my digest now."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    await send_digest(context, chat)


def _on_off(value: str) -> bool | None:
    """ "on"/"off" (and a few synonyms) as a bool; None when neither."""
    lowered = value.strip().lower()
    if lowered in ("on", "yes", "1", "true", "تشغيل", "نعم"):
        return True
    if lowered in ("off", "no", "0", "false", "إيقاف", "ايقاف", "لا"):
        return False
    return None


async def change_setting(svc: Services, chat: Chat, name: str, value: str) -> Rendered:
    """Apply `/settings <name> <value>` and return the confirmation (ChatError on bad input)."""
    chats = svc.chats
    if name in ("time", "digest", "الوقت") and value:
        changed = await chats.set_digest_time(chat.id, value)
        text = changed.digest_time.strftime("%H:%M")
        return render_notice(changed.language, "settings.time_set", value=text)
    if name in ("tz", "timezone", "zone", "المنطقة") and value:
        changed = await chats.set_timezone(chat.id, value)
        return render_notice(changed.language, "settings.tz_set", value=changed.timezone)
    if name in ("quiet", "هدوء") and value:
        changed = await chats.set_quiet(chat.id, value)
        if changed.quiet_start is None or changed.quiet_end is None:
            return render_notice(changed.language, "settings.quiet_cleared")
        start, end = changed.quiet_start.strftime("%H:%M"), changed.quiet_end.strftime("%H:%M")
        return render_notice(changed.language, "settings.quiet_set", start=start, end=end)
    if name in ("empty", "فارغ") and _on_off(value) is not None:
        enabled = bool(_on_off(value))
        changed = await chats.set_empty_digest(chat.id, enabled)
        key = "settings.empty_set_on" if enabled else "settings.empty_set_off"
        return render_notice(changed.language, key)
    if name in ("news", "أخبار", "الأخبار") and value:
        changed = await chats.set_news_langs(chat.id, value)
        shown = news_langs_text(changed.language, changed.news_langs)
        return render_notice(changed.language, "settings.news_set", value=shown)
    if name in PREVIEW_NAMES and value:
        return await preview_setting(svc, chat, value)
    if name in ("lang", "language", "اللغة") and value.lower() in ("en", "ar"):
        changed = await chats.set_language(chat.id, value.lower())
        return render_notice(changed.language, "language.switched")
    return render_notice(chat.language, "settings.unknown")


@guarded
async def cmd_settings(update: Update, context: AnyContext) -> None:
    """Show the settings, or change one: time, tz, quiet, empty, lang."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    args = command_args(update.effective_message)
    if not args:
        await send(context, chat.id, render_settings(chat.language, chat))
        return
    if not await require_change(update, context, chat):
        return
    name, _, value = args.partition(" ")
    if name.lower() in TOPIC_NAMES:
        rendered = await topic_setting(services(context), chat, value, update)
    else:
        rendered = await change_setting(services(context), chat, name.lower(), value.strip())
    await send(context, chat.id, rendered)


@guarded
async def cmd_language(update: Update, context: AnyContext) -> None:
    """The language choice."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    await send(context, chat.id, render_language_choice(chat.language))


@guarded
async def cmd_stop(update: Update, context: AnyContext) -> None:
    """Pause all pushes and digests until /start."""
    chat = await current_chat(update, context)
    if chat is None:
        return
    if not await require_change(update, context, chat):
        return
    chat, changed = await services(context).chats.pause(chat.id)
    await notice(context, chat, "stop.ok" if changed else "stop.already")


# --------------------------------------------------------------------------- operator commands


async def operator_chat(update: Update, context: AnyContext) -> Chat | None:
    """The chat when the sender is an operator; otherwise refuse and return None."""
    chat = await current_chat(update, context)
    if chat is None:
        return None
    if not is_operator(update, services(context)):
        await notice(context, chat, "admin.not_allowed")
        return None
    return chat


@guarded
async def cmd_addsource(update: Update, context: AnyContext) -> None:
    """Add a source by URL, optionally with its name: /addsource URL [name] (operators)."""
    chat = await operator_chat(update, context)
    if chat is None:
        return
    url, _, name = command_args(update.effective_message).partition(" ")
    if not url:
        await notice(context, chat, "addsource.usage")
        return
    rendered = await add_source(services(context), chat.language, url, name or None)
    await send(context, chat.id, rendered)


@guarded
async def cmd_removesource(update: Update, context: AnyContext) -> None:
    """Remove a source by id (operators)."""
    chat = await operator_chat(update, context)
    if chat is None:
        return
    text = command_args(update.effective_message).lstrip("#")
    if not text.isdigit() or len(text) > 18:
        await notice(context, chat, "removesource.usage")
        return
    source_id = int(text)
    removed = await services(context).sources.remove(source_id)
    await notice(
        context, chat, "removesource.ok" if removed else "removesource.not_found", id=source_id
    )


@guarded
async def cmd_stats(update: Update, context: AnyContext) -> None:
    """Operational figures (operators)."""
    chat = await operator_chat(update, context)
    if chat is None:
        return
    svc = services(context)
    stats = await svc.views.stats()
    await send(context, chat.id, Rendered(render_stats(chat.language, stats)))


# --------------------------------------------------------------------------- fallbacks


async def cmd_unknown(update: Update, context: AnyContext) -> None:
    """A command we do not know (commands addressed to other bots are ignored)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    head = message.text.split(maxsplit=1)[0]
    _, _, target = head.partition("@")
    if target and target.lower() != (context.bot.username or "").lower():
        return
    chat = await current_chat(update, context)
    if chat is None:
        return
    if chat.type.value != "private" and not target:
        return  # in groups, bare unknown commands are likely meant for other bots
    await notice(context, chat, "unknown.command")


async def edit_or_send(context: AnyContext, message: Message | None, rendered: Rendered) -> None:
    """Edit a bot message in place (paging); send anew when it cannot be edited."""
    if message is not None:
        try:
            await context.bot.edit_message_text(
                rendered.text,
                chat_id=message.chat_id,
                message_id=message.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=to_markup(rendered),
                link_preview_options=LinkPreviewOptions(is_disabled=rendered.disable_preview),
            )
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            log.info("edit failed in chat %s; sending a new message", message.chat_id)
        await send(context, message.chat_id, rendered)


async def add_source(svc: Services, lang: str, url: str, name: str | None = None) -> Rendered:
    """Add a source and describe the outcome (added, already listed, or a bad URL); without
    a name, the feed's own title names it at the first fetch."""
    try:
        source = await svc.sources.add(url, name=name)
    except SourceError:
        try:
            canonical = canonical_url(url)
        except ValueError:
            canonical = url
        known = next((s for s in await svc.sources.list() if s.url in (url, canonical)), None)
        if known is not None:
            return render_notice(lang, "addsource.exists", id=known.id)
        return render_notice(lang, "addsource.invalid_url")
    key = "addsource.ok_auto" if source.name_auto else "addsource.ok"
    return render_notice(lang, key, id=source.id, name=source.name)
