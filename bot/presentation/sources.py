"""Operator views: the /sources pages, operator notices and the /import report (pure).

Every piece of outside text (source names, URLs, errors, notices) is cleaned, clipped and
escaped; each page fits one Telegram message with its buttons, and the notice digest is
split safely under the 4096 limit.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Final

from bot.domain import OperatorNotice, Source
from bot.pipeline.notices import read_notice
from bot.presentation.callbacks import encode
from bot.presentation.i18n import format_age, t, tn
from bot.presentation.message import Button, Rendered
from bot.presentation.render import (
    MAX_MESSAGE,
    SOURCE_MAX,
    esc,
    isolate,
    mark,
    split_html,
)

PAGE_SIZE: Final = 8  # sources per /sources page (each ≤ ~500 characters: a page fits)
URL_SHOWN: Final = 120
ERROR_SHOWN: Final = 160
NOTICE_SHOWN: Final = 400
REJECTED_SHOWN: Final = 10


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    """How many pages `total` sources take (at least one)."""
    return max(1, -(-total // size))


def clamp_page(page: int, total: int, size: int = PAGE_SIZE) -> int:
    """A page number within the list (a stale button after removals lands on the last)."""
    return min(max(0, page), page_count(total, size) - 1)


def _kind(lang: str, source: Source) -> str:
    """The source's kind in words."""
    kind = str(source.kind)
    return t(lang, f"sources.kind_{kind}" if kind in ("feed", "page") else "sources.kind_unknown")


def _language(lang: str, source: Source) -> str:
    """The source's language hint in words."""
    code = (source.lang or "").lower()
    return t(lang, f"sources.lang_{code}" if code in ("ar", "en") else "sources.lang_auto")


def _state(lang: str, source: Source) -> str:
    """Active, paused or disabled, with the consecutive error count."""
    if not source.enabled:
        state = t(lang, "sources.state_disabled")
    elif source.paused:
        state = "⏸ " + t(lang, "sources.state_paused")
    else:
        state = t(lang, "sources.state_ok")
    if source.error_count:
        state += " · " + tn(lang, "count.errors", source.error_count)
    return state


def _success(lang: str, source: Source, now: _dt.datetime) -> str:
    """When the source was last fetched successfully, relative to now."""
    when = source.last_success_at
    if when is None:
        return t(lang, "sources.never")
    aware = when if when.tzinfo is not None else when.replace(tzinfo=_dt.UTC)
    return t(lang, "sources.last_success", when=format_age(lang, now - aware))


def source_block(lang: str, source: Source, now: _dt.datetime) -> str:
    """One source: name and state, kind, language, last success, last error and URL."""
    m = mark(lang)
    lines = [
        f"{m}<b>#{source.id}</b> {isolate(source.name, SOURCE_MAX)} — {_state(lang, source)}",
        f"{m}{_kind(lang, source)} · {_language(lang, source)} · {_success(lang, source, now)}",
    ]
    if source.last_error:
        error = esc(source.last_error, ERROR_SHOWN)
        lines.append(f"{m}<i>{t(lang, 'sources.last_error', error=error)}</i>")
    lines.append(f"{m}<code>{esc(source.url, URL_SHOWN)}</code>")
    return "\n".join(lines)


def _toggle_button(lang: str, source: Source, page: int) -> Button:
    """Pause or resume one source from the list."""
    key = "btn.resume_source" if source.paused else "btn.pause_source"
    return Button(t(lang, key, id=source.id), encode("sx", source.id, page))


def render_source_page(
    lang: str, sources: Sequence[Source], page: int, now: _dt.datetime
) -> Rendered:
    """One page of the operator's source list with pause/resume and paging buttons."""
    m = mark(lang)
    if not sources:
        return Rendered(m + t(lang, "sources.empty"))
    page = clamp_page(page, len(sources))
    start = page * PAGE_SIZE
    shown = list(sources[start : start + PAGE_SIZE])
    header = t(
        lang,
        "sources.page_header",
        first=start + 1,
        last=start + len(shown),
        total=len(sources),
    )
    text = "\n\n".join([m + header, *(source_block(lang, s, now) for s in shown)])
    if len(text.encode("utf-16-le")) // 2 > MAX_MESSAGE:
        text = split_html(text, MAX_MESSAGE)[0]
    toggles = [_toggle_button(lang, s, page) for s in shown]
    rows = [tuple(toggles[i : i + 4]) for i in range(0, len(toggles), 4)]
    nav = []
    if page > 0:
        nav.append(Button(t(lang, "btn.prev"), encode("sv", page - 1)))
    if start + PAGE_SIZE < len(sources):
        nav.append(Button(t(lang, "btn.next"), encode("sv", page + 1)))
    if nav:
        rows.append(tuple(nav))
    return Rendered(text, tuple(rows))


def notice_line(lang: str, text: str) -> str:
    """One notice in the operator's language (a line in an unknown format as it is)."""
    facts = read_notice(text)
    if facts is None:
        return esc(text, NOTICE_SHOWN)
    return t(
        lang,
        f"notices.{facts.kind}",
        id=facts.source_id,
        name=isolate(facts.name, SOURCE_MAX),
        n=facts.failures,
        error=esc(facts.error, ERROR_SHOWN),
    )


def render_notices(
    lang: str, notices: Sequence[OperatorNotice], now: _dt.datetime, waiting: int = 0
) -> list[str]:
    """Operator notices coalesced into as few messages as fit (newest last); `waiting`
    more are still queued for the next run."""
    m = mark(lang)
    blocks = [m + tn(lang, "notices.header", len(notices) + waiting)]
    for notice in notices:
        when = notice.created_at
        age = ""
        if when is not None:
            aware = when if when.tzinfo is not None else when.replace(tzinfo=_dt.UTC)
            age = f" <i>({format_age(lang, now - aware)})</i>"
        blocks.append(f"{m}• {notice_line(lang, notice.text)}{age}")
    if waiting:
        blocks.append(m + tn(lang, "notices.more", waiting))
    return split_html("\n".join(blocks), MAX_MESSAGE)


def render_import_report(
    lang: str,
    added: Sequence[tuple[int, str]],
    present: int,
    rejected: Sequence[tuple[str, str]],
    truncated: bool,
) -> list[str]:
    """What an import did: counts, the added sources and the first rejections with reasons."""
    m = mark(lang)
    lines = [
        m
        + t(
            lang,
            "import.result",
            added=len(added),
            present=present,
            rejected=len(rejected),
        )
    ]
    lines += [f"{m}➕ #{sid} {isolate(name, SOURCE_MAX)}" for sid, name in added[:20]]
    for what, why in rejected[:REJECTED_SHOWN]:
        lines.append(f"{m}✖️ <code>{esc(what, URL_SHOWN)}</code>: {esc(why, ERROR_SHOWN)}")
    if len(rejected) > REJECTED_SHOWN:
        lines.append(m + tn(lang, "import.more_rejected", len(rejected) - REJECTED_SHOWN))
    if truncated:
        lines.append(m + t(lang, "import.truncated"))
    return split_html("\n".join(lines), MAX_MESSAGE)
