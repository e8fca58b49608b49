"""Turn a pure keyboard description into python-telegram-bot markup."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.presentation.message import Rendered, keyboard_json


def to_markup(rendered: Rendered) -> InlineKeyboardMarkup | None:
    """The inline keyboard of a rendered message, or None when it has no buttons.

    Built from the same Bot API JSON the delivery worker sends (`keyboard_json`), so
    replies and pushes encode buttons one way.
    """
    data = keyboard_json(rendered.buttons)
    return None if data is None else InlineKeyboardMarkup.de_json(data, None)
