"""Turn a pure keyboard description into python-telegram-bot markup."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.render import Button, Rendered


def to_button(button: Button) -> InlineKeyboardButton:
    """One inline button: URL if given, else callback data."""
    if button.url is not None:
        return InlineKeyboardButton(button.text, url=button.url)
    return InlineKeyboardButton(button.text, callback_data=button.data)


def to_markup(rendered: Rendered) -> InlineKeyboardMarkup | None:
    """The inline keyboard of a rendered message, or None when it has no buttons."""
    rows = [[to_button(b) for b in row] for row in rendered.buttons if row]
    return InlineKeyboardMarkup(rows) if rows else None
