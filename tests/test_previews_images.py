"""Richer pushes: link previews per the chat's setting and lead images from feeds and pages,
with hostile input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain import Article, Chat, PreviewMode
from bot.pipeline.candidates import item_candidate, page_candidate
from bot.pipeline.feeds import parse_feed
from bot.pipeline.images import MAX_IMAGE_URL, first_img, safe_image_url
from bot.pipeline.normalise import normalise
from bot.pipeline.pages import extract_page
from bot.presentation.message import NO_PREVIEW, LinkPreview, Rendered
from bot.presentation.previews import push_preview, settings_lines
from bot.presentation.render import render_settings

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
URL = "https://news.example/2026/01/05/floods"


def article(url: str = URL, image: str | None = None) -> Article:
    """An article with a URL and maybe a lead image."""
    return Article(id=1, source_id=1, url=url, title="Floods", image_url=image)


# --------------------------------------------------------------------------- previews


def test_preview_options_as_the_bot_api_wants_them() -> None:
    """Off is is_disabled; on carries the URL, and the two switches only when set."""
    assert NO_PREVIEW.options() == {"is_disabled": True}
    assert LinkPreview(disabled=False).options() == {"is_disabled": False}
    assert LinkPreview(False, URL).options() == {"url": URL}
    assert LinkPreview(False, URL, above=True, large_media=True).options() == {
        "url": URL,
        "prefer_large_media": True,
        "show_above_text": True,
    }


def test_push_preview_follows_the_chat_setting() -> None:
    """Below, above, off; large media only with a lead image; none for odd URLs."""
    assert push_preview(PreviewMode.BELOW, article()) == LinkPreview(False, URL)
    above = push_preview(PreviewMode.ABOVE, article(image="https://img.example/a.jpg"))
    assert above == LinkPreview(False, URL, above=True, large_media=True)
    assert push_preview(PreviewMode.OFF, article(image="https://img.example/a.jpg")) is NO_PREVIEW
    for odd in ("urn:akhbar:guid:abc", "javascript:alert(1)", "https://x.example/a b", ""):
        assert push_preview(PreviewMode.BELOW, article(url=odd)) is NO_PREVIEW
    bad_image = push_preview(PreviewMode.BELOW, article(image="javascript:alert(1)"))
    assert bad_image == LinkPreview(False, URL)


def test_rendered_keeps_the_old_switch_when_no_link_is_given() -> None:
    """Messages other than pushes keep `disable_preview` as before."""
    assert Rendered("x").preview is NO_PREVIEW
    assert Rendered("x", disable_preview=False).preview == LinkPreview(disabled=False)
    link = LinkPreview(False, URL)
    assert Rendered("x", link=link).preview is link


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_settings_show_the_preview_and_the_forum_topic(lang: str) -> None:
    """The /settings view names the preview mode and, in a forum, the digest topic."""
    plain = Chat(id=5, preview=PreviewMode.ABOVE)
    forum = Chat(id=-100, is_forum=True, digest_thread_id=9, preview=PreviewMode.OFF)
    assert len(settings_lines(lang, plain)) == 1 and len(settings_lines(lang, forum)) == 2
    shown = render_settings(lang, forum).text
    assert "/settings topic" in shown and "/settings preview" in shown
    assert ("above the text" in render_settings(lang, plain).text) == (lang == "en")
    assert ("أعلى النص" in render_settings(lang, plain).text) == (lang == "ar")


# --------------------------------------------------------------------------- image URLs


@pytest.mark.parametrize(
    ("raw", "base", "expected"),
    [
        ("https://img.example/a.jpg", None, "https://img.example/a.jpg"),
        ("  http://img.example/a.png  ", None, "http://img.example/a.png"),
        ("/media/a.jpg", URL, "https://news.example/media/a.jpg"),
        ("../b.webp", URL, "https://news.example/2026/01/b.webp"),
        ("//cdn.example/c.jpg", URL, "https://cdn.example/c.jpg"),
        ("javascript:alert(1)", URL, None),
        ("JaVaScRiPt:alert(1)", None, None),
        ("data:image/png;base64,AAAA", URL, None),
        ("file:///etc/passwd", URL, None),
        ("ftp://img.example/a.jpg", None, None),
        ("https://user:pw@img.example/a.jpg", None, None),
        ("https://img.example/a b.jpg", None, None),
        ("https://img.example/a\x00.jpg", None, None),
        ("https://img.example/a\n.jpg", None, None),
        ("https:///nohost.jpg", None, None),
        ("https://[::1/a.jpg", None, None),
        ("/relative/without/base.jpg", None, None),
        ("https://img.example/" + "a" * MAX_IMAGE_URL, None, None),
        ("", URL, None),
        (None, URL, None),
        (42, URL, None),
    ],
)
def test_safe_image_url(raw: object, base: str | None, expected: str | None) -> None:
    """Absolute http(s) with a host, bounded, no credentials or spaces; relative resolved."""
    assert safe_image_url(raw, base) == expected


def test_first_img_skips_unsafe_sources_and_bounds_its_scan() -> None:
    """The first safe <img src> wins; a huge body without images costs one bounded scan."""
    html = (
        "<p>x</p><img src=\"javascript:alert(1)\"><img alt=a src='/a.jpg?x=1&amp;y=2'>"
        '<img src="https://late.example/b.jpg">'
    )
    assert first_img(html, URL) == "https://news.example/a.jpg?x=1&y=2"
    assert first_img("<img " + "a" * 1_000_000, URL) is None
    assert first_img("<p>" + "<img>" * 50_000 + "</p>", URL) is None
    assert first_img(None, URL) is None


# --------------------------------------------------------------------------- feeds


def rss_item(extra: str, description: str = "Body text of the item.") -> bytes:
    """An RSS 2.0 feed with one item and extra item markup."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        "<title>Gulf</title><link>https://gulf.example/</link>"
        "<item><title>Floods</title><link>https://gulf.example/news/floods</link>"
        f"<description>{description}</description>{extra}</item>"
        "</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("extra", "description", "expected"),
    [
        (
            '<media:content url="https://img.example/m.jpg" medium="image"/>',
            "x",
            "https://img.example/m.jpg",
        ),
        (
            '<media:content url="https://img.example/v.mp4" type="video/mp4"/>'
            '<media:thumbnail url="https://img.example/t.jpg"/>',
            "x",
            "https://img.example/t.jpg",
        ),
        (
            '<enclosure url="https://img.example/e.png" type="image/png" length="1"/>',
            "x",
            "https://img.example/e.png",
        ),
        (
            '<enclosure url="https://pod.example/e.mp3" type="audio/mpeg" length="1"/>',
            "x",
            None,
        ),
        (
            "",
            "&lt;img src=&quot;/pics/first.jpg&quot;&gt; Body",
            "https://gulf.example/pics/first.jpg",
        ),
        ('<media:content url="javascript:alert(1)" medium="image"/>', "x", None),
        ('<media:thumbnail url="data:image/png;base64,AAAA"/>', "x", None),
        ("", "&lt;img src=&quot;javascript:alert(1)&quot;&gt;", None),
        ("", "x", None),
    ],
)
def test_feed_lead_images(extra: str, description: str, expected: str | None) -> None:
    """media:content (images only), media:thumbnail, image enclosures, the first <img>;
    unsafe URLs are dropped."""
    feed = parse_feed(rss_item(extra, description), "https://gulf.example/feed.xml", None, NOW)
    assert [item.image_url for item in feed.items] == [expected]


def test_json_feed_lead_image() -> None:
    """A JSON Feed item's `image`, resolved against the item URL; a bad one is dropped."""
    data = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": ['
        b'{"id": "1", "url": "https://j.example/a", "title": "A", "content_text": "x",'
        b' "image": "/i/a.jpg"},'
        b'{"id": "2", "url": "https://j.example/b", "title": "B", "content_text": "y",'
        b' "image": "javascript:x", "banner_image": "vbscript:y"}]}'
    )
    feed = parse_feed(data, "https://j.example/feed.json", None, NOW)
    assert [item.image_url for item in feed.items] == ["https://j.example/i/a.jpg", None]


def test_the_feed_image_reaches_the_draft() -> None:
    """Feed item → candidate → draft keeps the checked image URL."""
    extra = '<media:content url="https://img.example/m.jpg" medium="image"/>'
    feed = parse_feed(
        rss_item(extra, "A long body. " * 40), "https://gulf.example/f.xml", None, NOW
    )
    candidate = item_candidate(feed.items[0])
    assert candidate is not None
    assert normalise(candidate, None, NOW).image_url == "https://img.example/m.jpg"


# --------------------------------------------------------------------------- pages


def page(head: str) -> str:
    """An article page with extra <head> markup."""
    body = "<p>" + "Heavy rain flooded the streets of the city on Tuesday. " * 8 + "</p>"
    return (
        f"<html><head><title>Floods</title>{head}</head>"
        f"<body><article><h1>Floods</h1>{body}</article></body></html>"
    )


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (
            '<meta property="og:image" content="https://img.example/og.jpg">',
            "https://img.example/og.jpg",
        ),
        ('<meta property="og:image" content="/og/rel.jpg">', "https://news.example/og/rel.jpg"),
        (
            '<meta property="og:image" content="javascript:alert(1)">'
            '<meta name="twitter:image" content="https://img.example/tw.jpg">',
            "https://img.example/tw.jpg",
        ),
        (
            '<link rel="image_src" href="https://img.example/src.jpg">',
            "https://img.example/src.jpg",
        ),
        ('<meta property="og:image" content="data:image/png;base64,AAAA">', None),
        ('<meta property="og:image" content="' + "https://x.example/" + "a" * 5000 + '">', None),
        ("", None),
    ],
)
def test_page_lead_images(head: str, expected: str | None) -> None:
    """og:image, twitter:image, image_src; resolved against the page; hostile ones dropped."""
    found = extract_page(page(head), URL, fetched_at=NOW)
    assert found.image_url == expected
    candidate = page_candidate(found)
    assert candidate is not None and candidate.image_url == expected
