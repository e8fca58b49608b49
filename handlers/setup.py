"""Registers every handler on the application and sets the command menus."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

from telegram import Bot, BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.presentation.i18n import admin_command_menu, command_menu
from handlers import commands as c
from handlers import operators
from handlers.buttons import on_button
from handlers.channels import CHANNEL_BUTTONS, cmd_channel, on_channel_button
from handlers.context import AnyApplication
from handlers.errors import on_error
from handlers.inline import inline_gate, on_inline_query
from handlers.membership import register_membership
from handlers.mutes import cmd_mute, cmd_unmute

log = logging.getLogger(__name__)

#: New commands in private chats and groups, and channel posts (edits are ignored).
COMMAND_UPDATES: Final = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST

COMMANDS: Final[dict[str, c.Handler]] = {
    "start": c.cmd_start,
    "help": c.cmd_help,
    "topics": c.cmd_topics,
    "follow": c.cmd_follow,
    "unfollow": c.cmd_unfollow,
    "mysubs": c.cmd_mysubs,
    "search": c.cmd_search,
    "latest": c.cmd_latest,
    "story": c.cmd_story,
    "digest": c.cmd_digest,
    "settings": c.cmd_settings,
    "language": c.cmd_language,
    "stop": c.cmd_stop,
    "sources": operators.cmd_sources,
    "export": operators.cmd_export,
    "import": operators.cmd_import,
    "addsource": c.cmd_addsource,
    "removesource": c.cmd_removesource,
    "stats": c.cmd_stats,
    "mute": cmd_mute,
    "unmute": cmd_unmute,
}


def register(application: AnyApplication) -> None:
    """Add the flood gate, every command, the button handler, the fallback and the error handler."""
    application.add_handler(TypeHandler(Update, c.flood_gate), group=-1)
    application.add_handler(InlineQueryHandler(inline_gate), group=-2)
    application.add_handler(InlineQueryHandler(on_inline_query))
    for name, callback in COMMANDS.items():
        application.add_handler(CommandHandler(name, callback, filters=COMMAND_UPDATES))
    application.add_handler(CommandHandler("channel", cmd_channel, filters=COMMAND_UPDATES))
    application.add_handler(CallbackQueryHandler(on_channel_button, pattern=CHANNEL_BUTTONS))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(
        MessageHandler(filters.Document.ALL & COMMAND_UPDATES, operators.on_import_document)
    )
    application.add_handler(MessageHandler(filters.COMMAND & COMMAND_UPDATES, c.cmd_unknown))
    register_membership(application)  # my_chat_member and migrate messages (group 1)
    application.add_error_handler(on_error)


async def set_command_menus(bot: Bot, admin_ids: Iterable[int] = ()) -> None:
    """setMyCommands in English (default) and Arabic ("ar"); operators also see admin commands."""
    for lang, code in (("en", None), ("ar", "ar")):
        menu = [BotCommand(name, text) for name, text in command_menu(lang)]
        await bot.set_my_commands(menu, language_code=code)
        admin_menu = [BotCommand(name, text) for name, text in admin_command_menu(lang)]
        for admin_id in admin_ids:
            try:
                await bot.set_my_commands(
                    admin_menu, scope=BotCommandScopeChat(admin_id), language_code=code
                )
            except TelegramError:  # the operator has not opened a chat with the bot yet
                log.info("no operator menu for %s yet", admin_id)
