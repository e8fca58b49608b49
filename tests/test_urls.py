"""Canonical URL golden cases, one expectation per line."""

from __future__ import annotations

import pytest

from bot.pipeline.urls import canonical_url

CASES = [
    ("HTTP://Example.COM/a", None, "http://example.com/a"),  # scheme and host lower-cased
    ("http://example.com:80/a", None, "http://example.com/a"),  # default http port dropped
    ("https://example.com:443", None, "https://example.com/"),  # default https port, empty path
    ("https://example.com:8443/a", None, "https://example.com:8443/a"),  # other ports kept
    ("https://example.com/a#section", None, "https://example.com/a"),  # fragment dropped
    ("https://ex.com/a?utm_source=x&utm_medium=y&id=3", None, "https://ex.com/a?id=3"),  # utm_*
    ("https://ex.com/a?fbclid=1&gclid=2&mc_cid=3&mc_eid=4", None, "https://ex.com/a"),  # trackers
    ("https://ex.com/a?yclid=1&igshid=2&ref_src=tw", None, "https://ex.com/a"),  # more trackers
    ("https://ex.com/a?b=2&a=1", None, "https://ex.com/a?a=1&b=2"),  # params sorted
    ("/news/1?x=1", "https://ex.com/sec/", "https://ex.com/news/1?x=1"),  # root-relative
    ("2.html", "https://ex.com/sec/1.html", "https://ex.com/sec/2.html"),  # path-relative
    ("https://مثال.com/خبر", None, "https://xn--mgbh0fb.com/%D8%AE%D8%A8%D8%B1"),  # IDN + path
    ("https://ex.com/%d8%ae", None, "https://ex.com/%D8%AE"),  # escape case normalised
    ("https://ex.com/a%2Fb", None, "https://ex.com/a%2Fb"),  # encoded slash kept
    ("mailto:a@b.c", None, "mailto:a@b.c"),  # non-http left alone
]


@pytest.mark.parametrize(("url", "base", "expected"), CASES)
def test_canonical_url(url: str, base: str | None, expected: str) -> None:
    """Each URL canonicalises to the expected spelling."""
    assert canonical_url(url, base) == expected


def test_idempotent() -> None:
    """Canonicalising twice changes nothing."""
    for url, base, _ in CASES:
        once = canonical_url(url, base)
        assert canonical_url(once) == once
