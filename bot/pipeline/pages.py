"""HTML article and section pages: trafilatura for the body, lxml for the page furniture."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import lxml.html
import trafilatura
from lxml import etree

from bot.pipeline.clean import clean_text, html_to_text, normalise_text, parse_timestamp
from bot.pipeline.decode import charset_from_content_type, decode_bytes
from bot.pipeline.images import safe_image_url
from bot.pipeline.urls import canonical_url

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_DATE_META = (
    "article:published_time",
    "og:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "date",
    "dc.date",
    "dc.date.issued",
    "dcterms.created",
    "sailthru.date",
    "parsely-pub-date",
    "article:modified_time",
)
_RELATED_HINT = re.compile(r"related|read-?more|more-?news|also|similar|recommend|suggest", re.I)
_RELATED_HEADING = re.compile(
    r"^\s*(related|read also|see also|more (news|stories)|اقرأ أيضا|اقرأ أيضاً|شاهد أيضا|"
    r"أخبار ذات صلة|ذات صلة|مواضيع ذات صلة|المزيد)",
    re.I,
)
_SOURCE_LINE = re.compile(r"^\s*(المصدر|source|المصادر|sources)\s*[:：]\s*\S.{0,80}$", re.I)
_SKIP_ZONES = frozenset({"nav", "footer", "header", "aside", "form", "script", "style"})
_NON_ARTICLE = re.compile(
    r"/(tag|tags|category|categories|author|authors|search|login|register|subscribe|page|"
    r"feed|rss|privacy|terms|about|contact)(/|$)",
    re.I,
)
_FILE_EXT = re.compile(r"\.(jpe?g|png|gif|webp|svg|pdf|mp[34]|zip|css|js|xml|rss|ico)$", re.I)
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_LATIN = re.compile("[A-Za-z]")
_MAX_RELATED = 12


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """The fields of an article page that we keep."""

    url: str
    title: str
    lede: str
    text: str
    published: datetime
    lang: str | None
    image_caption: str | None
    source_line: str | None
    related: list[tuple[str, str]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    has_date: bool = False
    error: str | None = None
    image_url: str | None = None  # og:image / twitter:image, checked and absolute


def _decode(data: bytes | str, headers: Mapping[str, str] | None) -> tuple[str, str]:
    """Return the page as text and the encoding used."""
    if isinstance(data, str):
        return data, "utf-8"
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    return decode_bytes(data, charset_from_content_type(lowered.get("content-type")))


def parse_html(markup: str) -> etree._Element | None:
    """Parse an HTML document into an lxml tree, or None when it cannot be parsed."""
    cleaned = _XML_DECL.sub("", markup).replace("\x00", "")
    if not cleaned.strip():
        return None
    try:
        root = lxml.html.document_fromstring(cleaned)
    except (etree.ParserError, ValueError):
        return None
    return root


def _attr(el: etree._Element, name: str) -> str:
    """Return an attribute value as a stripped string."""
    value = el.get(name)
    return str(value).strip() if value else ""


def _meta(root: etree._Element, *names: str) -> str:
    """Return the first non-empty content of meta tags matching name/property/itemprop."""
    wanted = {n.lower() for n in names}
    found: dict[str, str] = {}
    for el in root.iter("meta"):
        content = _attr(el, "content")
        if not content:
            continue
        for key in ("property", "name", "itemprop"):
            label = _attr(el, key).lower()
            if label in wanted and label not in found:
                found[label] = content
    for name in names:
        if name.lower() in found:
            return found[name.lower()]
    return ""


def _json_ld(root: etree._Element) -> Iterator[Mapping[str, Any]]:
    """Yield JSON-LD objects found on the page (graphs flattened)."""
    for el in root.iter("script"):
        if _attr(el, "type").lower() != "application/ld+json" or not el.text:
            continue
        try:
            doc = json.loads(el.text)
        except ValueError:
            continue
        stack = [doc]
        while stack:
            obj = stack.pop()
            if isinstance(obj, list):
                stack.extend(obj)
            elif isinstance(obj, Mapping):
                yield obj
                if isinstance(obj.get("@graph"), list):
                    stack.extend(obj["@graph"])


def _published(root: etree._Element | None, fallback: str | None) -> str | None:
    """Return the best published-time string the page offers."""
    if root is not None:
        for obj in _json_ld(root):
            value = obj.get("datePublished") or obj.get("dateCreated")
            if isinstance(value, str) and value.strip():
                return value
        value = _meta(root, *_DATE_META)
        if value:
            return value
        for el in root.xpath("//*[@content][@property or @itemprop]"):
            label = (_attr(el, "property") or _attr(el, "itemprop")).lower()
            if label in ("dc:date", "dcterms:created", "datepublished", "dc:created"):
                return _attr(el, "content")
        for el in root.iter("time"):
            stamp = _attr(el, "datetime")
            if stamp:
                return stamp
    return fallback


def _page_lang(root: etree._Element | None, text: str, guessed: str | None) -> str | None:
    """Return the page language from markup, trafilatura, or the script of the text."""
    if root is not None:
        lang = _attr(root, "lang") or _attr(root, "xml:lang")
        lang = lang or _meta(root, "og:locale", "content-language", "language")
        if lang:
            return lang.replace("_", "-").split("-")[0].lower() or None
    if guessed:
        return guessed
    return guess_script_lang(text)


def guess_script_lang(text: str) -> str | None:
    """Guess 'ar' or 'en' from the share of Arabic and Latin letters in text."""
    sample = text[:5000]
    arabic = len(_ARABIC.findall(sample))
    latin = len(_LATIN.findall(sample))
    if arabic + latin == 0:
        return None
    return "ar" if arabic >= latin else "en"


def _in_zone(el: etree._Element, zones: frozenset[str]) -> bool:
    """Tell whether an element sits inside one of the given tags."""
    return any(isinstance(a.tag, str) and a.tag.lower() in zones for a in el.iterancestors())


def _image_caption(root: etree._Element | None) -> str | None:
    """Return the first figure caption in the article area, or the main image's alt text."""
    if root is None:
        return None
    for el in root.iter("figcaption"):
        if not _in_zone(el, frozenset({"nav", "footer", "aside"})):
            text = clean_text(el.text_content())
            if text:
                return text
    for el in root.iter("img"):
        cls = (_attr(el, "class") + " " + _attr(el, "id")).lower()
        alt = clean_text(_attr(el, "alt"))
        if alt and len(alt) > 15 and not _in_zone(el, _SKIP_ZONES) and "logo" not in cls:
            return alt
    alt = _meta(root, "og:image:alt", "twitter:image:alt")
    return clean_text(alt) or None


def _lead_image(root: etree._Element | None, url: str) -> str | None:
    """The page's lead image: og:image (or its url/secure_url), twitter:image, image_src."""
    if root is None:
        return None
    names = (
        "og:image:secure_url",
        "og:image:url",
        "og:image",
        "twitter:image",
        "twitter:image:src",
    )
    candidates = [_meta(root, name) for name in names]
    candidates += [
        _attr(el, "href") for el in root.iter("link") if _attr(el, "rel").lower() == "image_src"
    ]
    for raw in candidates:
        found = safe_image_url(raw, url or None)
        if found is not None:
            return found
    return None


def _source_line(root: etree._Element | None, text: str) -> str | None:
    """Return a 'Source: …' / 'المصدر: …' attribution line from the text or the page."""
    for line in text.splitlines():
        if _SOURCE_LINE.match(line):
            return line.strip()
    if root is None:
        return None
    for el in root.iter("p", "span", "div", "strong", "em", "small"):
        if len(el) > 3:
            continue
        raw = el.text_content()
        if len(raw) < 200 and _SOURCE_LINE.match(raw.strip()):
            return clean_text(raw)
    return None


def _same_site(url: str, base_host: str) -> bool:
    """Tell whether url is on the same site as base_host (ignoring www.)."""
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return bool(host) and (host == base_host or host.endswith("." + base_host))


def _anchor(el: etree._Element, base_url: str) -> tuple[str, str] | None:
    """Return (text, canonical url) for a usable anchor element."""
    href = _attr(el, "href")
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
        return None
    url = canonical_url(href, base=base_url)
    if not url.startswith(("http://", "https://")):
        return None
    title = clean_text(el.text_content()) or clean_text(_attr(el, "title"))
    return (title, url) if title else None


def _is_related_heading(el: etree._Element) -> bool:
    """Tell whether a leaf element is a 'Related' / 'اقرأ أيضا' heading with a parent."""
    if el.tag.lower() not in ("h2", "h3", "h4", "div", "span") or len(el) != 0:
        return False
    text = el.text or ""
    return len(text) < 60 and bool(_RELATED_HEADING.match(text)) and el.getparent() is not None


def _related(root: etree._Element | None, base_url: str, own: str) -> list[tuple[str, str]]:
    """Return on-page related headlines (title, url) from related-news blocks."""
    if root is None:
        return []
    blocks: list[etree._Element] = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        hint = _attr(el, "class") + " " + _attr(el, "id")
        if _RELATED_HINT.search(hint) and el.tag.lower() not in ("a", "script", "style"):
            blocks.append(el)
        elif _is_related_heading(el):
            blocks.append(el.getparent())
    out: list[tuple[str, str]] = []
    seen = {own}
    for block in blocks:
        for a in block.iter("a"):
            pair = _anchor(a, base_url)
            if pair is None or pair[1] in seen or len(pair[0]) < 15:
                continue
            seen.add(pair[1])
            out.append(pair)
            if len(out) >= _MAX_RELATED:
                return out
    return out


def _article_like(url: str, base_url: str, base_host: str) -> bool:
    """Tell whether a same-site URL looks like an article rather than navigation."""
    parts = urlsplit(url)
    path = parts.path
    if not _same_site(url, base_host) or path in ("", "/"):
        return False
    if _NON_ARTICLE.search(path) or _FILE_EXT.search(path):
        return False
    segments = [s for s in path.split("/") if s]
    slug = segments[-1] if segments else ""
    return bool(re.search(r"\d", path)) or slug.count("-") >= 2 or len(segments) >= 3


def _section_links(root: etree._Element, base_url: str, limit: int) -> list[str]:
    """Return article-looking links of a parsed page in document order."""
    base_host = (urlsplit(base_url).hostname or "").lower().removeprefix("www.")
    own = canonical_url(base_url)
    out: list[str] = []
    seen = {own}
    for a in root.iter("a"):
        if _in_zone(a, frozenset({"nav", "footer", "header", "form"})):
            continue
        pair = _anchor(a, base_url)
        if pair is None or pair[1] in seen:
            continue
        text, url = pair
        if len(text) < 12 and len(text.split()) < 3:
            continue
        if _article_like(url, base_url, base_host):
            seen.add(url)
            out.append(url)
            if len(out) >= limit:
                break
    return out


def extract_section_links(html: bytes | str, base_url: str, limit: int = 50) -> list[str]:
    """Return up to limit canonical article links listed on a section page."""
    try:
        text = html if isinstance(html, str) else decode_bytes(html)[0]
        root = parse_html(text)
        return [] if root is None else _section_links(root, base_url, max(0, limit))
    except Exception:  # hostile HTML never crashes a poll
        return []


def _paragraphs(text: str) -> str:
    """Turn trafilatura's line-per-paragraph output into blank-line-separated paragraphs."""
    lines = [normalise_text(line) for line in text.splitlines()]
    return "\n\n".join(line for line in lines if line)


def _lede(root: etree._Element | None, text: str, title: str) -> str:
    """Return the standfirst: the page description or the first paragraph of the body."""
    description = ""
    if root is not None:
        description = clean_text(
            _meta(root, "description", "og:description", "twitter:description")
        )
    if description and description != title:
        return description
    for para in text.split("\n\n"):
        if para != title and len(para) > 40:
            return para
    return ""


def _title(root: etree._Element | None, found: str | None) -> str:
    """Return the headline: trafilatura's, og:title, the first h1, or <title>."""
    if found:
        return clean_text(found)
    if root is None:
        return ""
    value = _meta(root, "og:title", "twitter:title")
    if value:
        return clean_text(value)
    for tag in ("h1", "title"):
        for el in root.iter(tag):
            text = clean_text(el.text_content())
            if text:
                return text
    return ""


def _trafilatura(markup: str, url: str | None) -> Any:
    """Run trafilatura with the settings measured best on our extraction set."""
    return trafilatura.bare_extraction(
        markup,
        url=url,
        include_comments=False,
        include_tables=True,
        with_metadata=True,
    )


def extract_page(
    data: bytes | str,
    url: str,
    headers: Mapping[str, str] | None = None,
    fetched_at: datetime | None = None,
) -> ParsedPage:
    """Extract title, lede, body, date, language, caption, source line and related links."""
    if fetched_at is None:
        fetched_at = datetime.now(UTC)
    try:
        markup, encoding = _decode(data, headers)
    except Exception as exc:  # decoding is best effort
        return ParsedPage(url, "", "", "", fetched_at, None, None, None, error=str(exc))
    root = parse_html(markup)
    error: str | None = None
    try:
        doc = _trafilatura(markup, url or None) if root is not None else None
    except Exception as exc:  # trafilatura failures must not crash ingest
        doc, error = None, f"extraction failed: {type(exc).__name__}: {exc}"
    body = _paragraphs(str(getattr(doc, "text", "") or "")) if doc is not None else ""
    if not body and root is not None:
        body = html_to_text(lxml.html.tostring(root, encoding="unicode"))
    title = _title(root, getattr(doc, "title", None) if doc is not None else None)
    raw_date = _published(root, getattr(doc, "date", None) if doc is not None else None)
    own = canonical_url(url) if url else ""
    try:
        related = _related(root, url, own)
        links = _section_links(root, url, 50) if root is not None else []
    except Exception as exc:  # page furniture is optional
        related, links, error = [], [], error or f"link extraction failed: {exc}"
    return ParsedPage(
        url=own,
        title=title,
        lede=_lede(root, body, title),
        text=body,
        published=parse_timestamp(raw_date, fetched_at),
        lang=_page_lang(root, body, getattr(doc, "language", None) if doc is not None else None),
        image_caption=_image_caption(root),
        source_line=_source_line(root, body),
        related=related,
        links=links,
        encoding=encoding,
        has_date=raw_date is not None,
        error=error if body or error else "no article text found",
        image_url=_lead_image(root, url),
    )
