"""Display-text cleaning and timestamp normalisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from bot.pipeline.clean import clean_text, flat_text, html_to_text, parse_timestamp

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_entities_and_whitespace() -> None:
    """Entities decode, runs of spaces collapse, paragraph breaks survive."""
    assert clean_text("a&nbsp;&amp;  b\n\n\n\n c ") == "a & b\n\nc"


def test_invisible_and_tatweel_removed() -> None:
    """Zero-width, bidi controls and tatweel disappear from Arabic text."""
    assert clean_text("\u200fالســـلام\u200b عليكم\u202b\u2066") == "السلام عليكم"


def test_nfc() -> None:
    """Decomposed characters are composed (NFC)."""
    assert clean_text("e\u0301") == "\u00e9"


def test_html_to_text_blocks() -> None:
    """Block elements become paragraphs, scripts vanish, br is a line break."""
    html = "<p>One &amp; <b>two</b></p><script>x()</script><div>three<br>four</div>"
    assert html_to_text(html) == "One & two\n\nthree\nfour"


def test_html_to_text_double_escape() -> None:
    """An escaped entity inside HTML stays literal after one decoding."""
    assert html_to_text("<p>AT&amp;amp;T</p>") == "AT&amp;T"


def test_html_to_text_hostile() -> None:
    """Broken markup never raises."""
    assert html_to_text("<<<>>><a href='x") is not None
    assert html_to_text("") == ""


def test_timestamp_rfc822() -> None:
    """RFC 822 dates with offsets become UTC."""
    assert parse_timestamp("Wed, 01 May 2024 13:00:00 +0200", NOW) == NOW - timedelta(hours=1)


def test_timestamp_iso_naive_is_utc() -> None:
    """Naive ISO timestamps are read as UTC."""
    assert parse_timestamp("2024-05-01T10:00:00", NOW) == NOW - timedelta(hours=2)


def test_timestamp_fallbacks() -> None:
    """Missing, garbage and future dates fall back to the fetch time."""
    assert parse_timestamp(None, NOW) == NOW
    assert parse_timestamp("not a date", NOW) == NOW
    assert parse_timestamp(NOW + timedelta(hours=1), NOW) == NOW
    assert parse_timestamp(NOW + timedelta(minutes=5), NOW) == NOW + timedelta(minutes=5)


def test_timestamp_aware_input() -> None:
    """Aware datetimes in other zones are converted to UTC."""
    tz = timezone(timedelta(hours=3))
    value = datetime(2024, 5, 1, 14, 0, tzinfo=tz)
    assert parse_timestamp(value, NOW) == datetime(2024, 5, 1, 11, 0, tzinfo=UTC)
    assert parse_timestamp(value, NOW).tzinfo == UTC


def test_html_to_text_keeps_text_nested_deeper_than_the_parser() -> None:
    """libxml2 drops what nests 255+ levels deep; the flat fallback keeps every word."""
    for depth in (10, 255, 300, 20_000):
        markup = (
            "<p>intro</p><script>bad()</script>"
            + "<div>" * depth
            + "hello <b>world</b>"
            + "</div>" * depth
            + "<p>outro</p><STYLE x>a{}</style >end"
        )
        assert html_to_text(markup).split() == ["intro", "hello", "world", "outro", "end"]


def test_flat_text_drops_scripts_and_survives_unclosed_markup() -> None:
    """Unclosed scripts drop the rest; a sea of "<" is text, not a tag."""
    assert flat_text("a<script>x()</script>b<style>c") == "a b"
    assert flat_text("x " + "<" * 50_000) == "x " + "<" * 50_000
    assert flat_text("<script" * 50_000) == ""
