"""Source management: add (validated, canonical, public addresses only), list, remove, import."""

from __future__ import annotations

import builtins
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from bot.domain import Source
from bot.fetch import Fetcher, FetchError
from bot.pipeline.urls import canonical_url
from bot.settings import Settings
from storage.db import Database
from storage.repos.sources import SourceExists, SourceRepo

MIN_INTERVAL_S = 1  # the same floor as AKHBAR_POLL_SECONDS; politeness is the operator's choice
MAX_INTERVAL_S = 7 * 24 * 3600
MAX_URL_CHARS = 2000  # sources.url is VARCHAR(2000)
MAX_SOURCE_ID = 2**31 - 1  # sources.id is INTEGER (int4 on PostgreSQL)


class SourceError(ValueError):
    """A source cannot be added; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One source as listed in an import file."""

    url: str
    name: str | None = None
    interval: int | None = None
    lang: str | None = None


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


def _toml_specs(data: bytes) -> list[SourceSpec]:
    """Sources of a TOML file: `[[source]] url=…, name=…, interval=…, lang=…`."""
    doc: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    entries = doc.get("source", doc.get("sources", []))
    if not isinstance(entries, list):
        raise SourceError("expected [[source]] tables")
    specs = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        interval = entry.get("interval")
        specs.append(
            SourceSpec(
                url=str(entry.get("url", "")),
                name=str(entry["name"]) if entry.get("name") else None,
                interval=int(interval) if interval is not None else None,
                lang=str(entry["lang"]) if entry.get("lang") else None,
            )
        )
    return specs


def _opml_specs(data: bytes) -> list[SourceSpec]:
    """Sources of an OPML file: every outline with an xmlUrl (or htmlUrl)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    root = etree.fromstring(data, parser=parser)
    if root is None:
        raise SourceError("not an OPML document")
    specs = []
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("htmlUrl")
        if not url:
            continue
        name = outline.get("title") or outline.get("text")
        specs.append(SourceSpec(url=url, name=name, lang=outline.get("language")))
    return specs


def read_specs(path: Path) -> list[SourceSpec]:
    """Parse a TOML or OPML sources file (by extension, else by content)."""
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return _toml_specs(data)
    if suffix in (".opml", ".xml") or data.lstrip()[:1] == b"<":
        return _opml_specs(data)
    return _toml_specs(data)


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
        """Validate and store a new source; its kind is detected on the first poll."""
        canonical = _check_url(url)
        seconds = _check_interval(interval, self.settings.poll_seconds)
        hint = _check_lang(lang)
        await self._check_target(canonical)
        label = (name or "").strip() or (urlsplit(canonical).hostname or canonical)
        async with self.db.unit_of_work() as session:
            try:
                return await SourceRepo(session).add(
                    canonical, label[:200], lang=hint, poll_seconds=seconds
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

    async def import_file(self, path: Path | str) -> tuple[int, int, builtins.list[str]]:
        """Add every source of a TOML or OPML file: (added, skipped as known, errors)."""
        try:
            specs = read_specs(Path(path))
        except (OSError, ValueError, etree.XMLSyntaxError) as exc:
            return 0, 0, [f"{path}: {exc}"]
        added = skipped = 0
        errors: builtins.list[str] = []
        for spec in specs:
            try:
                await self.add(spec.url, spec.name, spec.interval, spec.lang)
                added += 1
            except SourceError as exc:
                if str(exc).startswith("source already exists"):
                    skipped += 1
                else:
                    errors.append(f"{spec.url}: {exc}")
        return added, skipped, errors
