"""Property tests: whatever the input text, every rendered part is valid Telegram HTML."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import (
    Article,
    Chat,
    DeliveryMode,
    Follow,
    FollowKind,
    SearchPage,
    Source,
    Story,
)
from bot.presentation.render import (
    DigestEntry,
    Rendered,
    render_burst,
    render_digest,
    render_mysubs,
    render_notice,
    render_push,
    render_search,
    render_settings,
    render_sources,
    render_story_card,
    render_topics,
    split_html,
)

LIMIT = 4096
ALLOWED_ATTRS: dict[str, set[str]] = {
    "b": set(),
    "i": set(),
    "u": set(),
    "s": set(),
    "a": {"href"},
    "code": {"class"},
    "pre": set(),
    "blockquote": {"expandable"},
    "tg-spoiler": set(),
}
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_TAG = re.compile(r'</?[a-z][a-z-]*(?:\s+[a-z]+="[^"<>]*")*\s*>')


def units(text: str) -> int:
    """Length in UTF-16 code units (Telegram's count)."""
    return len(text.encode("utf-16-le")) // 2


class _Checker(HTMLParser):
    """Collects structural problems in a Telegram-HTML string."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_ATTRS:
            self.problems.append(f"tag <{tag}> not allowed")
            return
        for name, value in attrs:
            if name not in ALLOWED_ATTRS[tag] or (value is None and tag == "a"):
                self.problems.append(f"attribute {name!r} not allowed on <{tag}>")
        if tag == "a" and not any(name == "href" for name, _ in attrs):
            self.problems.append("<a> without href")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"unbalanced </{tag}> (open: {self.stack})")
        else:
            self.stack.pop()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing <{tag}/>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))

    def handle_comment(self, data: str) -> None:
        self.problems.append("comment")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("declaration")

    def handle_pi(self, data: str) -> None:
        self.problems.append("processing instruction")


def assert_valid_telegram_html(text: str, limit: int = LIMIT) -> str:
    """Fail unless ``text`` is valid, non-empty Telegram HTML within ``limit``; return its text."""
    assert units(text) <= limit, f"{units(text)} > {limit}"
    for match in re.finditer("&", text):
        assert _ENTITY.match(text, match.start()), f"bad entity at {text[match.start() :][:20]!r}"
    for match in re.finditer("<", text):
        assert _TAG.match(text, match.start()), f"bad tag at {text[match.start() :][:40]!r}"
    assert ">" not in _TAG.sub("", text), "stray '>'"
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert not checker.problems, checker.problems
    assert not checker.stack, f"unclosed tags {checker.stack}"
    plain = "".join(checker.text)
    assert plain.strip(), "empty message"
    for ch in plain:
        assert not 0xD800 <= ord(ch) <= 0xDFFF, "lone surrogate"
    return plain


def assert_valid_rendered(rendered: Rendered) -> None:
    """A rendered message is valid HTML and its callback data fits 64 bytes."""
    assert_valid_telegram_html(rendered.text)
    for row in rendered.buttons:
        assert row
        for button in row:
            assert button.text
            assert button.data is None or len(button.data.encode()) <= 64


HOSTILE = [
    "<script>alert(1)</script>",
    "&amp; & &lt; &#0; &#xZZ; &",
    "\"quoted\" 'single' `tick`",
    "\u200b\u200c\u200d\ufeff",
    "\u200f\u200e\u202e\u202d\u2066\u2067\u2068\u2069",
    "عاجل: <b>حلب</b> & «دمشق»",
    "👨‍👩‍👧‍👦🇸🇾🏳️‍🌈",
    "a\x00b\x1bc\r\nd\u2028e",
    "</a></b><a href='x'>",
    'https://evil.example/"><b>',
]
text_st = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60),
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from(HOSTILE), max_size=8).map(" ".join),
    st.tuples(st.sampled_from(HOSTILE), st.integers(100, 400)).map(lambda p: p[0] * p[1]),
)
url_st = st.one_of(
    st.just('https://example.com/a?x=1&y="2"<'),
    st.text(max_size=50),
    st.text(alphabet="abc/&\"'<>", max_size=40).map(lambda s: "https://h.example/" + s),
    st.just("javascript:alert(1)"),
)
lang_st = st.sampled_from(["en", "ar"])
tz_st = st.sampled_from(["UTC", "Asia/Riyadh", "America/New_York", "Not/AZone", ""])
when_st = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)


@st.composite
def articles(draw: st.DrawFn) -> Article:
    """An article made of hostile text."""
    return Article(
        id=draw(st.integers(1, 10**9)),
        source_id=1,
        url=draw(url_st),
        title=draw(text_st),
        lede=draw(text_st),
        lang=draw(st.sampled_from(["ar", "en", "", "xx"])),
        published_at=draw(when_st),
        source_name=draw(st.one_of(st.none(), text_st)),
        summary=tuple(draw(st.lists(text_st, max_size=3))),
    )


@st.composite
def stories(draw: st.DrawFn) -> Story:
    """A story with a hostile label."""
    return Story(
        id=draw(st.integers(1, 2**31 - 1)),
        label=draw(text_st),
        article_count=draw(st.integers(0, 10**6)),
        source_count=draw(st.integers(0, 1000)),
        first_seen=draw(when_st),
        last_seen=draw(when_st),
    )


FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.large_base_example,
        HealthCheck.data_too_large,
    ],
)


@FAST
@given(
    lang_st,
    tz_st,
    articles(),
    text_st,
    st.lists(text_st, max_size=4),
    st.lists(st.tuples(articles(), text_st), max_size=7),
    st.lists(text_st, max_size=6),
    st.one_of(st.none(), stories()),
)
def test_push_is_valid_html(
    lang: str,
    tz: str,
    article: Article,
    source: str,
    summary: list[str],
    related: list[tuple[Article, str]],
    also: list[str],
    story: Story | None,
) -> None:
    """Pushes are valid Telegram HTML for any text."""
    assert_valid_rendered(render_push(lang, tz, article, source, summary, related, also, story))


@FAST
@given(
    lang_st,
    tz_st,
    stories(),
    st.lists(st.tuples(articles(), text_st, st.lists(text_st, max_size=2)), min_size=1, max_size=8),
)
def test_burst_is_valid_html(
    lang: str, tz: str, story: Story, items: list[tuple[Article, str, list[str]]]
) -> None:
    """Folded bursts are valid Telegram HTML for any text."""
    assert_valid_rendered(render_burst(lang, tz, story, items))


@FAST
@given(
    lang_st,
    tz_st,
    st.lists(
        st.builds(
            DigestEntry,
            stories(),
            st.integers(0, 10**5),
            text_st,
            st.lists(st.tuples(articles(), text_st), max_size=3),
        ),
        max_size=25,
    ),
    st.integers(0, 10**4),
)
def test_digest_parts_are_valid_html(
    lang: str, tz: str, entries: list[DigestEntry], more: int
) -> None:
    """Every digest part is valid Telegram HTML within 4096 characters."""
    parts = render_digest(lang, tz, entries, more, date(2025, 5, 14))
    assert parts
    for part in parts:
        assert_valid_telegram_html(part)


@FAST
@given(
    lang_st,
    tz_st,
    text_st,
    st.lists(
        st.tuples(st.one_of(st.none(), stories()), st.lists(articles(), max_size=6).map(tuple)),
        max_size=6,
    ),
    st.integers(0, 50),
    st.booleans(),
)
def test_search_is_valid_html(
    lang: str,
    tz: str,
    query: str,
    groups: list[tuple[Story | None, tuple[Article, ...]]],
    page: int,
    more: bool,
) -> None:
    """Search pages are valid Telegram HTML for any query and results."""
    result = SearchPage(query=query, groups=tuple(groups), page=page, has_more=more)
    assert_valid_rendered(render_search(lang, tz, result, 12345))


@FAST
@given(lang_st, st.lists(stories(), max_size=12), st.integers(0, 100), st.booleans(), when_st)
def test_topics_are_valid_html(
    lang: str, items: list[Story], page: int, more: bool, now: datetime | None
) -> None:
    """Topic lists are valid Telegram HTML for any labels."""
    assert_valid_rendered(render_topics(lang, items, page, more, now or datetime.now(UTC)))


@FAST
@given(
    lang_st,
    tz_st,
    stories(),
    st.lists(text_st, max_size=3),
    st.lists(st.tuples(articles(), text_st), max_size=60),
)
def test_story_card_parts_are_valid_html(
    lang: str, tz: str, story: Story, summary: list[str], timeline: list[tuple[Article, str]]
) -> None:
    """Every story-card part is valid HTML; only the last carries buttons."""
    parts = render_story_card(lang, tz, story, summary, timeline)
    for part in parts:
        assert_valid_rendered(part)
    assert parts[-1].buttons
    assert all(not p.buttons for p in parts[:-1])


@FAST
@given(
    lang_st,
    st.lists(
        st.builds(
            Follow,
            id=st.integers(1, 10**9),
            chat_id=st.integers(-(10**12), 10**12),
            kind=st.sampled_from(list(FollowKind)),
            story_id=st.one_of(st.none(), st.integers(1, 50)),
            query=st.one_of(st.none(), text_st),
            mode=st.sampled_from(list(DeliveryMode)),
            muted=st.booleans(),
        ),
        max_size=40,
    ),
    st.dictionaries(st.integers(1, 50), text_st, max_size=10),
)
def test_mysubs_is_valid_html(lang: str, follows: list[Follow], labels: dict[int, str]) -> None:
    """The follows list is valid Telegram HTML for any query or label."""
    assert_valid_rendered(render_mysubs(lang, follows, labels))


@FAST
@given(
    lang_st,
    st.lists(
        st.builds(
            Source,
            id=st.integers(1, 10**6),
            name=text_st,
            url=url_st,
            enabled=st.booleans(),
            paused=st.booleans(),
            error_count=st.integers(0, 100),
            last_error=st.one_of(st.none(), text_st),
        ),
        max_size=60,
    ),
)
def test_sources_are_valid_html(lang: str, sources: list[Source]) -> None:
    """The source list is valid Telegram HTML in every part."""
    for part in render_sources(lang, sources):
        assert_valid_telegram_html(part)


@FAST
@given(lang_st, text_st, tz_st)
def test_notice_and_settings_are_valid_html(lang: str, value: str, tz: str) -> None:
    """Notices with outside values and the settings screen are valid HTML."""
    assert_valid_rendered(render_notice(lang, "follow.ok", query=value))
    assert_valid_rendered(render_notice(lang, "settings.invalid_timezone", value=value))
    assert_valid_rendered(render_settings(lang, Chat(id=1, language=lang, timezone=value or tz)))


@st.composite
def html_documents(draw: st.DrawFn) -> str:
    """Well-formed Telegram HTML built from escaped text, nested tags and breaks."""

    def fragment(depth: int) -> str:
        kind = draw(st.integers(0, 9 if depth < 3 else 3))
        if kind <= 3:
            raw = draw(st.one_of(text_st, st.sampled_from(HOSTILE)))
            return html.escape(raw, quote=False)
        if kind <= 5:
            return draw(st.sampled_from(["\n", "\n\n", " ", "\n\n\n"]))
        tag = draw(st.sampled_from(["b", "i", "u", "s", "code", "a", "blockquote", "tg-spoiler"]))
        inner = "".join(fragment(depth + 1) for _ in range(draw(st.integers(1, 3))))
        if tag == "a":
            href = html.escape("https://x.example/?q=" + draw(st.text(max_size=30)), quote=True)
            return f'<a href="{href}">{inner}</a>'
        return f"<{tag}>{inner}</{tag}>"

    body = "".join(fragment(0) for _ in range(draw(st.integers(1, 12))))
    return body if body.strip() else body + "x"


def _letters(text: str) -> str:
    """The visible characters of Telegram HTML, whitespace removed."""
    plain = html.unescape(re.sub(r"<[^<>]*>", "", text))
    return "".join(plain.split())


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(html_documents(), st.sampled_from([120, 300, 1000, 4096]))
def test_split_html_keeps_parts_valid_and_loses_nothing(text: str, limit: int) -> None:
    """Splitting keeps each part valid and within the limit, and keeps every character."""
    parts = split_html(text, limit)
    if not _letters(text):
        return
    for part in parts:
        if _letters(part):
            assert_valid_telegram_html(part, limit)
        else:
            assert units(part) <= limit
    assert "".join(_letters(p) for p in parts) == _letters(text)
