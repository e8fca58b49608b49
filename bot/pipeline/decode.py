"""Byte decoding for feeds and pages: BOMs, declarations and Arabic-aware fallbacks."""

from __future__ import annotations

import codecs
import re

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_LATIN_FAMILY = frozenset({"ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15"})
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
_IANA = {
    "cp1252": "windows-1252",
    "cp1256": "windows-1256",
    "cp1255": "windows-1255",
    "cp1251": "windows-1251",
    "cp1250": "windows-1250",
    "cp1253": "windows-1253",
    "cp1254": "windows-1254",
    "cp1257": "windows-1257",
    "cp1258": "windows-1258",
    "latin-1": "iso-8859-1",
    "iso8859-1": "iso-8859-1",
    "ascii": "us-ascii",
}
_LATIN_SCRIPT = frozenset(
    {"cp1250", "cp1252", "cp1254", "cp1257", "mac-roman", "latin-1"}
    | {f"iso8859-{n}" for n in (1, 2, 3, 4, 9, 10, 13, 14, 15, 16)}
)
# The most frequent Arabic letters in windows-1256: ا ل ي م و ن ة ر ت ب ع ه د ف.
_COMMON_CP1256 = frozenset(b"\xc7\xe1\xed\xe3\xe6\xe4\xc9\xd1\xca\xc8\xda\xe5\xcf\xdd")
_COMMON_SHARE = 0.35
_SNIFF_BYTES = 4096
_ARABIC_SHARE = 0.75


def codec_name(label: str | None) -> str | None:
    """Return Python's codec name for a charset label, or None when unknown."""
    if not label:
        return None
    cleaned = label.strip().strip("\"'").lower()
    if cleaned in ("x-user-defined", "unicode-1-1-utf-7", "utf-7"):
        return None
    try:
        return codecs.lookup(cleaned).name
    except LookupError:
        return None


def _label(name: str) -> str:
    """Return the IANA-style label for a Python codec name."""
    return _IANA.get(name, name)


def charset_from_content_type(content_type: str | None) -> str | None:
    """Return the charset parameter of a Content-Type header value, if any."""
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type, re.I)
    return match.group(1) if match else None


def declared_in_markup(data: bytes) -> str | None:
    """Return the charset declared by an XML declaration or an HTML meta tag."""
    head = data[:_SNIFF_BYTES]
    match = _XML_DECL.match(head) or _META_CHARSET.search(head)
    return match.group(1).decode("ascii", "replace") if match else None


def _strict(data: bytes, codec: str) -> str | None:
    """Decode strictly, returning None on any failure."""
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def looks_arabic_cp1256(data: bytes) -> bool:
    """Tell whether non-ASCII bytes read as windows-1256 are overwhelmingly Arabic words."""
    sample = data[:65536]
    high = sum(1 for b in sample if b >= 0x80)
    if high < 8:
        return False
    text = sample.decode("cp1256", "replace")
    non_ascii = [ch for ch in text if ord(ch) >= 0x80]
    arabic = sum(1 for ch in non_ascii if "\u0600" <= ch <= "\u06ff" or ch in "\u200c\u200d")
    if arabic / len(non_ascii) < _ARABIC_SHARE:
        return False
    common = sum(1 for b in sample if b in _COMMON_CP1256)
    if common / high < _COMMON_SHARE:
        return False
    words = [w for w in sample.split() if any(b >= 0x80 for b in w)]
    pure = sum(1 for w in words if not any(97 <= (b | 0x20) <= 122 for b in w))
    return pure / max(1, len(words)) >= 0.6


def _sniff_wide(data: bytes) -> str | None:
    """Guess BOM-less UTF-16/32 from the pattern of NUL bytes."""
    head = data[:400]
    if len(head) < 4 or b"\x00" not in head:
        return None
    if head[:4] == b"<\x00\x00\x00":
        return "utf-32-le"
    if head[:4] == b"\x00\x00\x00<":
        return "utf-32-be"
    even = head[0::2].count(0)
    odd = head[1::2].count(0)
    half = len(head) // 2
    if odd > half * 0.4 and even < half * 0.1:
        return "utf-16-le"
    if even > half * 0.4 and odd < half * 0.1:
        return "utf-16-be"
    return None


def _guess(data: bytes) -> tuple[str, str]:
    """Guess an encoding for undeclared, non-UTF-8 bytes."""
    if looks_arabic_cp1256(data):
        return data.decode("cp1256", "replace"), "windows-1256"
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:65536]).best()
        if best is not None and best.encoding:
            codec = codec_name(best.encoding)
            if codec in _LATIN_SCRIPT:
                codec = "cp1252"
            if codec and (text := _strict(data, codec)) is not None:
                return text, _label(codec)
    except Exception:  # detection is best effort, never fatal
        pass
    return data.decode("cp1252", "replace"), "windows-1252"


def decode_bytes(data: bytes, declared_charset: str | None = None) -> tuple[str, str]:
    """Decode bytes to text and return (text, encoding used); never raises."""
    if not data:
        return "", "utf-8"
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "replace"), codec
    http = codec_name(declared_charset)
    if http in _WIDE and (text := _strict(data, http)) is not None:
        return text.lstrip("\ufeff"), http
    if wide := _sniff_wide(data):
        return data.decode(wide, "replace"), wide
    if data.isascii():
        return data.decode("ascii"), _label(http) if http and http not in _WIDE else "utf-8"
    if (text := _strict(data, "utf-8")) is not None:
        return text, "utf-8"
    markup = codec_name(declared_in_markup(data))
    for declared in (http, markup):
        if not declared or declared in _WIDE or declared == "utf-8":
            continue
        codec = declared
        if codec in _LATIN_FAMILY and looks_arabic_cp1256(data):
            return data.decode("cp1256", "replace"), "windows-1256"
        if codec in _LATIN_FAMILY:
            codec = "cp1252"
        if (text := _strict(data, codec)) is not None:
            return text, _label(codec)
    return _guess(data)
