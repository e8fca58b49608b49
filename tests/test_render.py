"""Message formats: content, escaping, right-to-left layout, local times, buttons."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from telegram import InlineKeyboardMarkup

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
from bot.presentation.callbacks import decode
from bot.presentation.render import (
    FSI,
    LRM,
    PDI,
    RLM,
    Button,
    DigestEntry,
    Rendered,
    clean,
    render_burst,
    render_digest,
    render_help,
    render_latest,
    render_mysubs,
    render_notice,
    render_push,
    render_search,
    render_settings,
    render_sources,
    render_start,
    render_stats,
    render_story_card,
    render_topics,
    split_html,
)
from handlers.markup import to_markup
from tests.test_render_properties import assert_valid_rendered, assert_valid_telegram_html

NOON = datetime(2025, 5, 14, 12, 0, tzinfo=UTC)
HOSTILE_TITLE = '<script>alert("x")</script> & Co'


def article(n: int, title: str = "Talks resume in Doha", lang: str = "en", **kw: object) -> Article:
    """A small article."""
    return Article(
        id=n,
        source_id=1,
        url=f"https://news.example/{n}?a=1&b=2",
        title=title,
        lang=lang,
        published_at=NOON,
        **kw,  # type: ignore[arg-type]
    )


STORY = Story(
    id=42,
    label="محادثات الدوحة",
    article_count=35,
    source_count=4,
    languages=("ar", "en"),
    first_seen=datetime(2025, 5, 1, 6, 0, tzinfo=UTC),
    last_seen=datetime(2025, 5, 14, 11, 55, tzinfo=UTC),
)


def data_of(rendered: Rendered) -> list[str]:
    """All callback data in a keyboard."""
    return [b.data for row in rendered.buttons for b in row if b.data]


def test_push_escapes_outside_text_and_links_headline() -> None:
    """Hostile headline, source and URL are escaped; attribute quotes are escaped."""
    item = Article(
        id=1,
        source_id=1,
        url='https://x.example/?q="1"&r=<2>',
        title=HOSTILE_TITLE,
        published_at=NOON,
    )
    r = render_push("en", "UTC", item, "A&B <News>", ["First & only."], [], [], None)
    assert_valid_rendered(r)
    assert "<script>" not in r.text
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &amp; Co' in r.text
    assert 'href="https://x.example/?q=&quot;1&quot;&amp;r=&lt;2&gt;"' in r.text
    assert "A&amp;B &lt;News&gt;" in r.text
    assert "First &amp; only." in r.text
    assert [[b.data for b in row] for row in r.buttons] == [["xs:1"]]  # no story: Mute source
    assert r.disable_preview is True


def test_push_layout_related_also_and_buttons() -> None:
    """Headline, source · local time, also:, summary, Related: and the three story buttons."""
    related = [(article(2, "عنوان عربي", "ar"), "الجزيرة"), (article(3, "Other view"), "BBC")]
    r = render_push(
        "en", "Asia/Riyadh", article(1), "Reuters", ["One.", "Two."], related, ["AP", "AFP"], STORY
    )
    assert_valid_rendered(r)
    assert "Reuters⁩ · 14 May 2025, 15:00" in r.text
    assert "also: ⁨AP⁩, ⁨AFP⁩" in r.text
    assert "One. Two." in r.text
    assert "<b>Related:</b>" in r.text
    assert f"{FSI}عنوان عربي{PDI}" in r.text
    assert r.text.index("Related") < r.text.index("عنوان عربي")
    assert data_of(r) == ["fs:42", "ms:42", "mo:42", "xs:1"]
    labels = [b.text for row in r.buttons for b in row]
    assert labels == ["➕ Follow story", "🔕 Mute story", "📖 More", "🔇 Mute source"]


def test_push_in_arabic_interface_is_right_to_left() -> None:
    """Arabic lines start with RLM; English headlines are isolated; Arabic labels used."""
    r = render_push("ar", "Africa/Cairo", article(1), "Reuters", [], [], ["AP"], STORY)
    lines = [line for line in r.text.split("\n") if line]
    assert lines[0].startswith(RLM)
    assert f"{FSI}Talks resume in Doha{PDI}" in r.text
    assert "أيضًا: " in r.text
    assert "14 مايو 2025، 15:00" in r.text
    assert [b.text for b in r.buttons[0]] == ["➕ متابعة القصة", "🔕 كتم القصة", "📖 المزيد"]


def test_summary_paragraph_follows_article_language() -> None:
    """An Arabic summary starts with RLM even in the English interface."""
    r = render_push("en", "UTC", article(1, "خبر", "ar"), "X", ["جملة."], [], [], None)
    assert f"\n\n{RLM}جملة." in r.text
    r = render_push("ar", "UTC", article(1), "X", ["A sentence."], [], [], None)
    assert f"\n\n{LRM}A sentence." in r.text


def test_bidi_overrides_in_outside_text_are_removed() -> None:
    """Outside text cannot inject overrides or isolates that break the layout."""
    assert clean("a\u202eb\u2066c\u2069d\x00e\ne") == "abcd e e"
    r = render_push("en", "UTC", article(1, "x\u202ey\u2069"), "S", [], [], [], None)
    assert "\u202e" not in r.text
    assert r.text.count(PDI) == r.text.count(FSI)


def test_unsafe_urls_are_not_linked() -> None:
    """javascript: and junk URLs render as plain text."""
    item = Article(id=1, source_id=1, url="javascript:alert(1)", title="T")
    r = render_push("en", "UTC", item, "S", [], [], [], None)
    assert "<a " not in r.text and "javascript" not in r.text


def test_burst_counts_in_both_languages() -> None:
    """N new in: label, with each item and its source."""
    items = [(article(i), "Src", ["Summary."]) for i in range(1, 4)]
    en = render_burst("en", "UTC", STORY, items)
    ar = render_burst("ar", "UTC", STORY, items)
    assert_valid_rendered(en)
    assert f"3 new in: {FSI}محادثات الدوحة{PDI}" in en.text
    assert "3 أخبار جديدة في:" in ar.text
    assert "جديد في:" in render_burst("ar", "UTC", STORY, items[:1]).text
    assert "ms:42" in data_of(en)


def test_digest_format_and_more_updates() -> None:
    """Label, new count, summary line, two headlines, and the N-more footer."""
    entry = DigestEntry(
        STORY, 4, "Talks resumed & stalled.", [(article(i), "AP") for i in range(3)]
    )
    parts = render_digest("en", "UTC", [entry], 7, date(2025, 5, 14))
    assert len(parts) == 1
    text = parts[0]
    assert_valid_telegram_html(text)
    assert "Your digest — 14 May 2025" in text
    assert "4 new articles" in text
    assert "Talks resumed &amp; stalled." in text
    assert text.count("<a ") == 2
    assert "…and 7 more updates" in text
    ar = render_digest("ar", "UTC", [entry], 2, date(2025, 5, 14))[0]
    assert "ملخصك — 14 مايو 2025" in ar and "4 أخبار جديدة" in ar and "وتحديثان آخران" in ar


def test_empty_digest_message() -> None:
    """No entries renders the localized empty digest."""
    (text,) = render_digest("ar", "UTC", [], 0, date(2025, 5, 14))
    assert "لا جديد" in text


def test_long_digest_splits_cleanly() -> None:
    """A big digest splits on story boundaries, each part valid and ≤ 4096."""
    entries = [
        DigestEntry(
            Story(id=i, label=f"Story {i} " + "word " * 30),
            i,
            "A long line " * 20,
            [(article(i * 10 + k, "Headline " * 15), "Source") for k in range(2)],
        )
        for i in range(1, 40)
    ]
    parts = render_digest("en", "UTC", entries, 0, date(2025, 5, 14))
    assert len(parts) > 1
    for part in parts:
        assert_valid_telegram_html(part)
        assert part.count("<b>") == part.count("</b>")
    assert all(p.lstrip(LRM).startswith(("<b>", LRM)) for p in parts)
    assert "".join(parts).count("Story 39") == 1


def test_search_groups_paging_and_follow_button() -> None:
    """Results are grouped by story; ◀ ▶ and Follow this search carry the query token."""
    page = SearchPage(
        query='ceasefire "talks" <b>',
        groups=((STORY, (article(1, source_name="AP"),)), (None, (article(2),))),
        page=1,
        has_more=True,
    )
    r = render_search("en", "UTC", page, 77)
    assert_valid_rendered(r)
    assert 'Results for “⁨ceasefire "talks" &lt;b&gt;⁩”' in r.text
    assert "Page 2" in r.text
    assert "Other articles" in r.text
    assert data_of(r) == ["sp:77:0", "sp:77:2", "fq:77"]
    empty = render_search("ar", "UTC", SearchPage("حلب", (), 0, False), 5)
    assert "لا نتائج" in empty.text and data_of(empty) == ["fq:5"]


def test_topics_counts_age_and_buttons() -> None:
    """Each story shows counts and age, a Follow button, and paging."""
    r = render_topics("en", [STORY, Story(id=43, label="Second")], 0, True, NOON)
    assert_valid_rendered(r)
    assert "35 articles · 4 sources · updated 5 min ago" in r.text
    assert data_of(r) == ["fs:42", "fs:43", "tp:1"]
    ar = render_topics("ar", [STORY], 2, False, NOON)
    assert "35 خبرًا · 4 مصادر · آخر تحديث منذ 5 دقائق" in ar.text
    assert "الصفحة 3" in ar.text and data_of(ar) == ["fs:42", "tp:1"]
    assert "No stories yet" in render_topics("en", [], 0, False, NOON).text


def test_story_card_timeline_in_chat_timezone() -> None:
    """Label, counts, summary and a timeline with local times; buttons on the last part."""
    timeline = [(article(1), "AP"), (article(2, "عنوان", "ar"), "الجزيرة")]
    parts = render_story_card("en", "America/New_York", STORY, ["Summary."], timeline)
    assert len(parts) == 1
    text = parts[0].text
    assert "35 articles · 4 sources · since 1 May 2025" in text
    assert "<b>Timeline</b>" in text
    assert "14 May 2025, 08:00 — " in text
    assert data_of(parts[0]) == ["fs:42", "ms:42"]
    long_timeline = [(article(i, "Long headline " * 15), "Source") for i in range(80)]
    parts = render_story_card("ar", "UTC", STORY, [], long_timeline)
    assert len(parts) > 1
    for part in parts:
        assert_valid_rendered(part)
    assert parts[-1].buttons and not parts[0].buttons


def test_mysubs_lists_follows_with_buttons() -> None:
    """Story and keyword follows with mode, mute state and three buttons each."""
    follows = [
        Follow(id=1, chat_id=5, kind=FollowKind.STORY, story_id=42),
        Follow(
            id=2,
            chat_id=5,
            kind=FollowKind.KEYWORD,
            query="<Maduro>",
            mode=DeliveryMode.DIGEST,
            muted=True,
        ),
        Follow(id=3, chat_id=5, kind=FollowKind.STORY, story_id=99),
    ]
    r = render_mysubs("en", follows, {42: STORY.label})
    assert_valid_rendered(r)
    assert "📰 ⁨محادثات الدوحة⁩" in r.text
    assert "🔎 “⁨&lt;Maduro&gt;⁩”" in r.text
    assert "digest only, muted" in r.text
    assert "story #99 (no longer available)" in r.text
    assert [b.data for b in r.buttons[1]] == ["rm:2", "md:2", "mu:2"]
    assert [b.text for b in r.buttons[1]] == ["2 · ✖ Remove", "⚡ Instant", "🔔 Unmute"]
    assert [b.text for b in r.buttons[0]][1:] == ["🗞 Digest only", "🔕 Mute"]
    assert "لا تتابع شيئًا" in render_mysubs("ar", [], {}).text


def test_latest_and_sources_and_stats() -> None:
    """Latest list, operator source list with states, stats lines."""
    latest = render_latest("en", "UTC", [article(1, source_name="AP")])
    assert "Talks resume in Doha" in latest.text and "AP" in latest.text
    assert "No articles yet." in render_latest("en", "UTC", []).text
    paged = render_latest("en", "UTC", [article(1, source_name="AP")], page=1, has_more=True)
    assert [b.data for row in paged.buttons for b in row] == ["lp:0", "lp:2"]
    assert latest.buttons == ()
    sources = [
        Source(id=1, name="Al <Jazeera>", url="https://aj.example/rss?x=1&y=2"),
        Source(
            id=2,
            name="B",
            url="https://b.example",
            paused=True,
            error_count=3,
            last_error="<timeout>",
        ),
    ]
    (text,) = render_sources("en", sources)
    assert_valid_telegram_html(text)
    assert "Al &lt;Jazeera&gt;" in text and "x=1&amp;y=2" in text
    assert "paused · 3 errors" in text and "last error: &lt;timeout&gt;" in text
    stats = render_stats("ar", Stats(sources_total=1200, queue={"pending": 3, "sent": 10}))
    assert_valid_telegram_html(stats)
    assert "المصادر: 1,200" in stats and "pending 3, sent 10" in stats


def test_settings_shows_values_usage_and_toggles() -> None:
    """Settings list current values and offer language/toggle buttons."""
    chat = Chat(
        id=1,
        language="ar",
        timezone="Asia/Riyadh",
        digest_time=time(7, 30),
        quiet_start=time(22, 0),
        quiet_end=time(6, 0),
        quiet_mode=QuietMode.DIGEST,
        empty_digest=True,
        paused=True,
    )
    r = render_settings("ar", chat)
    assert_valid_rendered(r)
    assert "اللغة: العربية" in r.text and "07:30" in r.text and "22:00–06:00" in r.text
    assert "Asia/Riyadh" in r.text and "/settings time" in r.text and "⏸" in r.text
    assert data_of(r) == [
        "lg:en", "lg:ar", "st:ed", "st:qm", "st:qo", "st:nar", "st:nen", "st:nboth",
        "st:pa", "st:po", "dg",
    ]  # fmt: skip
    en = render_settings("en", Chat(id=1))
    assert "Quiet hours: off" in en.text and "Empty digest: not sent" in en.text
    assert "News languages: English, with linked coverage in the other language" in en.text
    both = render_settings("en", Chat(id=1, news_langs="both"))
    assert "News languages: Arabic and English" in both.text
    assert "st:qo" not in data_of(en)


def test_start_help_and_notice() -> None:
    """Start offers languages; help lists every command; notices escape their values."""
    start = render_start("en", time(8, 0))
    assert "08:00" in start.text and data_of(start) == ["lg:en", "lg:ar"]
    assert [b.text for b in start.buttons[0]] == ["English", "العربية"]
    help_text = render_help("ar", is_admin=True).text
    for command in (
        "/start",
        "/topics",
        "/stop",
        "/sources",
        "/addsource",
        "/removesource",
        "/stats",
    ):
        assert command in help_text
    assert "/stats" not in render_help("en").text
    notice = render_notice("en", "follow.ok", query="<b>x</b> & y")
    assert "“&lt;b&gt;x&lt;/b&gt; &amp; y”" in notice.text
    assert_valid_rendered(notice)


def test_split_prefers_paragraphs_and_reopens_tags() -> None:
    """Cuts fall on blank lines first; a tag cut in two is closed and reopened."""
    text = "\n\n".join(f"<b>Para {i}</b> " + "word " * 10 for i in range(10))
    parts = split_html(text, 200)
    assert all(len(p) <= 200 for p in parts)
    assert all(p.startswith("<b>Para") for p in parts)
    long_link = '<a href="https://x.example/?a=1&amp;b=2">' + "w &amp; " * 100 + "</a>"
    parts = split_html(long_link, 120)
    assert len(parts) > 1
    for part in parts:
        assert_valid_telegram_html(part, 120)
        assert part.startswith('<a href="https://x.example/?a=1&amp;b=2">')
        assert part.endswith("</a>")
    assert split_html("short") == ["short"]


def test_to_markup() -> None:
    """Keyboards become InlineKeyboardMarkup; none becomes None."""
    r = Rendered("x", ((Button("A", "fs:1"), Button("B", url="https://x.example")),))
    markup = to_markup(r)
    assert isinstance(markup, InlineKeyboardMarkup)
    assert markup.inline_keyboard[0][0].callback_data == "fs:1"
    assert markup.inline_keyboard[0][1].url == "https://x.example"
    assert to_markup(Rendered("x")) is None
    assert decode(markup.inline_keyboard[0][0].callback_data or "").int_arg(0) == 1
