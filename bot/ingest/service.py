"""Ingestion service: poll due sources and run each body through the ingest steps.

The steps, each in its own module: fetch (`bot.fetch`), parse (`bot.pipeline.candidates`,
pure), normalise (`bot.pipeline.normalise`, pure), the batch plan
(`bot.pipeline.ingest_plan`, pure), store (`bot.ingest.store`) and story assignment
(`bot.ingest.assign`). This service only orchestrates them. Fetching runs concurrently
(bounded); parsing and normalising run off the event loop (`bot.ingest.offloop`: a thread
for small inputs, a worker process for large ones), so the loop only does I/O, the
database writes and the clustering, in slices. Writes are serialised per process and
batched. One failing source never stops the others (every poll is caught and recorded),
and one failing item never stops its feed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain import Clock, Source, SourceKind
from bot.fetch import Fetcher, FetchResult
from bot.ingest.fingerprints import FingerprintIndex
from bot.ingest.offloop import HEAVY_CHARS, PROCESSES, OffLoop
from bot.ingest.report import IngestReport
from bot.ingest.store import BatchStore
from bot.metrics import count_poll
from bot.pipeline.candidates import Candidate, parse_body, parse_page, record_candidate
from bot.pipeline.clean import parse_timestamp
from bot.pipeline.normalise import Normalised, NormalisedBatch, normalise_many
from bot.pipeline.polling import next_poll
from bot.pipeline.source_names import discover_name
from bot.pipeline.urls import canonical_url
from bot.settings import Settings
from bot.source_claims import keep_claims, poll_holder
from bot.stories import StoryService
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.sources import SourceRepo

BATCH_SIZE = 200
WARN_AFTER_FAILURES = 5  # consecutive failures that send the operators a notice (before a pause)
POLL_CONCURRENCY = 8
CLAIM_LIMIT = 64

log = logging.getLogger(__name__)

SourcedCandidate = tuple[Candidate, Source | None]

__all__ = ["FingerprintIndex", "IngestReport", "IngestService"]


def _size(batch: Sequence[SourcedCandidate]) -> int:
    """Characters a batch's normalisation reads."""
    return sum(candidate.size for candidate, _source in batch)


class IngestService:
    """Polls sources and ingests feeds, pages, files and records into the database."""

    def __init__(
        self,
        db: Database,
        fetcher: Fetcher,
        stories: StoryService,
        settings: Settings,
        clock: Clock | None = None,
        *,
        batch_size: int = BATCH_SIZE,
        concurrency: int = POLL_CONCURRENCY,
        heavy_chars: int = HEAVY_CHARS,
        processes: int = PROCESSES,
    ) -> None:
        """Wire the service; `clock` returns aware UTC now; inputs of `heavy_chars`
        characters or more are parsed and normalised in a worker process."""
        self.db = db
        self.fetcher = fetcher
        self.stories = stories
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.batch_size = max(1, batch_size)
        self.concurrency = max(1, concurrency)
        self.offloop = OffLoop(heavy_chars, processes)
        self.writer = BatchStore(db, stories, self.clock)
        self._random = random.Random()
        self._synthetic: dict[str, Source] = {}

    @property
    def fingerprints(self) -> FingerprintIndex:
        """The near-duplicate index of recent originals."""
        return self.writer.fingerprints

    # ------------------------------------------------------------------ polling
    async def poll_due(self, holder: str, limit: int = CLAIM_LIMIT) -> IngestReport:
        """Claim due sources under a lease and poll them concurrently, each failure isolated."""
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.lease_seconds)
        async with self.writer.lock, self.db.unit_of_work() as session:
            sources = await SourceRepo(session).claim_due(now, holder, lease_until, limit)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(source: Source) -> IngestReport:
            async with gate:
                return await self._poll_guarded(source)

        report = IngestReport()
        ids = [s.id for s in sources]
        async with keep_claims(self.db, holder, ids, self.settings.lease_seconds, self.clock):
            parts = await asyncio.gather(*(one(s) for s in sources))
        for part in parts:
            report.merge(part)
        return report

    async def _poll_guarded(self, source: Source) -> IngestReport:
        """Poll one source; any exception becomes a recorded failure."""
        try:
            return await self.poll_source(source)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            try:
                await self._record(source, error=message)
            except Exception as record_exc:
                message += f" (and recording failed: {record_exc})"
            return IngestReport(failed=1, errors=[f"{source.url}: {message}"])

    async def poll_source(self, source: Source) -> IngestReport:
        """Fetch one source conditionally, ingest what is new, and schedule its next poll."""
        result = await self.fetcher.fetch(
            source.url, etag=source.etag, last_modified=source.last_modified
        )
        if result.error is not None:
            await self._record(source, error=result.error, result=result)
            return IngestReport(failed=1, errors=[f"{source.url}: {result.error}"])
        if result.not_modified:
            await self._record(source, result=result)
            return IngestReport()
        report, kind = await self._ingest_result(source, result)
        title = await self._discover_name(source, result) if source.name_auto else None
        await self._record(
            source, result=result, kind=kind, title=title, pages_failed=report.pages_all_failed
        )
        return report

    async def _discover_name(self, source: Source, result: FetchResult) -> str | None:
        """The feed's own title or the page's site name (off the loop); None on any failure."""
        try:
            return await self.offloop.run(
                len(result.body),
                discover_name,
                result.body,
                result.final_url,
                dict(result.headers),
                self.clock(),
            )
        except Exception:
            log.info("could not read a name for source %s", source.id, exc_info=True)
            return None

    async def _record(
        self,
        source: Source,
        *,
        error: str | None = None,
        result: FetchResult | None = None,
        kind: SourceKind | None = None,
        title: str | None = None,
        pages_failed: bool | None = None,
    ) -> None:
        """Store a poll's outcome and its next poll time (backoff on failure); a success
        with `title` names a source that was added without a name; `pages_failed` says
        whether every article page this poll tried failed (None: none tried)."""
        now = self.clock()
        errors = source.error_count + 1 if error is not None else 0
        when = next_poll(
            now,
            source.poll_seconds,
            errors,
            retry_after_s=result.retry_after_s if result else None,
            max_age_s=result.max_age_s if result else None,
            jitter=self._random.random(),
        )
        count_poll(error, bool(result and result.not_modified))
        async with self.writer.lock, self.db.unit_of_work() as session:
            await SourceRepo(session).record_poll(
                source.id,
                now=now,
                next_poll_at=when,
                error=error,
                etag=result.etag if result and error is None else None,
                last_modified=result.last_modified if result and error is None else None,
                kind=kind,
                pause_after=self.settings.pause_after_failures,
                holder=poll_holder(),
                title=title,
                warn_after=WARN_AFTER_FAILURES,
                pages_failed=pages_failed,
            )

    # ------------------------------------------------------------------ bodies
    async def _ingest_result(
        self, source: Source | None, result: FetchResult
    ) -> tuple[IngestReport, SourceKind]:
        """Ingest a fetched body as a feed, a section page or an article page."""
        return await self._ingest_body(source, result.body, result.final_url, result.headers)

    async def _ingest_body(
        self, source: Source | None, data: bytes, url: str, headers: Mapping[str, str] | None
    ) -> tuple[IngestReport, SourceKind]:
        """Parse a body off the loop and store its articles (or a section page's links)."""
        now = self.clock()
        parsed = await self.offloop.run(len(data), parse_body, data, url, dict(headers or {}), now)
        if parsed.failure is not None:
            raise ValueError(parsed.failure)
        report = IngestReport()
        if parsed.warning:
            report.errors.append(f"{url}: {parsed.warning}")
        if parsed.links:
            return report.merge(await self._ingest_links(source, parsed.links, now)), parsed.kind
        candidates = list(parsed.candidates)
        if parsed.kind is SourceKind.FEED and source is not None and source.fetch_full_pages > 0:
            candidates = await self._fill_pages(
                source, candidates, source.fetch_full_pages, now, report
            )
        return report.merge(await self._store([(c, source) for c in candidates], now)), parsed.kind

    async def _unknown(self, source: Source | None, urls: Sequence[str]) -> list[str]:
        """The URLs (canonical) not stored yet."""
        source_id = source.id if source else None
        async with self.db.unit_of_work() as session:
            found = await ArticleRepo(session).find_existing_many(
                [(url, source_id, None) for url in urls]
            )
        return [url for url, article in zip(urls, found, strict=True) if article is None]

    async def _fetch_page(self, url: str, now: datetime) -> Candidate | None:
        """Fetch one article page and read its article off the loop (None on failure)."""
        result = await self.fetcher.fetch(url)
        if result.error is not None or not result.body:
            return None
        return await self.offloop.run(
            len(result.body), parse_page, result.body, result.final_url, dict(result.headers), now
        )

    async def _ingest_links(
        self, source: Source | None, links: Sequence[str], now: datetime
    ) -> IngestReport:
        """Fetch and store the article pages a section page links to (known ones skipped)."""
        wanted = await self._unknown(source, [canonical_url(u) for u in links])
        report = IngestReport(duplicate=len(links) - len(wanted), pages_tried=len(wanted))
        pages = await asyncio.gather(*(self._fetch_page(u, now) for u in wanted))
        candidates: list[SourcedCandidate] = []
        for url, page in zip(wanted, pages, strict=True):
            if page is None:
                report.fail(f"{url}: could not extract the linked article")
                report.pages_failed += 1
                continue
            candidates.append((replace(page, url=url), source))
        return report.merge(await self._store(candidates, now))

    async def _fill_pages(
        self,
        source: Source,
        candidates: list[Candidate],
        budget: int,
        now: datetime,
        report: IngestReport,
    ) -> list[Candidate]:
        """Replace up to `budget` new summary-only items' text with their full page (pages
        tried and failed are counted in `report`)."""
        short = [c.url for c in candidates if c.summary_only]
        if not short:
            return candidates
        wanted = set((await self._unknown(source, short))[:budget])
        targets = [i for i, c in enumerate(candidates) if c.url in wanted]
        pages = await asyncio.gather(*(self._fetch_page(candidates[i].url, now) for i in targets))
        report.pages_tried += len(targets)
        report.pages_failed += sum(page is None for page in pages)
        out = list(candidates)
        for i, page in zip(targets, pages, strict=True):
            if page is not None and len(page.text) > len(out[i].text):
                out[i] = replace(
                    out[i],
                    text=page.text,
                    lede=out[i].text,
                    image_caption=out[i].image_caption or page.image_caption,
                    image_url=out[i].image_url or page.image_url,
                    lang=out[i].lang or page.lang,
                )
        return out

    # ------------------------------------------------------------------ storing
    async def _normalise_some(
        self,
        batch: Sequence[SourcedCandidate],
        indices: Sequence[int],
        now: datetime,
        *,
        heavy: bool,
    ) -> dict[int, Normalised | str]:
        """Normalise the chosen items of a batch in the worker process (heavy) or a thread;
        results by batch index."""
        if not indices:
            return {}
        chosen = [batch[i] for i in indices]
        if heavy:
            terms = self.stories.clusterer.config.body_terms
            done = await self.offloop.run(_size(chosen), normalise_many, chosen, now, terms)
        else:
            done = await self.offloop.thread(normalise_many, chosen, now)
        return dict(zip(indices, done.results, strict=True))

    async def _store(self, candidates: Sequence[SourcedCandidate], now: datetime) -> IngestReport:
        """Normalise and store candidates in batches, one unit of work per batch.

        A batch's heavy items are normalised in the worker process before the write lock
        is taken; the others in a thread under the lock, so that the batch is clustered
        while their sentence analyses are still memoised (concurrent polls would evict them).
        """
        report = IngestReport()
        for start in range(0, len(candidates), self.batch_size):
            batch = candidates[start : start + self.batch_size]
            heavy = [i for i, (c, _s) in enumerate(batch) if self.offloop.in_process(c.size)]
            results = await self._normalise_some(batch, heavy, now, heavy=True)
            async with self.writer.lock:
                light = [i for i in range(len(batch)) if i not in results]
                results.update(await self._normalise_some(batch, light, now, heavy=False))
                normalised = NormalisedBatch(tuple(results[i] for i in range(len(batch))))
                report.merge(await self._write(normalised))
        return report

    async def _write(self, normalised: NormalisedBatch) -> IngestReport:
        """Store one normalised batch (the caller holds the write lock); errors counted."""
        report = IngestReport()
        for error in normalised.errors:
            report.fail(error)
        return report.merge(await self.writer.store(normalised.items))

    # ------------------------------------------------------------------ one-shot inputs
    async def synthetic_source(self, url: str, name: str, lang: str | None = None) -> Source:
        """Get or create a paused source for one-shot input (never polled)."""
        cached = self._synthetic.get(url)
        if cached is not None:
            return cached
        async with self.writer.lock, self.db.unit_of_work() as session:
            repo = SourceRepo(session)
            source = await repo.by_url(url)
            if source is None:
                source = await repo.add(url, name[:200] or url[:200], lang=lang)
                await repo.set_paused(source.id, True)
        self._synthetic[url] = source
        return source

    async def ingest_records(self, records: Iterable[Mapping[str, Any]]) -> IngestReport:
        """Ingest JSONL records, one synthetic source (`jsonl:<name>`) per distinct source."""
        report = IngestReport()
        pending: list[SourcedCandidate] = []
        now = self.clock()
        for record in records:
            try:
                candidate = record_candidate(_with_datetime(record, now))
            except (TypeError, ValueError, AttributeError) as exc:
                report.fail(f"record {record.get('id')!r}: {exc}")
                continue
            if candidate is None:
                report.fail(f"record {record.get('id')!r}: no title or text")
                continue
            name = str(record.get("source") or "jsonl")
            pending.append((candidate, await self.synthetic_source(f"jsonl:{name}", name)))
            if len(pending) >= self.batch_size:
                report.merge(await self._store(pending, now))
                pending = []
        if pending:
            report.merge(await self._store(pending, now))
        return report

    async def ingest_bytes(
        self,
        data: bytes,
        url: str,
        headers: Mapping[str, str] | None = None,
        source: Source | None = None,
    ) -> IngestReport:
        """Ingest a local feed or page file (or a fetched body) read from `url`."""
        if source is None:
            source = await self.synthetic_source(url, url.rsplit("/", 1)[-1] or url)
        report, _kind = await self._ingest_body(source, data, url, headers)
        return report

    async def ingest_url(self, url: str) -> IngestReport:
        """Fetch one URL once and ingest it (a synthetic, never-polled source)."""
        result = await self.fetcher.fetch(url)
        if result.error is not None:
            return IngestReport(failed=1, errors=[f"{url}: {result.error}"])
        source = await self.synthetic_source(canonical_url(url), url)
        report, _kind = await self._ingest_result(source, result)
        return report


def _with_datetime(record: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A copy of a record with `published` parsed (missing or future → now)."""
    out = dict(record)
    out["published"] = parse_timestamp(record.get("published"), now)
    return out
