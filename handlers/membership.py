"""Chat membership and migration updates: `my_chat_member` and the migrate service messages.

The bot removed from a group, or blocked in a private chat, stops every send to that chat
(it is marked blocked, as after a 403); added back, it is unblocked. A connected channel
where the bot can no longer post is disconnected, and the admin who connected it is told. A group that became a
supergroup moves, with its follows, settings and owed messages, to the new id.
"""

from __future__ import annotations

from typing import Final

from telegram import ChatMember, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import ChatMemberHandler, MessageHandler, filters

from bot.membership import MembershipService
from handlers.channels import channel_lost
from handlers.context import AnyApplication, AnyContext, services

MEMBERSHIP_KEY: Final = "akhbar.membership"
#: Handler group of these updates (apart from the commands' group 0).
MEMBERSHIP_GROUP: Final = 1
_PRESENT: Final = frozenset(
    {ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
)


def membership(context: AnyContext) -> MembershipService:
    """The membership service of this application (built once over the services' database)."""
    found = context.bot_data.get(MEMBERSHIP_KEY)
    if not isinstance(found, MembershipService):
        svc = services(context)
        found = MembershipService(svc.db, svc.clock)
        context.bot_data[MEMBERSHIP_KEY] = found
    return found


def is_present(member: ChatMember) -> bool:
    """Whether this membership lets the bot post (a restricted member still counts)."""
    if member.status in _PRESENT:
        return True
    return member.status == ChatMemberStatus.RESTRICTED and bool(
        getattr(member, "is_member", False)
    )


def can_post(chat_type: str, member: ChatMember) -> bool:
    """Whether this membership lets the bot post: in a channel only an administrator with
    the right to post messages can; elsewhere any present member."""
    if chat_type != ChatType.CHANNEL:
        return is_present(member)
    return member.status == ChatMemberStatus.ADMINISTRATOR and bool(
        getattr(member, "can_post_messages", False)
    )


async def on_my_chat_member(update: Update, context: AnyContext) -> None:
    """The bot's own membership changed: stop or resume sends to the chat; a connected
    channel the bot can no longer post in is disconnected and its admin told."""
    change = update.my_chat_member
    if change is None:
        return
    present = can_post(change.chat.type, change.new_chat_member)
    await membership(context).set_member(change.chat.id, present)
    if not present and change.chat.type == ChatType.CHANNEL:
        channel = await services(context).chats.get(change.chat.id)
        if channel is not None:
            await channel_lost(context.bot, services(context), channel)


def migration(update: Update) -> tuple[int, int] | None:
    """(old id, new id) of a migrate service message, if this update is one."""
    message = update.effective_message
    if message is None:
        return None
    if message.migrate_to_chat_id:
        return message.chat.id, int(message.migrate_to_chat_id)
    if message.migrate_from_chat_id:
        return int(message.migrate_from_chat_id), message.chat.id
    return None


async def on_migration(update: Update, context: AnyContext) -> None:
    """A group became a supergroup: move the chat to its new id."""
    ids = migration(update)
    if ids is not None:
        await membership(context).readdress(*ids)


def register_membership(application: AnyApplication) -> None:
    """Add the membership and migration handlers in their own group."""
    application.add_handler(
        ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER),
        group=MEMBERSHIP_GROUP,
    )
    application.add_handler(
        MessageHandler(filters.StatusUpdate.MIGRATE, on_migration), group=MEMBERSHIP_GROUP
    )
