"""Source management: add, list, remove, TOML and OPML import, URL and address checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fetch import Fetcher
from bot.settings import Settings
from bot.sources import SourceError, SourceService
from storage.db import Database


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    """A fetcher that refuses private addresses."""
    async with Fetcher(allow_private=False) as f:
        yield f


def service(db: Database, fetcher: Fetcher, allow_private: bool = True) -> SourceService:
    """A source service (private addresses allowed unless said otherwise)."""
    return SourceService(db, fetcher, Settings(allow_private_sources=allow_private))


async def test_add_list_remove(db: Database, fetcher: Fetcher) -> None:
    """Added sources are canonical, listed, and removable once."""
    svc = service(db, fetcher)
    src = await svc.add(
        "HTTP://Example.ORG:80/feed?utm_source=x", name="Ex", interval=600, lang="ar"
    )
    assert src.url == "http://example.org/feed"
    assert (src.name, src.poll_seconds, src.lang, src.kind) == ("Ex", 600, "ar", "unknown")
    with pytest.raises(SourceError, match="already exists"):
        await svc.add("http://example.org/feed")
    assert [s.id for s in await svc.list()] == [src.id]
    assert await svc.remove(src.id) is True
    assert await svc.remove(src.id) is False
    assert await svc.remove(2**63 - 1) is False  # past int4: no overflow on PostgreSQL
    assert await svc.list() == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/feed",
        "file:///etc/passwd",
        "not a url",
        "http://",
        "http://x:99999/",
        "http://example.org/" + "a" * 2100,
    ],
)
async def test_bad_urls_refused(db: Database, fetcher: Fetcher, url: str) -> None:
    """Only http(s) URLs with a host are accepted."""
    with pytest.raises(SourceError):
        await service(db, fetcher).add(url)


async def test_private_refused_unless_allowed(db: Database, fetcher: Fetcher) -> None:
    """Loopback and private addresses are refused unless allowed by the settings."""
    strict = service(db, fetcher, allow_private=False)
    for url in ("http://127.0.0.1:8080/feed", "http://10.1.2.3/rss", "http://localhost/x"):
        with pytest.raises(SourceError, match=r"non-public|resolve"):
            await strict.add(url)
    added = await service(db, fetcher, allow_private=True).add("http://127.0.0.1:8080/feed")
    assert added.url == "http://127.0.0.1:8080/feed"


async def test_import_toml_and_opml(db: Database, fetcher: Fetcher, tmp_path: Path) -> None:
    """TOML lists and OPML outlines import; known URLs are skipped, bad ones reported."""
    toml = tmp_path / "sources.toml"
    toml.write_text(
        '[[source]]\nurl = "http://one.example/rss"\nname = "One"\ninterval = 900\nlang = "en"\n'
        '[[source]]\nurl = "gopher://bad.example/"\n'
        '[[source]]\nurl = "http://two.example/feed"\n',
        encoding="utf-8",
    )
    svc = service(db, fetcher)
    report = await svc.import_file(toml)
    assert (len(report.added), len(report.present), len(report.rejected)) == (2, 0, 1)
    assert report.rejected[0][0] == "gopher://bad.example/"
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline text="News"><outline text="Two" type="rss" xmlUrl="http://two.example/feed"/>'
        '<outline title="ثلاثة" type="rss" xmlUrl="http://three.example/rss" '
        'htmlUrl="http://three.example/"/></outline></body></opml>',
        encoding="utf-8",
    )
    report = await svc.import_file(opml)
    assert [s.url for s in report.added] == ["http://three.example/rss"]
    assert report.present == ("http://two.example/feed",) and not report.rejected
    by_url = {s.url: s for s in await svc.list()}
    assert by_url["http://one.example/rss"].poll_seconds == 900
    assert by_url["http://three.example/rss"].name == "ثلاثة"
    assert by_url["http://three.example/rss"].name_auto is False  # named by the file
    assert by_url["http://two.example/feed"].name == "two.example"  # no name in the TOML
    assert by_url["http://two.example/feed"].name_auto is True
    missing = await svc.import_file(tmp_path / "missing.toml")
    assert missing.failed and missing.rejected
