"""The one message type that services and handlers share, and its wire forms.

`Rendered` is what rendering produces and what senders take: Telegram-HTML text, its
plain-text fallback, an inline keyboard and the link-preview switch. Pure: no Telegram
objects here (`handlers.markup` turns a keyboard into PTB objects, `keyboard_json` into
the Bot API's JSON).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Final

_TAG_RE: Final = re.compile(r"<[^>]*>")


def strip_tags(text: str) -> str:
    """Telegram HTML → plain text (tags dropped, entities decoded)."""
    return html.unescape(_TAG_RE.sub("", text))


@dataclass(frozen=True, slots=True)
class Button:
    """An inline keyboard button: callback data or a URL."""

    text: str
    data: str | None = None
    url: str | None = None


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message: Telegram-HTML text, an inline keyboard, the preview switch, and the
    plain-text fallback (`plain`; derived from the HTML when not given)."""

    text: str
    buttons: Keyboard = ()
    disable_preview: bool = True
    plain: str | None = None

    @property
    def plain_text(self) -> str:
        """The text to send when Telegram rejects the HTML."""
        return self.plain or strip_tags(self.text)


def keyboard_json(buttons: Keyboard) -> dict[str, object] | None:
    """A keyboard as the Bot API's InlineKeyboardMarkup JSON (None when empty)."""
    rows = [
        [
            {"text": b.text, "url": b.url}
            if b.url
            else {"text": b.text, "callback_data": b.data or ""}
            for b in row
        ]
        for row in buttons
        if row
    ]
    return {"inline_keyboard": rows} if rows else None
