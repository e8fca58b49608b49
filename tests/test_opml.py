"""OPML and TOML source lists: round trip, hostile files, TOML import, CLI export/import."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli_ingest import register
from bot.pipeline.opml import (
    MAX_ENTRIES,
    MAX_FILE_BYTES,
    ExportItem,
    SourceEntry,
    SourceFileError,
    read_opml,
    read_source_file,
    read_toml,
    write_opml,
)
from bot.settings import get_settings

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_round_trip_keeps_urls_names_and_languages() -> None:
    """What write_opml writes, read_opml reads back (Arabic names, & and quotes included)."""
    items = [
        ExportItem("http://127.0.0.1:8080/ar.xml", "وكالة الميناء", "ar"),
        ExportItem("https://news.example/rss?a=1&b=2", 'A "quoted" & <odd> name', "en"),
        ExportItem("https://page.example/", "Page\x01 site", None, "page"),
    ]
    data = write_opml(items, "Akhbar sources", NOW)
    assert data.startswith(b"<?xml") and b'version="2.0"' in data and b'type="rss"' in data
    listed = read_opml(data)
    assert listed.entries == (
        SourceEntry("http://127.0.0.1:8080/ar.xml", "وكالة الميناء", None, "ar"),
        SourceEntry("https://news.example/rss?a=1&b=2", 'A "quoted" & <odd> name', None, "en"),
        SourceEntry("https://page.example/", "Page site", None, None),
    )
    assert not listed.rejected and not listed.truncated


def test_nested_outlines_are_flattened_and_other_readers_files_read() -> None:
    """Folders are flattened; `text` names an outline without `title`; `language` is read."""
    data = (
        b'<?xml version="1.0" encoding="UTF-8"?><opml version="1.0"><head><title>x</title></head>'
        b'<body><outline text="World"><outline text="Deep"><outline text="Agency" type="rss" '
        b'xmlUrl="https://a.example/feed" language="ar-EG"/></outline></outline>'
        b'<outline text="B" xmlUrl=" https://b.example/rss "/></body></opml>'
    )
    listed = read_opml(data)
    assert [(e.url, e.name, e.lang) for e in listed.entries] == [
        ("https://a.example/feed", "Agency", "ar"),
        ("https://b.example/rss", "B", None),
    ]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<opml><body><outline text="&lol4;" xmlUrl="https://x.example/"/></body></opml>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<opml><body><outline text="&secret;" xmlUrl="https://x.example/"/></body></opml>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE opml SYSTEM "http://127.0.0.1:9/evil.dtd">
<opml><body><outline text="x" xmlUrl="https://x.example/"/></body></opml>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_hostile_xml_is_refused_before_expansion(data: bytes) -> None:
    """Entity declarations and DTDs are refused whole: no expansion, no file or network read."""
    with pytest.raises(SourceFileError, match="DTD"):
        read_opml(data)


def test_huge_and_malformed_files_are_refused() -> None:
    """Over 1 MB, not XML, or not OPML: one clear error each."""
    huge = b"<opml><body>" + b"<outline/>" * (MAX_FILE_BYTES // 10) + b"</body></opml>"
    with pytest.raises(SourceFileError, match="over"):
        read_source_file(huge)
    with pytest.raises(SourceFileError, match="not a readable OPML"):
        read_opml(b"<opml><body><outline xmlUrl='https://x.example/'></body>")
    with pytest.raises(SourceFileError, match="no <opml> root"):
        read_opml(b"<rss><channel/></rss>")
    with pytest.raises(SourceFileError, match="TOML"):
        read_source_file(b"\xff\xfe not toml = = =")


def test_non_http_urls_are_rejected_with_reasons() -> None:
    """javascript:, file:, ftp:, hostless and malformed URLs are listed as rejected."""
    outlines = "".join(
        f'<outline text="t" xmlUrl="{url}"/>'
        for url in (
            "javascript:alert(1)",
            "file:///etc/passwd",
            "ftp://x.example/f",
            "http://",
            "http://x:99999/",
            "https://ok.example/f",
        )
    )
    listed = read_opml(f"<opml><body>{outlines}</body></opml>".encode())
    assert [e.url for e in listed.entries] == ["https://ok.example/f"]
    assert [why for _, why in listed.rejected] == [
        "only http and https URLs are accepted",
        "only http and https URLs are accepted",
        "only http and https URLs are accepted",
        "no host",
        "malformed URL",
    ]


def test_entry_count_is_bounded() -> None:
    """More outlines than MAX_ENTRIES: the first MAX_ENTRIES are read and the list says so."""
    outlines = "".join(
        f'<outline xmlUrl="https://x.example/{i}"/>' for i in range(MAX_ENTRIES + 50)
    )
    listed = read_opml(f"<opml><body>{outlines}</body></opml>".encode())
    assert len(listed.entries) == MAX_ENTRIES and listed.truncated


def test_toml_lists() -> None:
    """[[source]] tables: url, name, interval, lang; wrong types are rejected with a reason."""
    listed = read_toml(
        b'[[source]]\nurl = "https://a.example/rss"\nname = " A "\ninterval = 600\nlang = "AR"\n'
        b'[[source]]\nurl = "https://b.example/rss"\ninterval = "often"\n'
        b"[[source]]\nname = 'no url'\n"
        b'[[source]]\nurl = "gopher://c.example/"\n'
    )
    assert listed.entries == (SourceEntry("https://a.example/rss", "A", 600, "ar"),)
    assert [why for _, why in listed.rejected] == [
        "interval must be a whole number of seconds",
        "no URL",
        "only http and https URLs are accepted",
    ]
    with pytest.raises(SourceFileError, match="expected"):
        read_toml(b'source = "x"')
    assert read_source_file(b'\n[[source]]\nurl = "https://a.example/"').entries


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    """The source commands on a tmp SQLite database."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("AKHBAR_ALLOW_PRIVATE_SOURCES", "1")
    get_settings.cache_clear()
    app = typer.Typer()
    source_app = typer.Typer()
    app.add_typer(source_app, name="source")
    register(app, source_app)
    yield app
    get_settings.cache_clear()


def test_cli_import_then_export(cli: typer.Typer, tmp_path: Path) -> None:
    """`source import` reports added / already present / rejected; `source export` writes OPML."""
    runner = CliRunner()
    toml = tmp_path / "list.toml"
    toml.write_text(
        '[[source]]\nurl = "https://a.example/rss"\nname = "وكالة الميناء"\nlang = "ar"\n'
        '[[source]]\nurl = "ftp://bad.example/"\n',
        encoding="utf-8",
    )
    first = runner.invoke(cli, ["source", "import", str(toml)])
    assert first.exit_code == 0, first.output
    assert "added 1, already present 0, rejected 1" in first.output
    assert "rejected: ftp://bad.example/: only http and https" in first.output
    again = runner.invoke(cli, ["source", "import", str(toml)])
    assert "already present: https://a.example/rss" in again.output
    exported = runner.invoke(cli, ["source", "export"])
    assert exported.exit_code == 0
    listed = read_opml(exported.stdout_bytes)
    assert listed.entries == (SourceEntry("https://a.example/rss", "وكالة الميناء", None, "ar"),)
    target = tmp_path / "out.opml"
    assert runner.invoke(cli, ["source", "export", "--output", str(target)]).exit_code == 0
    assert read_opml(target.read_bytes()).entries == listed.entries
    opml = tmp_path / "feeds.opml"
    opml.write_bytes(BILLION_LAUGHS)
    refused = runner.invoke(cli, ["source", "import", str(opml)])
    assert refused.exit_code == 1 and "DTDs and entity declarations" in refused.output
