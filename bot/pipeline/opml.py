"""Source lists as files: OPML 2.0 (write and safe read) and TOML `[[source]]` tables.

Pure: bytes in, entries out (and back). Reading refuses what hostile files use: DTDs and
entity declarations (billion laughs, external entities) are rejected before any expansion,
the input size and the number of entries are bounded, and only http(s) URLs are kept
(others are reported as rejected with the reason).
"""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Final
from urllib.parse import urlsplit
from xml.parsers import expat

MAX_FILE_BYTES: Final = 1_000_000  # an import file larger than this is refused whole
MAX_ENTRIES: Final = 2_000  # outlines or [[source]] tables read from one file
MAX_NAME_CHARS: Final = 200
MAX_URL_CHARS: Final = 2_000
LANG_ATTR: Final = "language"  # the OPML outline attribute carrying a source's language
NAMESPACE: Final = "https://akhbar.invalid/opml"  # our own attributes (akhbar:lang)


class SourceFileError(ValueError):
    """A source list that cannot be read at all; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One source as listed in a file."""

    url: str
    name: str | None = None
    interval: int | None = None
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class SourceList:
    """What a file lists: usable entries and the rejected ones with their reasons."""

    entries: tuple[SourceEntry, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()  # (what, why)
    truncated: bool = False  # more than MAX_ENTRIES entries: the rest were not read


@dataclass(frozen=True, slots=True)
class ExportItem:
    """One source to write into an OPML file."""

    url: str
    name: str
    lang: str | None = None
    kind: str = "feed"


# --------------------------------------------------------------------------- writing


def _safe_attr(value: str) -> str:
    """Text fit for an XML attribute: no control characters XML 1.0 cannot hold."""
    return "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 0x20)


def write_opml(items: Iterable[ExportItem], title: str, now: datetime) -> bytes:
    """An OPML 2.0 document listing the sources (UTF-8, with an XML declaration)."""
    ET.register_namespace("akhbar", NAMESPACE)
    root = ET.Element("opml", {"version": "2.0"})
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _safe_attr(title)
    ET.SubElement(head, "dateCreated").text = format_datetime(now)
    body = ET.SubElement(root, "body")
    for item in items:
        name = _safe_attr(item.name)
        attrs = {"type": "rss", "text": name, "title": name, "xmlUrl": _safe_attr(item.url)}
        if item.lang:
            attrs[LANG_ATTR] = item.lang
            attrs[f"{{{NAMESPACE}}}lang"] = item.lang
        if item.kind and item.kind != "feed":
            attrs[f"{{{NAMESPACE}}}kind"] = _safe_attr(item.kind)
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


# --------------------------------------------------------------------------- reading


def check_url(url: str) -> str | None:
    """Why a listed URL is unusable (None when it is a plain http(s) URL with a host)."""
    raw = url.strip()
    if not raw:
        return "no URL"
    if len(raw) > MAX_URL_CHARS:
        return f"URL over {MAX_URL_CHARS} characters"
    try:
        parts = urlsplit(raw)
        _ = parts.port
    except ValueError:
        return "malformed URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "only http and https URLs are accepted"
    if not parts.hostname:
        return "no host"
    return None


def _clean_name(value: object) -> str | None:
    """A listed name, stripped and bounded (None when empty)."""
    if not isinstance(value, str):
        return None
    text = " ".join("".join(ch for ch in value if ch.isprintable() or ch == " ").split())
    return text[:MAX_NAME_CHARS] or None


def _clean_lang(value: object) -> str | None:
    """A listed language reduced to its two-letter code, if any."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower().replace("_", "-").split("-")[0][:8] or None


def _bounded(data: bytes) -> None:
    """Refuse input over the size limit."""
    if len(data) > MAX_FILE_BYTES:
        raise SourceFileError(f"file over {MAX_FILE_BYTES:,} bytes")


def _refuse(*_args: Any) -> Any:
    """Expat handler for DTDs and entity declarations: refuse the whole document."""
    raise SourceFileError("DTDs and entity declarations are not accepted")


def _local(name: str) -> str:
    """An element or attribute name without its namespace (expat joins them with "}")."""
    return name.rsplit("}", 1)[-1]


def _attrs(raw: dict[str, str]) -> dict[str, str]:
    """Attributes by local name; ours (the akhbar namespace) as `akhbar:<name>`."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        if key.startswith(NAMESPACE + "}"):
            out["akhbar:" + _local(key)] = value
        else:
            out.setdefault(_local(key), value)
    return out


def _outlines(data: bytes) -> tuple[str, list[dict[str, str]]]:
    """The root element's name and every outline's attributes, parsed by expat with
    DOCTYPEs, entity declarations and external references refused; at most MAX_ENTRIES + 1
    outlines with an xmlUrl are kept."""
    root: list[str] = []
    outlines: list[dict[str, str]] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        """Note the root and collect outlines with a feed URL."""
        if not root:
            root.append(_local(name))
        if _local(name) == "outline" and len(outlines) <= MAX_ENTRIES:
            found = _attrs(attrs)
            if found.get("xmlUrl") or found.get("xmlurl"):
                outlines.append(found)

    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise SourceFileError(f"not a readable OPML file: {exc}") from None
    return (root[0] if root else ""), outlines


def read_opml(data: bytes) -> SourceList:
    """Every outline with an xmlUrl (nested folders flattened), safely parsed and bounded."""
    _bounded(data)
    root, outlines = _outlines(data)
    if root.lower() != "opml":
        raise SourceFileError("not an OPML file (no <opml> root)")
    entries: list[SourceEntry] = []
    rejected: list[tuple[str, str]] = []
    for attrs in outlines[:MAX_ENTRIES]:
        url = attrs.get("xmlUrl") or attrs.get("xmlurl") or ""
        why = check_url(url)
        if why is not None:
            rejected.append((url[:200], why))
            continue
        name = _clean_name(attrs.get("title")) or _clean_name(attrs.get("text"))
        lang = _clean_lang(attrs.get("akhbar:lang") or attrs.get(LANG_ATTR))
        entries.append(SourceEntry(url=url.strip(), name=name, lang=lang))
    return SourceList(tuple(entries), tuple(rejected), len(outlines) > MAX_ENTRIES)


def _interval(value: object) -> int | None:
    """A TOML interval as an int (bool and non-numbers refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("interval must be a whole number of seconds")
    return value


def read_toml(data: bytes) -> SourceList:
    """The `[[source]]` tables of a TOML file (`url`, optional `name`, `interval`, `lang`)."""
    _bounded(data)
    try:
        doc: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SourceFileError(f"not a readable TOML file: {exc}") from None
    tables = doc.get("source", doc.get("sources", []))
    if not isinstance(tables, list):
        raise SourceFileError("expected [[source]] tables")
    entries: list[SourceEntry] = []
    rejected: list[tuple[str, str]] = []
    for index, table in enumerate(tables[:MAX_ENTRIES], start=1):
        if not isinstance(table, dict):
            rejected.append((f"entry {index}", "not a table"))
            continue
        url = table.get("url")
        label = str(url)[:200] if isinstance(url, str) and url else f"entry {index}"
        why = check_url(url) if isinstance(url, str) else "no URL"
        try:
            interval = _interval(table["interval"]) if "interval" in table else None
        except ValueError as exc:
            why = why or str(exc)
            interval = None
        if why is not None or not isinstance(url, str):
            rejected.append((label, why or "no URL"))
            continue
        entries.append(
            SourceEntry(
                url=url.strip(),
                name=_clean_name(table.get("name")),
                interval=interval,
                lang=_clean_lang(table.get("lang")),
            )
        )
    return SourceList(tuple(entries), tuple(rejected), len(tables) > MAX_ENTRIES)


def looks_like_opml(data: bytes) -> bool:
    """Whether the bytes are XML (OPML) rather than TOML, by their first characters."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head == b"<"


def read_source_file(data: bytes) -> SourceList:
    """Read an OPML or TOML source list, chosen by content."""
    _bounded(data)
    return read_opml(data) if looks_like_opml(data) else read_toml(data)
