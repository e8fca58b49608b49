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
class LinkPreview:
    """A message's link preview: off, or `url`'s card (above the text, large media)."""

    disabled: bool = True
    url: str | None = None
    above: bool = False
    large_media: bool = False

    def options(self) -> dict[str, object]:
        """The Bot API's LinkPreviewOptions JSON."""
        if self.disabled or not self.url:
            return {"is_disabled": self.disabled}
        found: dict[str, object] = {"url": self.url}
        if self.large_media:
            found["prefer_large_media"] = True
        if self.above:
            found["show_above_text"] = True
        return found


NO_PREVIEW: Final = LinkPreview()


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message: Telegram-HTML text, an inline keyboard, the preview switch, the
    plain-text fallback (`plain`; derived from the HTML when not given) and, for a push,
    the article's link preview (`link`; when None, `disable_preview` alone decides)."""

    text: str
    buttons: Keyboard = ()
    disable_preview: bool = True
    plain: str | None = None
    link: LinkPreview | None = None

    @property
    def preview(self) -> LinkPreview:
        """The link preview to send with this message."""
        if self.link is not None:
            return self.link
        return NO_PREVIEW if self.disable_preview else LinkPreview(disabled=False)

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
