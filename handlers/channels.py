"""/channel: connect a channel the user runs, choose what it receives, disconnect it.

Everything happens in the admin's private chat. Telegram is asked at connect time whether
the bot may post in the channel and whether the user is one of its admins (operators skip
the user check); later management is allowed to the admin who connected it, to operators,
and to any current admin of the channel (asked again). A channel the bot can no longer post
in (Telegram refused a send with 403, or the bot was removed) is disconnected and the admin
who connected it is told once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from typing import Final

from telegram import Bot, ChatFullInfo, Message, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.channels import ChannelService
from bot.chats import ChatError
from bot.domain import Chat, DeliveryMode
from bot.presentation.callbacks import ID, BadCallback, decode
from bot.presentation.channels import (
    VERBS,
    channel_title,
    parse_channel_ref,
    parse_switch,
    render_channels,
    shown_ref,
)
from bot.presentation.i18n import t
from bot.presentation.render import render_notice
from bot.services import Services
from handlers.commands import (
    command_args,
    current_chat,
    edit_or_send,
    guarded,
    is_operator,
    notice,
    send,
)
from handlers.context import AnyContext, services

log = logging.getLogger("akhbar.handlers")

CHANNELS_KEY: Final = "akhbar.channels"
_STORY_ID: Final = re.compile(r"^#?(\d{1,18})$")
_ADMINS: Final = frozenset({ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})
CHANNEL_BUTTONS: Final = r"^c[dx]:"  # the /channel list's buttons (see callbacks.ACTIONS)
LOST_REASON: Final = "bot lost its rights in the channel"
REMOVED_REASON: Final = "channel disconnected by its admin"


def channel_service(svc: Services) -> ChannelService:
    """A channel service over the services' database and keyword matcher."""
    return ChannelService(svc.db, svc.follows)


def channels(context: AnyContext) -> ChannelService:
    """The channel service of this application (built once)."""
    found = context.bot_data.get(CHANNELS_KEY)
    if not isinstance(found, ChannelService):
        found = channel_service(services(context))
        context.bot_data[CHANNELS_KEY] = found
    return found


# --------------------------------------------------------------------------- Telegram checks


async def lookup(bot: Bot, ref: str | int, shown: str) -> ChatFullInfo:
    """The channel behind a name or id; ChatError when unknown, not a channel or unreachable."""
    try:
        info = await bot.get_chat(ref)
    except (BadRequest, Forbidden):
        raise ChatError("channel.unknown", {"name": shown}) from None
    except TelegramError:
        log.warning("getChat failed for %s", shown)
        raise ChatError("channel.check_failed", {"name": shown}) from None
    if info.type != ChatType.CHANNEL:
        raise ChatError("channel.not_channel", {"name": shown})
    return info


async def bot_can_post(bot: Bot, channel_id: int) -> bool:
    """Whether the bot is an administrator of the channel allowed to post (BadRequest and
    Forbidden mean no; other Telegram errors propagate)."""
    try:
        member = await bot.get_chat_member(channel_id, bot.id)
    except (BadRequest, Forbidden):
        return False
    return member.status == ChatMemberStatus.ADMINISTRATOR and bool(
        getattr(member, "can_post_messages", False)
    )


async def user_is_admin(bot: Bot, channel_id: int, user_id: int) -> bool:
    """Whether the user is the channel's creator or one of its administrators."""
    try:
        member = await bot.get_chat_member(channel_id, user_id)
    except (BadRequest, Forbidden):
        return False
    return member.status in _ADMINS


async def checked(call: Awaitable[bool], shown: str) -> bool:
    """Await a Telegram check; ChatError when Telegram cannot be asked right now."""
    try:
        return await call
    except TelegramError:
        log.warning("getChatMember failed for %s", shown)
        raise ChatError("channel.check_failed", {"name": shown}) from None


# --------------------------------------------------------------------------- /channel


async def private_user(update: Update, context: AnyContext) -> tuple[Chat, int] | None:
    """The user's private chat and id; elsewhere say to use the private chat and None."""
    chat = await current_chat(update, context)
    if chat is None:
        return None
    user = update.effective_user
    if chat.type.value != "private" or user is None:
        await notice(context, chat, "channel.private_only")
        return None
    return chat, user.id


@guarded
async def cmd_channel(update: Update, context: AnyContext) -> None:
    """/channel [add|follow|unfollow|digest|remove] <@name> …: manage connected channels."""
    found = await private_user(update, context)
    if found is None:
        return
    chat, user_id = found
    args = command_args(update.effective_message)
    head, _, rest = args.partition(" ")
    verb = VERBS.get(head.lower()) if head else "list"
    if verb == "list":
        await show_channels(context, chat, user_id)
        return
    if verb is None:
        await notice(context, chat, "channel.usage")
        return
    name, _, tail = rest.strip().partition(" ")
    ref = parse_channel_ref(name)
    if ref is None:
        await notice(context, chat, "channel.bad_name", name=shown_ref(name))
        return
    if verb == "add":
        await connect(update, context, chat, user_id, ref, shown_ref(name))
        return
    channel = await managed_channel(update, context, user_id, ref, shown_ref(name))
    if verb == "follow":
        await follow(context, chat, channel, tail.strip())
    elif verb == "unfollow":
        await unfollow(context, chat, channel, tail.strip())
    elif verb == "digest":
        await digest(context, chat, channel, tail.strip())
    elif verb == "remove":
        await channels(context).disconnect(channel.id, REMOVED_REASON)
        await notice(context, chat, "channel.removed", title=channel_title(channel))


async def show_channels(context: AnyContext, chat: Chat, user_id: int) -> None:
    """The user's channels with what each receives, and their buttons."""
    listed, labels = await channels(context).overview(user_id)
    for part in render_channels(chat.language, listed, labels):
        await send(context, chat.id, part)


async def connect(
    update: Update, context: AnyContext, chat: Chat, user_id: int, ref: str | int, shown: str
) -> None:
    """Check the channel, the bot's rights and the user's, then connect it."""
    bot = context.bot
    info = await lookup(bot, ref, shown)
    if not await checked(bot_can_post(bot, info.id), shown):
        raise ChatError("channel.bot_not_admin", {"name": shown})
    operator = is_operator(update, services(context))
    if not operator and not await checked(user_is_admin(bot, info.id, user_id), shown):
        raise ChatError("channel.user_not_admin", {"name": shown})
    title = info.title or info.username or str(info.id)
    channel = await channels(context).connect(info.id, title, chat)
    shown_name = f"@{info.username}" if info.username else str(info.id)
    await notice(context, chat, "channel.connected", title=channel_title(channel), ref=shown_name)


async def managed_channel(
    update: Update, context: AnyContext, user_id: int, ref: str | int, shown: str
) -> Chat:
    """A connected channel this user may manage; ChatError otherwise."""
    svc = channels(context)
    channel_id = ref if isinstance(ref, int) else (await lookup(context.bot, ref, shown)).id
    channel = await svc.get(channel_id)
    if channel is None or channel.managed_by is None or channel.type.value != "channel":
        raise ChatError("channel.not_connected", {"name": shown})
    if channel.managed_by == user_id or is_operator(update, services(context)):
        return channel
    if await checked(user_is_admin(context.bot, channel.id, user_id), shown):
        return channel
    raise ChatError("channel.user_not_admin", {"name": shown})


async def follow(context: AnyContext, chat: Chat, channel: Chat, target: str) -> None:
    """Make the channel follow a story (its id) or keywords."""
    if not target:
        await notice(context, chat, "channel.follow_usage")
        return
    svc = services(context)
    digest_mode = await channels(context).digest_mode(channel.id)
    match = _STORY_ID.match(target)
    if match is not None:
        story_id = int(match.group(1))
        if story_id not in ID:
            raise ChatError("story.not_found", {"id": story_id})
        result = await svc.chats.follow_story(channel.id, story_id)
        what = result.story.label if result.story is not None else f"#{story_id}"
    else:
        result = await svc.chats.follow_keyword(channel.id, target)
        what = f"“{result.follow.query or target}”"
        if result.created:
            await svc.follows.refresh()
    if result.created and digest_mode:
        await svc.chats.set_follow_mode(channel.id, result.follow.id, DeliveryMode.DIGEST)
    key = "channel.followed" if result.created else "channel.already"
    await notice(context, chat, key, title=channel_title(channel), what=what)


async def unfollow(context: AnyContext, chat: Chat, channel: Chat, target: str) -> None:
    """Stop one of the channel's follows: its number in /channel, or its keywords."""
    if not target:
        await notice(context, chat, "channel.unfollow_usage")
        return
    svc = services(context)
    follows, labels = await svc.chats.follows_with_labels(channel.id)
    chosen: int | str = target
    if target.isdigit() and len(target) < 6:
        index = int(target)
        if not 1 <= index <= len(follows):
            raise ChatError("unfollow.not_found")
        chosen = follows[index - 1].id
    removed = await svc.chats.unfollow(channel.id, chosen)
    if removed.query is not None:
        svc.follows.forget(removed.id)
    label = labels.get(removed.story_id or 0)
    what = label if label is not None else (f"“{removed.query}”" if removed.query else "")
    what = what or f"#{removed.story_id}"
    await notice(context, chat, "channel.unfollowed", title=channel_title(channel), what=what)


async def digest(context: AnyContext, chat: Chat, channel: Chat, value: str) -> None:
    """Switch the channel to a daily digest (at an optional HH:MM) or to instant pushes."""
    switch, _, when = value.partition(" ")
    on = parse_switch(switch)
    if on is None:
        await notice(context, chat, "channel.digest_usage")
        return
    svc = services(context)
    title = channel_title(channel)
    if not on:
        await channels(context).set_digest_mode(channel.id, False)
        await notice(context, chat, "channel.digest_off", title=title)
        return
    if not await svc.views.has_follows(channel.id):
        raise ChatError("channel.digest_nothing", {"title": title})
    if when.strip():
        channel = await svc.chats.set_digest_time(channel.id, when.strip())
    await channels(context).set_digest_mode(channel.id, True)
    at = channel.digest_time.strftime("%H:%M")
    await notice(context, chat, "channel.digest_on", title=title, time=at)


# --------------------------------------------------------------------------- buttons


async def on_channel_button(update: Update, context: AnyContext) -> None:
    """Digest on/off and Disconnect buttons of the /channel list; always answered."""
    query = update.callback_query
    if query is None:
        return
    text: str | None = None
    try:
        text = await channel_button(update, context)
    finally:
        try:
            await query.answer(text[:190] if text else None)
        except TelegramError:
            log.info("could not answer a channel button")


async def channel_button(update: Update, context: AnyContext) -> str | None:
    """Act on one channel button; returns the toast."""
    query = update.callback_query
    found = await private_user(update, context)
    if query is None or found is None:
        return None
    chat, user_id = found
    try:
        data = decode(query.data)
        channel_id = -data.int_arg(0)
    except BadCallback:
        return t(chat.language, "toast.stale")
    shown = str(channel_id)
    try:
        channel = await managed_channel(update, context, user_id, channel_id, shown)
    except ChatError as exc:
        return render_notice(chat.language, exc.key, **exc.params).plain_text
    svc = channels(context)
    if data.action == "cx":
        await svc.disconnect(channel.id, REMOVED_REASON)
        toast = t(chat.language, "toast.channel_removed")
    else:
        on = not await svc.digest_mode(channel.id)
        if on and not await services(context).views.has_follows(channel.id):
            return render_notice(
                chat.language, "channel.digest_nothing", title=channel_title(channel)
            ).plain_text
        await svc.set_digest_mode(channel.id, on)
        toast = t(chat.language, "toast.channel_digest_on" if on else "toast.channel_instant")
    listed, labels = await svc.overview(user_id)
    message = query.message if isinstance(query.message, Message) else None
    parts = render_channels(chat.language, listed, labels)
    if message is not None and len(parts) == 1:
        await edit_or_send(context, message, parts[0])
    else:
        for part in parts:
            await send(context, chat.id, part)
    return toast


# --------------------------------------------------------------------------- lost channels


async def channel_lost(bot: Bot, svc: Services, channel: Chat) -> bool:
    """Disconnect a channel the bot can no longer post in and tell its admin (once: only
    the call that disconnects it sends the message)."""
    manager = channel.managed_by
    if manager is None:
        return False
    if not await channel_service(svc).disconnect(channel.id, LOST_REASON, manager):
        return False
    admin = await svc.chats.get(manager)
    lang = admin.language if admin is not None else channel.language
    rendered = render_notice(lang, "channel.lost", title=channel_title(channel))
    try:
        await bot.send_message(manager, rendered.text, parse_mode=ParseMode.HTML)
    except TelegramError:
        log.info("could not tell %s that channel %s was disconnected", manager, channel.id)
    return True


async def sweep_lost_channels(bot: Bot, svc: Services) -> int:
    """Re-check connected channels marked blocked after a 403: unblock those where the bot
    may still post, disconnect the rest and tell their admins; how many were disconnected."""
    lost = 0
    for channel in await channel_service(svc).lost():
        try:
            can_post = await bot_can_post(bot, channel.id)
        except TelegramError:
            log.info("could not re-check channel %s; trying again later", channel.id)
            continue
        if can_post:
            await channel_service(svc).unblock(channel.id)
            continue
        lost += int(await channel_lost(bot, svc, channel))
    return lost
