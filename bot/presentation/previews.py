"""A push's link preview (the article, above or below the text, or none) and the forum and
preview lines and buttons of the /settings view. Pure.

The preview points at the article's own URL, so the card Telegram shows (site, title,
description, image) is the article's and a tap opens the article. When ingest found a
lead image (`Article.image_url`, from the feed's media or the page's og:image) the preview
asks for large media: Telegram's card of the article then shows that image large.
"""

from __future__ import annotations

from typing import Final

from bot.domain import Article, Chat, PreviewMode
from bot.presentation.callbacks import encode
from bot.presentation.i18n import t
from bot.presentation.message import NO_PREVIEW, Button, LinkPreview

MAX_PREVIEW_URL: Final = 2048


def previewable(url: str | None) -> bool:
    """Whether a URL can be a link preview (http(s), bounded, no spaces)."""
    if not url or len(url) > MAX_PREVIEW_URL or any(c.isspace() for c in url):
        return False
    return url.lower().startswith(("http://", "https://"))


def push_preview(mode: PreviewMode, article: Article) -> LinkPreview:
    """The preview of a push: the article's URL per the chat's setting; large media when the
    article has a lead image; none when the chat chose off or the URL cannot be previewed."""
    if mode is PreviewMode.OFF or not previewable(article.url):
        return NO_PREVIEW
    return LinkPreview(
        disabled=False,
        url=article.url,
        above=mode is PreviewMode.ABOVE,
        large_media=previewable(article.image_url),
    )


def settings_lines(lang: str, chat: Chat) -> list[str]:
    """The /settings lines for the preview and, in a forum, the digest topic."""
    lines = [
        t(lang, "settings.preview", value=t(lang, f"settings.preview_is_{chat.preview.value}"))
    ]
    if chat.is_forum:
        general = chat.digest_thread_id is None
        lines.append(t(lang, "settings.topic_is_general" if general else "settings.topic_is_set"))
    return lines


def settings_usage(lang: str, chat: Chat) -> str:
    """How to change the preview (and, in a forum, the digest topic), for /settings."""
    return t(lang, "settings.usage_forum" if chat.is_forum else "settings.usage_preview")


PREVIEW_BUTTONS: Final = {"pb": PreviewMode.BELOW, "pa": PreviewMode.ABOVE, "po": PreviewMode.OFF}


def settings_buttons(lang: str, chat: Chat) -> tuple[tuple[Button, ...], ...]:
    """/settings rows for the preview (the other two choices) and, in a forum, the digest
    topic: here (the topic the settings message is in) or general."""
    preview = tuple(
        Button(t(lang, f"btn.preview_{mode.value}"), encode("st", code))
        for code, mode in PREVIEW_BUTTONS.items()
        if mode is not chat.preview
    )
    if not chat.is_forum:
        return (preview,)
    topic = [Button(t(lang, "btn.topic_here"), encode("st", "th"))]
    if chat.digest_thread_id is not None:
        topic.append(Button(t(lang, "btn.topic_general"), encode("st", "tg")))
    return preview, tuple(topic)
