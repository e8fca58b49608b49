"""Byte decoding: BOMs, declarations, and windows-1256 Arabic with wrong or missing charsets."""

from __future__ import annotations

import pytest

from bot.pipeline.decode import decode_bytes
from tests.datapaths import data_path

ARABIC = "أكدت وزارة الخارجية الروسية أن الوزير سيلتقي نظيره الأمريكي في جنيف"


def test_utf8_plain() -> None:
    """Valid UTF-8 is read as UTF-8 even with no declaration."""
    assert decode_bytes(ARABIC.encode()) == (ARABIC, "utf-8")


def test_boms() -> None:
    """BOMs decide the encoding and are stripped."""
    assert decode_bytes(b"\xef\xbb\xbfabc") == ("abc", "utf-8")
    assert decode_bytes("abc".encode("utf-16-le"), None)[0] == "abc"
    assert decode_bytes(b"\xff\xfe" + "abc".encode("utf-16-le")) == ("abc", "utf-16-le")


def test_http_charset_used() -> None:
    """A correct HTTP charset decodes legacy bytes."""
    assert decode_bytes("Привет мир".encode("koi8-r"), "koi8-r") == ("Привет мир", "koi8-r")


def test_meta_charset_used() -> None:
    """An HTML meta charset decodes legacy bytes when HTTP is silent."""
    page = '<meta charset="windows-1255"><p>שלום עולם</p>'.encode("cp1255")
    assert decode_bytes(page)[1] == "windows-1255"


@pytest.mark.parametrize("declared", [None, "iso-8859-1", "windows-1252", "us-ascii", "utf-8"])
def test_cp1256_arabic_wrong_or_missing(declared: str | None) -> None:
    """windows-1256 Arabic is recognised when the charset is missing or wrong."""
    assert decode_bytes(ARABIC.encode("cp1256"), declared) == (ARABIC, "windows-1256")


def test_latin1_not_mistaken_for_arabic() -> None:
    """Western European text in windows-1252 is not read as Arabic."""
    assert decode_bytes("café résumé naïve à la carte".encode("cp1252"))[1] == "windows-1252"


def test_never_raises() -> None:
    """Garbage, truncated and bogus-charset input decodes without raising."""
    for data, charset in [(bytes(range(256)), None), (b"\xff\xfe\x00", None), (b"x", "bogus")]:
        text, encoding = decode_bytes(data, charset)
        assert isinstance(text, str) and encoding


def test_easc_raw_windows1256_corpus() -> None:
    """Every non-empty EASC legacy file decodes exactly as windows-1256, declared Latin or not."""
    files = sorted(data_path("easc", "raw_windows1256").glob("*/*.txt"))
    assert files
    checked = 0
    for path in files:
        raw = path.read_bytes()
        if not raw.strip():
            continue
        for declared in (None, "iso-8859-1"):
            text, encoding = decode_bytes(raw, declared)
            assert encoding == "windows-1256", (path, declared)
            assert text == raw.decode("cp1256")
        checked += 1
    assert checked > 200
