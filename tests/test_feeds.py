"""Feed parsing: every shared fixture plus small golden feeds, one expectation each."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.pipeline.feeds import looks_like_feed, parse_feed
from tests.datapaths import data_path

NOW = datetime(2025, 1, 1, tzinfo=UTC)
URL = "https://news.example.com/feeds/main.xml"


def _headers(raw: list[str] | None) -> dict[str, str]:
    """Turn manifest 'Name: value' lines into a header mapping."""
    pairs = (line.split(":", 1) for line in raw or [] if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def test_every_shared_feed_parses() -> None:
    """No shared fixture raises; ill-formed ones keep what can be saved and record an error."""
    root = data_path("feeds")
    rows = [json.loads(line) for line in (root / "manifest.jsonl").open(encoding="utf-8")]
    assert len(rows) >= 275
    for row in rows:
        data = (root / row["file"]).read_bytes()
        feed = parse_feed(data, URL, _headers(row["http_headers"]), NOW)
        assert feed.kind in ("rss", "atom", "rdf", "json")
        if row["id"].endswith("rss_empty_document.xml"):
            assert feed.error, row["id"]
        for item in feed.items:
            assert item.published.tzinfo is not None
            assert item.guid


def test_shared_encoding_expectations() -> None:
    """HTTP charsets override XML declarations as the fixtures intend."""
    root = data_path("feeds")
    rows = {json.loads(line)["id"]: json.loads(line) for line in (root / "manifest.jsonl").open()}
    cases = {
        "feedparser/encoding/big5.xml": "big5",
        "feedparser/encoding/http_application_atom_xml_gb2312_charset.xml": "gb18030",
        "feedparser/encoding/http_text_xml_default.xml": "us-ascii",
        "feedparser/encoding/no_content_type_encoding.xml": "iso-8859-1",
    }
    for fid, encoding in cases.items():
        row = rows[fid]
        feed = parse_feed(
            (root / row["file"]).read_bytes(), URL, _headers(row["http_headers"]), NOW
        )
        assert feed.encoding == encoding, fid


def _rss(items: str, *, encoding: str = "utf-8", lang: str = "ar") -> str:
    """Wrap item markup in a minimal RSS 2.0 document."""
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel>'
        f"<title>أخبار</title><link>https://news.example.com/</link><language>{lang}</language>"
        f"{items}</channel></rss>"
    )


ARABIC_TITLE = "لافروف وكيري يبحثان الوضع السوري في جنيف"
ARABIC_ITEM = (
    f"<item><title>{ARABIC_TITLE}</title><link>/world/1.html</link><guid>a1</guid>"
    "<pubDate>Wed, 24 Aug 2016 10:00:00 +0300</pubDate>"
    "<description>أكدت وزارة الخارجية الروسية أن الوزير سيلتقي نظيره</description></item>"
)


def test_windows1256_declared() -> None:
    """windows-1256 Arabic RSS with a correct declaration decodes."""
    feed = parse_feed(_rss(ARABIC_ITEM, encoding="windows-1256").encode("cp1256"), URL, {}, NOW)
    assert feed.items[0].title == ARABIC_TITLE and feed.error is None


def test_windows1256_mislabelled_as_utf8() -> None:
    """windows-1256 bytes declared as UTF-8 still decode to Arabic."""
    feed = parse_feed(_rss(ARABIC_ITEM).encode("cp1256"), URL, {}, NOW)
    assert feed.items[0].title == ARABIC_TITLE


def test_windows1256_with_wrong_http_charset() -> None:
    """windows-1256 bytes served as ISO-8859-1 still decode to Arabic."""
    headers = {"Content-Type": "application/rss+xml; charset=ISO-8859-1"}
    data = _rss(ARABIC_ITEM, encoding="iso-8859-1").encode("cp1256")
    assert parse_feed(data, URL, headers, NOW).items[0].title == ARABIC_TITLE


def test_easc_article_as_feed() -> None:
    """A real EASC windows-1256 article wrapped in an undeclared RSS decodes exactly."""
    path = next(iter(sorted(data_path("easc", "raw_windows1256").glob("*/article.txt"))))
    raw = path.read_bytes().strip()
    text = raw.decode("cp1256")
    data = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>EASC</title><item>'
        b"<title>t</title><guid>e1</guid><description><![CDATA["
        + raw
        + b"]]></description></item></channel></rss>"
    )
    summary = parse_feed(data, URL, {}, NOW).items[0].summary
    assert summary.split() == text.split()


def test_relative_links_resolved() -> None:
    """Relative item links resolve against the feed URL and are canonical."""
    item = "<item><title>x</title><link>../a/b?utm_source=rss&amp;id=2#c</link></item>"
    feed = parse_feed(_rss(item).encode(), URL, {}, NOW)
    assert feed.items[0].url == "https://news.example.com/a/b?id=2"


def test_hostile_html_in_items_leaves_only_text() -> None:
    """Scripts, styles, handlers and comments in titles and descriptions never reach the text."""
    description = (
        "<![CDATA[<p onclick='steal()'>Rain <b>hits</b> Jeddah</p><script>alert(1)</script>"
        "<style>p{}</style><!-- hidden --><iframe src='javascript:x'>frame</iframe>"
        "<img src=x onerror=alert(2)>Roads closed]]>"
    )
    item = (
        "<item><title>&lt;b onmouseover='x()'&gt;Floods&lt;/b&gt; &lt;i&gt;now&lt;/i&gt;</title>"
        f"<guid>h1</guid><description>{description}</description></item>"
    )
    parsed = parse_feed(_rss(item).encode(), URL, {}, NOW).items[0]
    assert parsed.title == "Floods now"
    assert parsed.summary.split() == ["Rain", "hits", "Jeddah", "Roads", "closed"]


def test_missing_date_falls_back() -> None:
    """An item without a date gets the fetch time."""
    feed = parse_feed(_rss("<item><title>x</title><guid>g</guid></item>").encode(), URL, {}, NOW)
    assert feed.items[0].published == NOW and not feed.items[0].has_date


def test_future_date_falls_back() -> None:
    """An item dated in the future gets the fetch time."""
    item = "<item><title>x</title><pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>"
    assert parse_feed(_rss(item).encode(), URL, {}, NOW).items[0].published == NOW


def test_duplicate_guids_kept_once() -> None:
    """Two items with one guid yield one item (the first)."""
    items = "<item><title>first</title><guid>dup</guid></item><item><title>second</title><guid>dup</guid></item>"
    feed = parse_feed(_rss(items).encode(), URL, {}, NOW)
    assert [i.title for i in feed.items] == ["first"]


def test_html_in_titles_stripped() -> None:
    """Escaped HTML in a title becomes plain text."""
    item = "<item><title>&lt;b&gt;Breaking&lt;/b&gt; news &amp;amp; more</title></item>"
    assert parse_feed(_rss(item).encode(), URL, {}, NOW).items[0].title == "Breaking news & more"


def test_rtl_text_cleaned() -> None:
    """RTL titles lose bidi controls and tatweel but keep their words."""
    item = "<item><title>\u202bاشتبــــاكات حلب\u202c</title></item>"
    assert parse_feed(_rss(item).encode(), URL, {}, NOW).items[0].title == "اشتباكات حلب"


def test_atom_content_and_lang() -> None:
    """Atom entries give full content, UTC dates and xml:lang."""
    data = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">'
        b"<title>T</title><link href='https://ex.com/'/><entry><title>E</title><id>urn:1</id>"
        b"<link href='/e/1'/><updated>2024-03-01T10:00:00+02:00</updated>"
        b"<summary>short</summary><content type='html'>&lt;p&gt;long body&lt;/p&gt;</content></entry></feed>"
    )
    feed = parse_feed(data, "https://ex.com/atom", {}, NOW)
    item = feed.items[0]
    assert feed.kind == "atom" and item.content == "long body" and item.lang == "en"
    assert item.published == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def test_rdf_kind() -> None:
    """RSS 1.0 (RDF) feeds are recognised."""
    data = (
        b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>R</title></channel>'
        b'<item rdf:about="https://ex.com/1"><title>one</title><link>https://ex.com/1</link></item></rdf:RDF>'
    )
    feed = parse_feed(data, URL, {}, NOW)
    assert feed.kind == "rdf" and feed.items[0].url == "https://ex.com/1"


def test_malformed_keeps_items() -> None:
    """A truncated feed records an error and still yields its complete items."""
    data = _rss(ARABIC_ITEM).encode()[:-40]
    feed = parse_feed(data, URL, {}, NOW)
    assert feed.error and feed.items and feed.items[0].title == ARABIC_TITLE


@pytest.mark.parametrize("data", [b"", b"\x00\xff garbage", b"<html><body>hi</body></html>", b"{"])
def test_garbage_never_raises(data: bytes) -> None:
    """Non-feeds give an error, never an exception."""
    assert parse_feed(data, URL, None, NOW).error


JSON_10 = {
    "version": "https://jsonfeed.org/version/1",
    "title": "JF",
    "home_page_url": "https://ex.com/",
    "author": {"name": "Desk"},
    "items": [
        {
            "id": "1",
            "url": "/p/1?utm_campaign=x",
            "title": "<i>One</i>",
            "content_html": "<p>Body one</p>",
            "date_published": "2024-02-01T12:00:00+01:00",
            "author": {"name": "Amal"},
        },
        {"id": 2, "content_text": "Text two", "summary": "S2"},
    ],
}
JSON_11 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "JF11",
    "language": "ar",
    "items": [
        {
            "id": "x",
            "url": "https://ex.com/x",
            "title": "خبر",
            "content_text": "نص",
            "authors": [{"name": "سارة"}],
            "date_modified": "2024-02-02T00:00:00Z",
        }
    ],
}


def test_json_feed_10() -> None:
    """JSON Feed 1.0: relative URLs, HTML titles, dates, author 1.0 style."""
    feed = parse_feed(json.dumps(JSON_10).encode(), "https://ex.com/feed.json", None, NOW)
    one, two = feed.items
    assert feed.kind == "json" and one.url == "https://ex.com/p/1" and one.title == "One"
    assert one.content == "Body one" and one.author == "Amal"
    assert one.published == datetime(2024, 2, 1, 11, 0, tzinfo=UTC)
    assert two.guid == "2" and two.content == "Text two" and two.published == NOW


def test_json_feed_11() -> None:
    """JSON Feed 1.1: language and authors array."""
    feed = parse_feed(json.dumps(JSON_11, ensure_ascii=False).encode(), URL, None, NOW)
    item = feed.items[0]
    assert feed.lang == "ar" and item.lang == "ar" and item.author == "سارة" and item.title == "خبر"


def test_json_feed_malformed() -> None:
    """A JSON Feed with a bad item keeps the good ones and records an error."""
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": ["bad", {"id": "ok", "title": "t"}],
    }
    feed = parse_feed(json.dumps(doc).encode(), URL, None, NOW)
    assert feed.error and [i.guid for i in feed.items] == ["ok"]


def test_looks_like_feed() -> None:
    """Feed detection by content."""
    assert looks_like_feed(_rss("").encode(), "text/xml")
    assert looks_like_feed(json.dumps(JSON_11).encode(), "application/feed+json")
    assert not looks_like_feed(b"<!doctype html><html><body><p>rss</p></body></html>", "text/html")
