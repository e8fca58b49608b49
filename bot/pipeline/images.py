"""Lead images of articles: from a feed entry's media, enclosures or first <img>, and from a
page's og:image / twitter:image. Pure.

Every candidate goes through `safe_image_url`: resolved against the item's or page's URL,
http(s) only, with a host, no credentials, no whitespace or control characters, and at most
`MAX_IMAGE_URL` characters. Anything else (javascript:, data:, relative junk) is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

MAX_IMAGE_URL: Final = 2048
#: Only this much of an item's HTML is searched for its first <img>.
IMG_SCAN_CHARS: Final = 100_000
_IMG_SRC: Final = re.compile(
    r"""<img\b[^>]{0,2000}?\bsrc\s*=\s*(?:"([^"<>]{1,4096})"|'([^'<>]{1,4096})'|([^\s"'<>]{1,4096}))""",
    re.I,
)
_IMAGE_EXT: Final = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)$", re.I)


def safe_image_url(raw: object, base: str | None = None) -> str | None:
    """An absolute http(s) image URL from `raw` (relative ones resolved against `base`), or
    None when it is not one we would hand to Telegram."""
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    if not value or len(value) > MAX_IMAGE_URL:
        return None
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        return None
    if base and not value.lower().startswith(("http://", "https://")):
        try:
            value = urljoin(base, value)
        except ValueError:
            return None
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return value if len(value) <= MAX_IMAGE_URL else None


def _is_image(item: Mapping[str, Any], url: str) -> bool:
    """Whether a media:content or enclosure entry is an image (by medium, type or name)."""
    medium = str(item.get("medium") or "").lower()
    kind = str(item.get("type") or "").lower()
    if medium:
        return medium == "image"
    if kind:
        return kind.startswith("image/")
    return bool(_IMAGE_EXT.search(urlsplit(url).path)) if url else False


def _media(items: object, key: str) -> Iterable[tuple[Mapping[str, Any], str]]:
    """(entry, its URL under `key`) of a feedparser list of dicts."""
    if not isinstance(items, list):
        return
    for item in items[:50]:
        if isinstance(item, Mapping):
            yield item, str(item.get(key) or "")


def first_img(html: object, base: str | None = None) -> str | None:
    """The first safe <img src> of an HTML fragment."""
    if not isinstance(html, str) or "<img" not in html.lower():
        return None
    for match in _IMG_SRC.finditer(html[:IMG_SCAN_CHARS]):
        raw = next(g for g in match.groups() if g is not None)
        found = safe_image_url(raw.replace("&amp;", "&"), base)
        if found is not None:
            return found
    return None


def entry_image(entry: Mapping[str, Any], base: str | None) -> str | None:
    """A feedparser entry's lead image: media:content, media:thumbnail, an image enclosure,
    or the first <img> of its content or summary."""
    for item, url in _media(entry.get("media_content"), "url"):
        if _is_image(item, url) and (found := safe_image_url(url, base)):
            return found
    for _item, url in _media(entry.get("media_thumbnail"), "url"):
        if found := safe_image_url(url, base):
            return found
    for item, url in _media(entry.get("enclosures"), "href"):
        image = str(item.get("type") or "").lower().startswith("image/")
        if image and (found := safe_image_url(url, base)):
            return found
    bodies = [c.get("value") for c in entry.get("content") or [] if isinstance(c, Mapping)]
    for body in [*bodies, entry.get("summary")]:
        if found := first_img(body, base):
            return found
    return None


def json_item_image(item: Mapping[str, Any], base: str | None) -> str | None:
    """A JSON Feed item's lead image: `image`, `banner_image`, or the first <img>."""
    for key in ("image", "banner_image"):
        if found := safe_image_url(item.get(key), base):
            return found
    return first_img(item.get("content_html"), base)
