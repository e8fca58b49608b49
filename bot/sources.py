"""Source management: add (validated, canonical, public addresses only), list, remove,
pause, and OPML/TOML import and export."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from bot.domain import Source
from bot.fetch import Fetcher, FetchError
from bot.pipeline.opml import (
    MAX_FILE_BYTES,
    ExportItem,
    SourceEntry,
    SourceFileError,
    read_source_file,
    write_opml,
)
from bot.pipeline.source_names import clean_source_name
from bot.pipeline.urls import canonical_url
from bot.settings import Settings
from storage.db import Database
from storage.repos.sources import SourceExists, SourceRepo

MIN_INTERVAL_S = 1  # the same floor as AKHBAR_POLL_SECONDS; politeness is the operator's choice
MAX_INTERVAL_S = 7 * 24 * 3600
MAX_URL_CHARS = 2000  # sources.url is VARCHAR(2000)
MAX_SOURCE_ID = 2**31 - 1  # sources.id is INTEGER (int4 on PostgreSQL)


SourceSpec = SourceEntry  # one source as listed in an import file

__all__ = ["ImportReport", "SourceError", "SourceFileError", "SourceService", "SourceSpec"]


class SourceError(ValueError):
    """A source cannot be added; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: sources added, already present, and rejected with reasons."""

    added: tuple[Source, ...] = ()
    present: tuple[str, ...] = ()  # URLs already listed
    rejected: tuple[tuple[str, str], ...] = ()  # (URL or entry, why)
    truncated: bool = False  # the file listed more than it may; the rest was not read

    @property
    def failed(self) -> bool:
        """Nothing usable: no source added or already present."""
        return not self.added and not self.present


def _check_url(url: str) -> str:
    """Validate an http(s) URL with a host and return its canonical form."""
    raw = (url or "").strip()
    try:
        parts = urlsplit(raw)
        _ = parts.port
    except ValueError as exc:
        raise SourceError(f"bad URL {raw!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise SourceError(f"bad URL {raw!r}: only http and https sources are allowed")
    if not parts.hostname:
        raise SourceError(f"bad URL {raw!r}: no host")
    url = canonical_url(raw)
    if len(url) > MAX_URL_CHARS or "\x00" in url:
        raise SourceError(f"bad URL {raw[:80]!r}…: over {MAX_URL_CHARS} characters or a NUL")
    return url


def _check_interval(interval: int | None, default: int) -> int:
    """Validate a poll interval in seconds."""
    value = default if interval is None else int(interval)
    if not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S:
        raise SourceError(f"interval must be {MIN_INTERVAL_S}..{MAX_INTERVAL_S} seconds")
    return value


def _check_lang(lang: str | None) -> str | None:
    """Validate a language hint (ar or en)."""
    if lang is None or not lang.strip():
        return None
    value = lang.strip().lower()[:2]
    if value not in ("ar", "en"):
        raise SourceError(f"language must be 'ar' or 'en', got {lang!r}")
    return value


class SourceService:
    """Add, list, remove and import news sources."""

    def __init__(self, db: Database, fetcher: Fetcher, settings: Settings) -> None:
        """Wire the service; the fetcher's address check guards private addresses."""
        self.db = db
        self.fetcher = fetcher
        self.settings = settings

    async def _check_target(self, url: str) -> None:
        """Refuse non-public addresses unless private sources are allowed."""
        if self.settings.allow_private_sources:
            return
        checker = self.fetcher if not self.fetcher.allow_private else Fetcher()
        try:
            await checker.check_url(url)  # the fetcher's own resolved-address check
        except FetchError as exc:
            raise SourceError(str(exc)) from None
        finally:
            if checker is not self.fetcher:
                await checker.aclose()

    async def add(
        self,
        url: str,
        name: str | None = None,
        interval: int | None = None,
        lang: str | None = None,
    ) -> Source:
        """Validate and store a new source; its kind is detected on the first poll.

        Without a name, the host stands in until the first successful fetch names the
        source after the feed's own title (or the page's site name)."""
        canonical = _check_url(url)
        seconds = _check_interval(interval, self.settings.poll_seconds)
        hint = _check_lang(lang)
        await self._check_target(canonical)
        chosen = clean_source_name(name)
        label = chosen or urlsplit(canonical).hostname or canonical
        async with self.db.unit_of_work() as session:
            try:
                return await SourceRepo(session).add(
                    canonical,
                    label[:200],
                    lang=hint,
                    poll_seconds=seconds,
                    name_auto=chosen is None,
                )
            except SourceExists:
                raise SourceError(f"source already exists: {canonical}") from None

    async def list(self) -> list[Source]:
        """Every source, oldest first."""
        async with self.db.unit_of_work() as session:
            return await SourceRepo(session).list_all()

    async def remove(self, source_id: int) -> bool:
        """Delete a source (its articles stay); False when unknown or past any stored id."""
        if not 0 < source_id <= MAX_SOURCE_ID:
            return False
        async with self.db.unit_of_work() as session:
            return await SourceRepo(session).remove(source_id)

    async def set_paused(self, source_id: int, paused: bool) -> Source | None:
        """Pause or resume a source; the source after the change (None when unknown)."""
        if not 0 < source_id <= MAX_SOURCE_ID:
            return None
        async with self.db.unit_of_work() as session:
            repo = SourceRepo(session)
            if not await repo.set_paused(source_id, paused):
                return None
            return await repo.get(source_id)

    async def polled(self) -> builtins.list[Source]:
        """The sources that are polled over HTTP (not one-shot inputs such as `jsonl:` files)."""
        return [s for s in await self.list() if s.url.startswith(("http://", "https://"))]

    async def export_opml(self, now: datetime) -> bytes:
        """Every polled source as an OPML 2.0 document."""
        items = [
            ExportItem(url=s.url, name=s.name, lang=s.lang, kind=str(s.kind))
            for s in await self.polled()
        ]
        return write_opml(items, "Akhbar sources", now)

    async def import_bytes(self, data: bytes) -> ImportReport:
        """Add every source an OPML or TOML file lists (SourceFileError when unreadable)."""
        listed = read_source_file(data)
        added: builtins.list[Source] = []
        present: builtins.list[str] = []
        rejected = builtins.list(listed.rejected)
        for entry in listed.entries:
            try:
                added.append(await self.add(entry.url, entry.name, entry.interval, entry.lang))
            except SourceError as exc:
                if str(exc).startswith("source already exists"):
                    present.append(entry.url)
                else:
                    rejected.append((entry.url[:200], str(exc)))
        return ImportReport(tuple(added), tuple(present), tuple(rejected), listed.truncated)

    async def import_file(self, path: Path | str) -> ImportReport:
        """Add every source of a TOML or OPML file (unreadable: one rejection saying why)."""
        try:
            with Path(path).open("rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
            return await self.import_bytes(data)
        except (OSError, SourceFileError) as exc:
            return ImportReport(rejected=((str(path), str(exc)),))
