"""Inline-mode results (pure): an article as a shareable result with title, description
and a short HTML message (linked headline, one summary line, source)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.domain import Article
from bot.presentation.i18n import format_datetime
from bot.presentation.render import LRM, RLM, clean, esc, headline, isolate, mark, safe_url

TITLE_MAX: Final = 200
DESCRIPTION_MAX: Final = 200
LINE_MAX: Final = 300
SOURCE_MAX: Final = 80


@dataclass(frozen=True, slots=True)
class InlineArticle:
    """One inline result: its id, the list's title and description, the message it sends
    (Telegram HTML), the article's URL and lead image (None when not a plain http(s) link)."""

    id: str
    title: str
    description: str
    text: str
    url: str | None
    thumbnail: str | None = None


def _summary_line(article: Article) -> str:
    """The first summary sentence, or the lede, as plain text."""
    first = article.summary[0] if article.summary else article.lede
    return clean(first, LINE_MAX)


def _text_mark(article: Article) -> str:
    """The direction mark of the article's own language."""
    return RLM if (article.lang or "").lower().startswith("ar") else LRM


def inline_description(lang: str, tz: str, article: Article) -> str:
    """ "Source · local date and time", whatever is known (plain text)."""
    bits = []
    source = clean(article.source_name, SOURCE_MAX)
    if source:
        bits.append(source)
    when = article.published_at or article.fetched_at
    if when is not None:
        bits.append(format_datetime(lang, when, tz))
    return clean(" · ".join(bits), DESCRIPTION_MAX)


def render_inline_article(lang: str, tz: str, article: Article) -> InlineArticle:
    """An article as an inline result in the reader's language and time zone."""
    lines = [f"{_text_mark(article)}<b>{headline(article)}</b>"]
    summary = _summary_line(article)
    if summary:
        lines.append(_text_mark(article) + esc(summary))
    source = clean(article.source_name, SOURCE_MAX)
    if source:
        lines.append(f"{mark(lang)}— {isolate(source, SOURCE_MAX)}")
    title = clean(article.title, TITLE_MAX) or clean(article.url, TITLE_MAX) or "…"
    return InlineArticle(
        id=f"a{article.id}",
        title=title,
        description=inline_description(lang, tz, article),
        text="\n".join(lines),
        url=safe_url(article.url),
        thumbnail=safe_url(article.image_url),
    )
