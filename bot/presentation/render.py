"""Pure rendering: domain objects → Telegram-HTML text and keyboard descriptions.

Nothing here talks to Telegram or the database. Every outside string (headlines, source
names, labels, queries, URLs) is cleaned of control and bidi-override characters, escaped,
and wrapped in a first-strong isolate (FSI…PDI) so an Arabic headline lays out right in an
English message and vice versa. Each interface line starts with a direction mark (RLM for
Arabic, LRM for English) so the paragraph direction follows the interface language;
paragraphs of article text (summaries) start with the mark of the article's language.
Every message is at most 4096 UTF-16 units; long ones are cut with :func:`split_html`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import html
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from bot.domain import (
    Article,
    Chat,
    DeliveryMode,
    Follow,
    FollowKind,
    QuietMode,
    SearchPage,
    Source,
    Stats,
    Story,
)
from bot.pipeline.memo import short_key_cache
from bot.pipeline.xlink import Coverage
from bot.presentation.callbacks import encode
from bot.presentation.i18n import (
    ADMIN_COMMANDS,
    USER_COMMANDS,
    format_age,
    format_date,
    format_datetime,
    format_number,
    format_time,
    normalize_lang,
    t,
    tn,
)
from bot.presentation.message import Button as Button
from bot.presentation.message import Keyboard as Keyboard
from bot.presentation.message import Rendered as Rendered
from bot.presentation.previews import settings_buttons, settings_lines, settings_usage

MAX_MESSAGE: Final = 4096
HEADLINE_MAX: Final = 300
LABEL_MAX: Final = 200
SOURCE_MAX: Final = 80
QUERY_MAX: Final = 100
SUMMARY_MAX: Final = 1200
URL_MAX: Final = 2000
#: Memoised renders keep only calls whose text arguments hold this many characters in all
#: (a URL, a headline and a source name fit); longer ones are rendered each time.
RENDER_KEY_MAX: Final = URL_MAX + 2 * SUMMARY_MAX
RELATED_MAX: Final = 5
SEARCH_PER_GROUP: Final = 5
MYSUBS_ROWS: Final = 30

FSI: Final = "\u2068"
PDI: Final = "\u2069"
RLM: Final = "\u200f"
LRM: Final = "\u200e"

_WS: Final = re.compile(r"\s+")
# What `clean` drops (bidi embeddings, overrides and isolates from outside text would
# unbalance our isolates; lone surrogates, category Cs, cannot be sent) and what it turns
# into a space (control characters, Cc, and line/paragraph separators).
_DROPPED: Final = re.compile("[\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SPACED: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ATOM: Final = re.compile(
    r"<[^<>]*>|&(?:#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{0,31});|.", re.S
)
_TAG: Final = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*>\Z")


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One story in a digest: how many new articles, a summary line, two headlines."""

    story: Story
    new_count: int
    summary_line: str
    headlines: list[tuple[Article, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- text helpers


def _units(text: str) -> int:
    """Length in UTF-16 code units, the way Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def clean(text: str | None, limit: int | None = None) -> str:
    """Outside text made safe to embed: no control/bidi-override chars, one line, clipped."""
    if not text:
        return ""
    flat = _WS.sub(" ", _SPACED.sub(" ", _DROPPED.sub("", text))).strip()
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


def esc(text: str | None, limit: int | None = None) -> str:
    """Clean and HTML-escape outside text for a message body."""
    return html.escape(clean(text, limit), quote=False)


def isolate(text: str | None, limit: int | None = None) -> str:
    """Escaped outside text inside a first-strong isolate (FSI…PDI) for mixed RTL/LTR."""
    return FSI + esc(text, limit) + PDI


def mark(lang: str) -> str:
    """Direction mark for a line in this language: RLM for Arabic, LRM otherwise."""
    return RLM if normalize_lang(lang) == "ar" else LRM


def _content_mark(text_lang: str | None) -> str:
    """Direction mark for a paragraph of article text in ``text_lang``."""
    return RLM if (text_lang or "").lower().startswith(("ar", "fa", "ur", "he")) else LRM


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link Telegram will accept, else None."""
    if not url or len(url) > URL_MAX:
        return None
    if not url.lower().startswith(("http://", "https://")):
        return None
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs") for ch in url):
        return None
    return url


def link(url: str | None, inner_html: str) -> str:
    """Wrap already-escaped HTML in a link when the URL is safe, else return it as is."""
    target = safe_url(url)
    if target is None:
        return inner_html
    return f'<a href="{html.escape(target, quote=True)}">{inner_html}</a>'


def headline(article: Article) -> str:
    """An article's headline as an isolated link."""
    return _headline(article.url, article.title)


@short_key_cache(16384, RENDER_KEY_MAX)
def _headline(url: str, title: str) -> str:
    """A headline as an isolated link, from the article's URL and title (memoised)."""
    return link(url, isolate(title or url, HEADLINE_MAX))


def _join_names(lang: str, names: Sequence[str]) -> str:
    """Isolated, escaped names joined with the language's comma."""
    separator = "، " if normalize_lang(lang) == "ar" else ", "
    return separator.join(isolate(name, SOURCE_MAX) for name in names if clean(name))


def _when(article: Article) -> _dt.datetime | None:
    """The best known time of an article."""
    return article.published_at or article.fetched_at


def _meta(lang: str, tz: str, source_name: str | None, when: _dt.datetime | None) -> str:
    """ "Source · local time" with whatever is known."""
    bits = []
    if clean(source_name):
        bits.append(isolate(source_name, SOURCE_MAX))
    if when is not None:
        bits.append(format_datetime(lang, when, tz))
    return " · ".join(bits)


def _item_line(lang: str, tz: str | None, article: Article, source_name: str | None) -> str:
    """A bullet line: headline — source (· time when ``tz`` is given)."""
    if tz is None:
        return _source_item_line(lang, article.url, article.title, source_name)
    tail = _meta(lang, tz, source_name, _when(article))
    return f"{mark(lang)}• {headline(article)}" + (f" — {tail}" if tail else "")


@short_key_cache(16384, RENDER_KEY_MAX)
def _source_item_line(lang: str, url: str, title: str, source_name: str | None) -> str:
    """A bullet line without a time: headline — source (memoised: digests repeat them)."""
    tail = isolate(source_name, SOURCE_MAX) if clean(source_name) else ""
    return f"{mark(lang)}• {_headline(url, title)}" + (f" — {tail}" if tail else "")


def _summary_text(sentences: Sequence[str], article: Article | None) -> str:
    """Summary sentences (or the article's own summary or lede) as one clipped paragraph."""
    chosen = list(sentences)
    if not chosen and article is not None:
        chosen = list(article.summary) or ([article.lede] if article.lede else [])
    return esc(" ".join(clean(s) for s in chosen if clean(s)), SUMMARY_MAX)


def _fit(text: str) -> str:
    """The text if it fits one message, else its first well-formed part."""
    return text if _units(text) <= MAX_MESSAGE else split_html(text, MAX_MESSAGE)[0]


def _page_row(
    lang: str, action: str, page: int, has_more: bool, *prefix: int
) -> tuple[Button, ...]:
    """◀ ▶ paging buttons for a 0-based page."""
    row = []
    if page > 0:
        row.append(Button(t(lang, "btn.prev"), encode(action, *prefix, page - 1)))
    if has_more:
        row.append(Button(t(lang, "btn.next"), encode(action, *prefix, page + 1)))
    return tuple(row)


def _story_row(lang: str, story: Story, more: bool = True) -> tuple[Button, ...]:
    """Follow story / Mute story (/ More) buttons."""
    row = [
        Button(t(lang, "btn.follow_story"), encode("fs", story.id)),
        Button(t(lang, "btn.mute_story"), encode("ms", story.id)),
    ]
    if more:
        row.append(Button(t(lang, "btn.more"), encode("mo", story.id)))
    return tuple(row)


def mute_source_button(lang: str, source_id: int, name: str | None = None) -> Button:
    """Mute this source (named when a message holds several sources' articles)."""
    if name:
        label = t(lang, "btn.mute_source_named", name=clean(name, 30))
        return Button(label, encode("xs", source_id))
    return Button(t(lang, "btn.mute_source"), encode("xs", source_id))


def _source_row(lang: str, articles: Sequence[tuple[Article, str | None]]) -> tuple[Button, ...]:
    """Mute source: one button, or one per source (at most 3) when the articles' sources differ."""
    names = {a.source_id: n or a.source_name for a, n in articles if a.source_id is not None}
    if len(names) == 1:
        return (mute_source_button(lang, next(iter(names))),)
    return tuple(mute_source_button(lang, i, n or f"#{i}") for i, n in list(names.items())[:3])


def _rows(*rows: tuple[Button, ...]) -> Keyboard:
    """Keyboard without empty rows."""
    return tuple(row for row in rows if row)


def _chunks(buttons: Sequence[Button], size: int) -> list[tuple[Button, ...]]:
    """Buttons laid out ``size`` per row."""
    return [tuple(buttons[i : i + size]) for i in range(0, len(buttons), size)]


# --------------------------------------------------------------------------- splitting


def _close_tags(stack: Sequence[tuple[str, str]]) -> str:
    """Closing tags for the open (non-phantom) tags, innermost first."""
    return "".join(f"</{name}>" for name, opening in reversed(stack) if opening)


def _tag_info(atom: str) -> tuple[int, str]:
    """(0, "") for text, (1, name) for an opening tag, (2, name) for a closing tag."""
    if len(atom) < 3 or atom[0] != "<":
        return 0, ""
    match = _TAG.match(atom)
    if match is None:
        return 0, ""
    return (2 if match.group(1) else 1), match.group(2).lower()


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split Telegram HTML into parts ≤ ``limit`` UTF-16 units, each with balanced tags.

    Cuts prefer paragraph breaks, then line breaks, then spaces, and never fall inside a
    tag or an entity; tags open at a cut are closed there and reopened in the next part.
    """
    if _units(text) <= limit:
        return [text]
    atoms: list[str] = _ATOM.findall(text)
    sizes = [_units(a) if len(a) > 1 or ord(a) > 0xFFFF else 1 for a in atoms]
    infos = [_tag_info(a) for a in atoms]
    parts: list[str] = []
    stack: list[tuple[str, str]] = []  # (tag name, opening tag or "" when dropped)
    i, n = 0, len(atoms)
    while i < n:
        while i < n and atoms[i] in (" ", "\n"):
            i += 1
        if i >= n:
            break
        prefix = "".join(opening for _, opening in stack)
        current = list(stack)
        out: list[str] = [prefix]
        used = _units(prefix)
        closing = _units(_close_tags(current))
        if used + closing >= limit:
            stack = [(name, "") for name, _ in stack]
            continue
        seen_text = False
        cuts: dict[int, tuple[int, int, list[tuple[str, str]]]] = {}
        j = i
        while j < n:
            atom = atoms[j]
            kind, name = infos[j]
            cost, delta = sizes[j], 0
            if kind == 2 and current and current[-1][0] == name:
                if current[-1][1]:
                    delta = -(len(name) + 3)
                else:
                    atom, cost = "", 0
            elif kind == 1:
                delta = len(name) + 3
            if used + cost + closing + delta > limit:
                break
            if kind == 0:
                if atom == "\n" and seen_text:
                    level = 0 if atoms[j - 1] == "\n" else 1
                    cuts[level] = (len(out) - (1 if level == 0 else 0), j + 1, current)
                elif atom == " " and seen_text:
                    cuts[2] = (len(out), j + 1, current)
                elif not atom.isspace():
                    seen_text = True
            elif kind == 1:
                current = [*current, (name, atom)]
            elif current and current[-1][0] == name:
                current = current[:-1]
            out.append(atom)
            used += cost
            closing += delta
            j += 1
        if j >= n:
            parts.append("".join(out) + _close_tags(current))
            break
        if j == i:
            kind, name = infos[i]
            if kind == 1:
                stack.append((name, ""))
                i += 1
                continue
            if any(opening for _, opening in stack):
                stack = [(name, "") for name, _ in stack]
                continue
            raise ValueError(f"limit {limit} is too small to split this text")
        threshold = i + (j - i) // 2
        chosen = next(
            (cuts[level] for level in (0, 1, 2) if level in cuts and cuts[level][1] > threshold),
            None,
        )
        end, resume, cut_stack = chosen if chosen is not None else (len(out), j, current)
        parts.append("".join(out[:end]).rstrip() + _close_tags(cut_stack))
        stack = list(cut_stack)
        i = resume
    return parts


# --------------------------------------------------------------------------- messages


def render_notice(lang: str, key: str, **kwargs: Any) -> Rendered:
    """A one-string message; string fields are cleaned and escaped, ints kept as digits."""
    safe = {k: (esc(v, LABEL_MAX) if isinstance(v, str) else v) for k, v in kwargs.items()}
    return Rendered(_fit(mark(lang) + t(lang, key, **safe)))


def language_row() -> tuple[Button, ...]:
    """English / العربية buttons."""
    return (
        Button(t("en", "btn.lang_en"), encode("lg", "en")),
        Button(t("ar", "btn.lang_ar"), encode("lg", "ar")),
    )


def render_start(lang: str, digest_time: _dt.time = _dt.time(8, 0)) -> Rendered:
    """Welcome, a short tour, and the language choice."""
    m = mark(lang)
    text = "\n\n".join(
        (
            m + t(lang, "start.welcome"),
            m + t(lang, "start.tour", time=digest_time.strftime("%H:%M")),
            m + t(lang, "language.choose"),
        )
    )
    return Rendered(text, (language_row(),))


def render_language_choice(lang: str) -> Rendered:
    """The language question with its two buttons."""
    return Rendered(mark(lang) + t(lang, "language.choose"), (language_row(),))


def render_help(lang: str, is_admin: bool = False, bot_username: str = "") -> Rendered:
    """Every command with its description (operator commands for admins), and inline use."""
    m = mark(lang)
    lines = [m + t(lang, "help.header")]
    lines += [f"{m}/{name} — {t(lang, f'cmd.{name}')}" for name in USER_COMMANDS]
    blocks = ["\n".join(lines)]
    if is_admin:
        admin = [m + t(lang, "help.admin_header")]
        admin += [f"{m}/{name} — {t(lang, f'cmd.{name}')}" for name in ADMIN_COMMANDS]
        blocks.append("\n".join(admin))
    blocks.append(m + t(lang, "help.examples"))
    if bot_username:
        blocks.append(m + t(lang, "help.inline", bot=esc(bot_username, 64)))
    return Rendered("\n\n".join(blocks))


def render_push(
    lang: str,
    tz: str,
    article: Article,
    source_name: str,
    summary: list[str],
    related: list[tuple[Article, str]],
    also_sources: list[str],
    story: Story | None,
    covered: Coverage | None = None,
) -> Rendered:
    """A pushed article: linked headline, source and time, the coverage line of a story
    reported in both languages, summary, related headlines."""
    m = mark(lang)
    head = [f"{m}<b>{headline(article)}</b>"]
    meta = _meta(lang, tz, source_name or article.source_name, _when(article))
    if meta:
        head.append(m + meta)
    if covered is not None and len(covered.sources_by_language) > 1:
        head.append(m + coverage_line(lang, tz, covered))
    names = _join_names(lang, also_sources[:RELATED_MAX])
    if names:
        head.append(f"{m}<i>{t(lang, 'push.also', sources=names)}</i>")
    blocks = ["\n".join(head)]
    summary_html = _summary_text(summary, article)
    if summary_html:
        blocks.append(_content_mark(article.lang) + summary_html)
    if related:
        lines = [m + t(lang, "push.related")]
        lines += [_item_line(lang, None, a, src) for a, src in related[:RELATED_MAX]]
        blocks.append("\n".join(lines))
    story_row = _story_row(lang, story) if story is not None else ()
    buttons = _rows(story_row, _source_row(lang, [(article, source_name)]))
    return Rendered(_fit("\n\n".join(blocks)), buttons)


def render_burst(
    lang: str,
    tz: str,
    story: Story,
    items: list[tuple[Article, str, list[str]]],
) -> Rendered:
    """Several new articles of one story folded into one message ("3 new in: …")."""
    m = mark(lang)
    title = tn(lang, "push.burst", len(items), label=isolate(story.label, LABEL_MAX))
    blocks = [f"{m}<b>{title}</b>"]
    for article, source_name, summary in items:
        lines = [f"{m}• <b>{headline(article)}</b>"]
        meta = _meta(lang, tz, source_name or article.source_name, _when(article))
        if meta:
            lines.append(m + meta)
        first = _summary_text(summary[:1], article if not summary else None)
        if first:
            lines.append(_content_mark(article.lang) + first)
        blocks.append("\n".join(lines))
    sources = _source_row(lang, [(a, name) for a, name, _ in items])
    return Rendered(_fit("\n\n".join(blocks)), _rows(_story_row(lang, story), sources))


def render_digest(
    lang: str,
    tz: str,
    entries: list[DigestEntry],
    more_updates: int,
    date: _dt.date,
) -> list[str]:
    """The daily digest, split into messages of at most 4096 characters."""
    blocks = [render_digest_entry(lang, index, entry) for index, entry in enumerate(entries, 1)]
    return join_digest(lang, tz, blocks, more_updates, date)


def render_digest_entry(lang: str, index: int, entry: DigestEntry) -> str:
    """One story's block of a digest, numbered `index` (pieces memoised: digests repeat them)."""
    m = mark(lang)
    count = _count(lang, "count.new_articles", entry.new_count)
    label = _isolated(entry.story.label, LABEL_MAX)
    lines = [f"{m}<b>{index}. {label}</b> · {count}"]
    line = _escaped(entry.summary_line, HEADLINE_MAX)
    if line:
        lines.append(_content_mark(_story_lang(entry)) + line)
    lines += [_item_line(lang, None, a, src) for a, src in entry.headlines[:2]]
    return "\n".join(lines)


def join_digest(
    lang: str, tz: str, blocks: Sequence[str], more_updates: int, date: _dt.date
) -> list[str]:
    """A digest from its rendered story blocks (none: the empty digest), split at 4096."""
    m = mark(lang)
    parts = [_digest_header(lang, date, tz)]
    if not blocks:
        parts.append(m + t(lang, "digest.empty"))
    parts += blocks
    if more_updates > 0:
        parts.append(f"{m}<i>{_count(lang, 'digest.more', more_updates)}</i>")
    return split_html("\n\n".join(parts), MAX_MESSAGE)


@functools.lru_cache(maxsize=1024)
def _digest_header(lang: str, date: _dt.date, tz: str) -> str:
    """The digest's first line: its title and local date."""
    return mark(lang) + t(lang, "digest.header", date=format_date(lang, date, tz))


@functools.lru_cache(maxsize=1024)
def _count(lang: str, key: str, n: int) -> str:
    """A plural catalog text for a count (memoised: number formatting is slow)."""
    return tn(lang, key, n)


@short_key_cache(16384, RENDER_KEY_MAX)
def _isolated(text: str, limit: int) -> str:
    """`isolate`, memoised for labels repeated across digests."""
    return isolate(text, limit)


@short_key_cache(16384, RENDER_KEY_MAX)
def _escaped(text: str, limit: int) -> str:
    """`esc`, memoised for summary lines repeated across digests."""
    return esc(text, limit)


def _story_lang(entry: DigestEntry) -> str | None:
    """The language of a digest entry's text, from its headlines or story."""
    if entry.headlines:
        return entry.headlines[0][0].lang
    return entry.story.languages[0] if entry.story.languages else None


def render_search(lang: str, tz: str, page: SearchPage, token: int) -> Rendered:
    """Search results grouped by story, with ◀ ▶ (0-based pages) and Follow this search."""
    m = mark(lang)
    query = isolate(page.query, QUERY_MAX)
    follow_row = (Button(t(lang, "btn.follow_search"), encode("fq", token)),)
    if not any(articles for _, articles in page.groups):
        text = m + t(lang, "search.no_results", query=query)
        return Rendered(text, _rows(_page_row(lang, "sp", page.page, False, token), follow_row))
    header = m + t(lang, "search.header", query=query)
    if page.page > 0 or page.has_more:
        header += f"\n{m}{t(lang, 'common.page', page=format_number(lang, page.page + 1))}"
    blocks = [header]
    for story, articles in page.groups:
        if not articles:
            continue
        if story is not None:
            title = f"{m}<b>📰 {isolate(story.label, LABEL_MAX)}</b>"
        else:
            title = f"{m}<b>{t(lang, 'search.other')}</b>"
        lines = [title]
        lines += [_item_line(lang, tz, a, a.source_name) for a in articles[:SEARCH_PER_GROUP]]
        blocks.append("\n".join(lines))
    keyboard = _rows(_page_row(lang, "sp", page.page, page.has_more, token), follow_row)
    return Rendered(_fit("\n\n".join(blocks)), keyboard)


def render_topics(
    lang: str,
    stories: list[Story],
    page: int,
    has_more: bool,
    now: _dt.datetime,
) -> Rendered:
    """Trending stories with counts and age, a Follow button each, ◀ ▶ paging (0-based)."""
    m = mark(lang)
    paging = _page_row(lang, "tp", page, has_more)
    if not stories:
        key = "topics.no_more" if page > 0 else "topics.empty"
        return Rendered(m + t(lang, key), _rows(paging))
    header = m + t(lang, "topics.header")
    if page > 0 or has_more:
        header += f"\n{m}{t(lang, 'common.page', page=format_number(lang, page + 1))}"
    blocks = [header]
    follow_buttons = []
    for index, story in enumerate(stories, 1):
        articles = tn(lang, "count.articles", story.article_count)
        sources = tn(lang, "count.sources", story.source_count)
        if story.last_seen is not None:
            age = format_age(lang, now - story.last_seen)
            meta = t(lang, "topics.meta", articles=articles, sources=sources, age=age)
        else:
            meta = f"{articles} · {sources}"
        blocks.append(f"{m}<b>{index}.</b> {isolate(story.label, LABEL_MAX)}\n{m}<i>{meta}</i>")
        follow_buttons.append(Button(t(lang, "btn.follow_n", n=index), encode("fs", story.id)))
    keyboard = _rows(*_chunks(follow_buttons, 3), paging)
    return Rendered(_fit("\n\n".join(blocks)), keyboard)


def render_story_card(
    lang: str,
    tz: str,
    story: Story,
    summary: list[str],
    timeline: list[tuple[Article, str]],
    covered: Coverage | None = None,
) -> list[Rendered]:
    """The full-coverage card: label, counts, coverage, summary, timeline (across languages);
    buttons on the last part."""
    m = mark(lang)
    head = [f"{m}<b>{isolate(story.label, LABEL_MAX)}</b>"]
    articles = tn(lang, "count.articles", story.article_count)
    sources = tn(lang, "count.sources", story.source_count)
    if story.first_seen is not None:
        date = format_date(lang, story.first_seen, tz)
        head.append(m + t(lang, "story.meta", articles=articles, sources=sources, date=date))
    else:
        head.append(f"{m}{articles} · {sources}")
    if covered is not None and covered.sources:
        head.append(m + coverage_line(lang, tz, covered))
    blocks = ["\n".join(head)]
    summary_html = _summary_text(summary, None)
    if summary_html:
        text_lang = timeline[0][0].lang if timeline else (story.languages or ("",))[0]
        blocks.append(_content_mark(text_lang) + summary_html)
    if timeline:
        lines = [m + t(lang, "story.timeline")]
        for article, source_name in timeline:
            when = _when(article)
            stamp = f"{format_datetime(lang, when, tz)} — " if when is not None else ""
            source = f" — {isolate(source_name, SOURCE_MAX)}" if clean(source_name) else ""
            lines.append(f"{m}• {stamp}{headline(article)}{source}")
        blocks.append("\n".join(lines))
    parts = split_html("\n\n".join(blocks), MAX_MESSAGE)
    keyboard = (_story_row(lang, story, more=False),)
    return [Rendered(p, keyboard if k == len(parts) - 1 else ()) for k, p in enumerate(parts)]


NEWS_CODES: Final = ("ar", "en", "both")  # the news-languages buttons, "st:n<code>"


def coverage_line(lang: str, tz: str | None, covered: Coverage) -> str:
    """ "6 sources · 4 Arabic · 2 English · first: Coast Wire 09:12", as escaped HTML."""
    parts = [tn(lang, "count.sources", covered.sources)]
    for code in ("ar", "en"):
        count = covered.sources_by_language.get(code, 0)
        if count and len(covered.sources_by_language) > 1:
            parts.append(t(lang, f"coverage.lang_{code}", n=format_number(lang, count)))
    if covered.first_source and covered.first_at is not None:
        when = format_time(lang, covered.first_at, tz)
        parts.append(
            t(lang, "coverage.first", source=isolate(covered.first_source, SOURCE_MAX), time=when)
        )
    return " · ".join(parts)


def news_langs_text(lang: str, news_langs: str | None) -> str:
    """The chat's news-languages setting in words."""
    if news_langs in ("ar", "en", "both"):
        return t(lang, f"news_langs.{news_langs}")
    return t(lang, "news_langs.default", language=t(lang, f"lang.{normalize_lang(lang)}"))


def _follow_title(lang: str, follow: Follow, story_labels: Mapping[int, str]) -> str:
    """What a follow points at, as escaped HTML."""
    if follow.kind is FollowKind.STORY:
        label = story_labels.get(follow.story_id) if follow.story_id is not None else None
        if label is None:
            return t(lang, "mysubs.story_gone", id=follow.story_id or 0)
        return t(lang, "mysubs.story", label=isolate(label, LABEL_MAX))
    return t(lang, "mysubs.keyword", query=isolate(follow.query, QUERY_MAX))


def render_mysubs(lang: str, follows: list[Follow], story_labels: Mapping[int, str]) -> Rendered:
    """Each follow with its mode, and Remove / Instant↔Digest / Mute buttons."""
    m = mark(lang)
    if not follows:
        return Rendered(m + t(lang, "mysubs.empty"))
    blocks = [m + t(lang, "mysubs.header")]
    rows: list[tuple[Button, ...]] = []
    for index, follow in enumerate(follows[:MYSUBS_ROWS], 1):
        digest = follow.mode is DeliveryMode.DIGEST
        status = t(lang, "mysubs.mode_digest" if digest else "mysubs.mode_instant")
        if follow.muted:
            status += ", " if normalize_lang(lang) == "en" else "، "
            status += t(lang, "mysubs.muted")
        title = _follow_title(lang, follow, story_labels)
        blocks.append(f"{m}<b>{index}.</b> {title}\n{m}<i>{status}</i>")
        rows.append(
            (
                Button(f"{index} · {t(lang, 'btn.remove')}", encode("rm", follow.id)),
                Button(
                    t(lang, "btn.instant" if digest else "btn.digest_only"),
                    encode("md", follow.id),
                ),
                Button(
                    t(lang, "btn.unmute" if follow.muted else "btn.mute"), encode("mu", follow.id)
                ),
            )
        )
    hidden = len(follows) - MYSUBS_ROWS
    if hidden > 0:
        blocks.append(m + tn(lang, "mysubs.more", hidden))
    return Rendered(_fit("\n\n".join(blocks)), tuple(rows))


def render_latest(
    lang: str, tz: str, articles: list[Article], page: int = 0, has_more: bool = False
) -> Rendered:
    """The newest articles: headline, source and local time each, with ◀ ▶ paging."""
    m = mark(lang)
    paging = _page_row(lang, "lp", page, has_more)
    if not articles:
        return Rendered(m + t(lang, "latest.empty"), _rows(paging))
    lines = [m + t(lang, "latest.header")]
    lines += [_item_line(lang, tz, a, a.source_name) for a in articles]
    return Rendered(_fit("\n".join(lines)), _rows(paging))


def _source_state(lang: str, source: Source) -> str:
    """A source's state in words."""
    if not source.enabled:
        state = t(lang, "sources.state_disabled")
    elif source.paused:
        state = t(lang, "sources.state_paused")
    else:
        state = t(lang, "sources.state_ok")
    if source.error_count:
        state += " · " + tn(lang, "count.errors", source.error_count)
    return state


def render_sources(lang: str, sources: list[Source]) -> list[str]:
    """The operator's source list, split into messages."""
    m = mark(lang)
    if not sources:
        return [m + t(lang, "sources.empty")]
    blocks = [m + t(lang, "sources.header")]
    for source in sources:
        lines = [
            f"{m}<b>#{source.id}</b> {isolate(source.name, SOURCE_MAX)} — "
            f"{_source_state(lang, source)}",
            f"{m}<code>{esc(source.url, URL_MAX)}</code>",
        ]
        if source.last_error:
            error = esc(source.last_error, HEADLINE_MAX)
            lines.append(f"{m}<i>{t(lang, 'sources.last_error', error=error)}</i>")
        blocks.append("\n".join(lines))
    return split_html("\n\n".join(blocks), MAX_MESSAGE)


def render_stats(lang: str, stats: Stats) -> str:
    """Operational figures for /stats."""
    m = mark(lang)

    def num(value: int) -> str:
        """A count in this language."""
        return format_number(lang, value)

    lines = [
        m + t(lang, "stats.header"),
        m
        + t(
            lang,
            "stats.sources",
            total=num(stats.sources_total),
            paused=num(stats.sources_paused),
            failing=num(stats.sources_failing),
        ),
        m
        + t(
            lang,
            "stats.articles",
            articles=num(stats.articles_total),
            stories=num(stats.stories_total),
        ),
        m
        + t(
            lang,
            "stats.chats",
            total=num(stats.chats_total),
            blocked=num(stats.chats_blocked),
            follows=num(stats.follows_total),
        ),
    ]
    if stats.queue:
        queue = ", ".join(f"{esc(k, 40)} {num(v)}" for k, v in sorted(stats.queue.items()))
        lines.append(m + t(lang, "stats.queue", queue=queue))
    else:
        lines.append(m + t(lang, "stats.queue_empty"))
    lines.append(
        m
        + t(
            lang,
            "stats.last_hour",
            sent=num(stats.sent_last_hour),
            failed=num(stats.failed_last_hour),
        )
    )
    return _fit("\n".join(lines))


def render_settings(lang: str, chat: Chat) -> Rendered:
    """Current settings, how to change them, and toggle buttons."""
    m = mark(lang)
    language = t(lang, f"lang.{normalize_lang(chat.language)}")
    lines = [
        m + t(lang, "settings.header"),
        m + t(lang, "settings.language", value=language),
        m + t(lang, "settings.timezone", value=isolate(chat.timezone, 64)),
        m + t(lang, "settings.digest_time", value=chat.digest_time.strftime("%H:%M")),
    ]
    quiet_rows: tuple[Button, ...] = ()
    if chat.quiet_start is not None and chat.quiet_end is not None:
        hold = chat.quiet_mode is QuietMode.HOLD
        mode = t(lang, "settings.quiet_mode_hold" if hold else "settings.quiet_mode_digest")
        start, end = chat.quiet_start.strftime("%H:%M"), chat.quiet_end.strftime("%H:%M")
        lines.append(m + t(lang, "settings.quiet", start=start, end=end, mode=mode))
        quiet_rows = (
            Button(t(lang, "btn.quiet_hold" if hold else "btn.quiet_digest"), encode("st", "qm")),
            Button(t(lang, "btn.quiet_off"), encode("st", "qo")),
        )
    else:
        lines.append(m + t(lang, "settings.quiet_off"))
    lines.append(m + t(lang, "settings.empty_on" if chat.empty_digest else "settings.empty_off"))
    news = news_langs_text(lang, chat.news_langs)
    lines.append(m + t(lang, "settings.news_langs", value=news))
    lines.extend(m + line for line in settings_lines(lang, chat))
    if chat.paused:
        lines.append(m + t(lang, "settings.paused"))
    text = "\n".join(lines) + "\n\n" + m + t(lang, "settings.usage")
    text += "\n" + m + settings_usage(lang, chat)
    empty_key = "btn.empty_digest_on" if chat.empty_digest else "btn.empty_digest_off"
    keyboard = _rows(
        language_row(),
        (Button(t(lang, empty_key), encode("st", "ed")),),
        quiet_rows,
        tuple(Button(t(lang, f"btn.news_{code}"), encode("st", f"n{code}")) for code in NEWS_CODES),
        *settings_buttons(lang, chat),
        (Button(t(lang, "btn.digest_now"), encode("dg")),),
    )
    return Rendered(_fit(text), keyboard)
