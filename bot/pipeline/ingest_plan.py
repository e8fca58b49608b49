"""Pure ingest decisions: what a batch of normalised articles does to the store.

`plan_batch` takes the batch (each article's fields, and whether an existing copy must be
kept) and the stored articles the batch's identities match, and decides, as if the
articles were stored one after the other:

- a duplicate (skipped): an article already known under its URL, or under its guid from
  the same source, whose content is unchanged, or that another source owns, or whose
  existing copy must be kept (a summary-only item whose page was fetched);
- an update: known, same owner, new content; it keeps the stored URL and duplicate link,
  and its guid unless it brings one. An update of an article new in this batch changes
  what is inserted;
- new: inserted (near-duplicate links and stories are decided when ids are given).

Fields are any dataclass with `url`, `guid`, `source_id` and `content_hash` (ingest's
`bot.domain.ArticleDraft`); nothing here reads or writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from bot.domain import Article


class Storable(Protocol):
    """The fields of an article to store, as far as its identity goes."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def url(self) -> str:
        """Canonical URL."""
        ...

    @property
    def guid(self) -> str | None:
        """The feed's id for the item."""
        ...

    @property
    def source_id(self) -> int | None:
        """The source that published it."""
        ...

    @property
    def content_hash(self) -> str | None:
        """Hash of the title and text in their content form."""
        ...


F = TypeVar("F", bound=Storable)


@dataclass(slots=True)
class Known:
    """The identity of a stored article, or of one the batch is about to insert (`pending`)."""

    id: int
    url: str
    guid: str | None
    source_id: int | None
    content_hash: str | None
    duplicate_of: int | None = None
    pending: int | None = None  # index into the batch's new articles

    @classmethod
    def stored(cls, article: Article) -> Known:
        """The identity of a stored article."""
        return cls(
            id=article.id,
            url=article.url,
            guid=article.guid,
            source_id=article.source_id,
            content_hash=article.content_hash,
            duplicate_of=article.duplicate_of,
        )


class Identities:
    """What a batch has seen so far: stored matches plus the batch's own inserts and updates,
    so lookups answer exactly as a lookup in the store would after each earlier article."""

    def __init__(self) -> None:
        """Start empty."""
        self._urls: dict[str, Known] = {}
        self._guids: dict[tuple[int | None, str], Known] = {}

    def add(self, known: Known) -> None:
        """Remember an article under its URL and its (source, guid)."""
        self._urls.setdefault(known.url, known)
        if known.guid:
            self._guids.setdefault((known.source_id, known.guid), known)

    def find(self, url: str, source_id: int | None, guid: str | None) -> Known | None:
        """The article with this URL, else the one with this guid from this source."""
        found = self._urls.get(url)
        if found is None and guid:
            found = self._guids.get((source_id, guid))
        return found

    def changed(self, known: Known, content_hash: str | None, guid: str | None) -> None:
        """Record an update: new content hash and perhaps a new guid (URL unchanged)."""
        known.content_hash = content_hash
        if guid != known.guid:
            if known.guid and self._guids.get((known.source_id, known.guid)) is known:
                del self._guids[(known.source_id, known.guid)]
            known.guid = guid
            if guid:
                self._guids[(known.source_id, guid)] = known


@dataclass(slots=True)
class NewArticle(Generic[F]):
    """A new article of a batch: as first seen (clustered, fingerprinted) and as stored
    (the last update the batch made to it)."""

    first: F
    final: F


@dataclass(slots=True)
class BatchPlan(Generic[F]):
    """What one batch does: stored articles to replace, new ones to insert, and counts."""

    updates: dict[int, F] = field(default_factory=dict)
    new: list[NewArticle[F]] = field(default_factory=list)
    duplicate: int = 0
    updated: int = 0


def plan_batch(batch: Sequence[tuple[F, bool]], found: Sequence[Article | None]) -> BatchPlan[F]:
    """Decide each article of a batch as if stored one after the other (see the module)."""
    known = Identities()
    for article in found:
        if article is not None:
            known.add(Known.stored(article))
    plan: BatchPlan[F] = BatchPlan()
    for fields, keep_existing in batch:
        existing = known.find(fields.url, fields.source_id, fields.guid)
        if existing is not None:
            same_owner = existing.source_id == fields.source_id
            if existing.content_hash == fields.content_hash or not same_owner or keep_existing:
                plan.duplicate += 1
                continue
            update = replace(
                fields,
                url=existing.url,
                guid=fields.guid or existing.guid,
                duplicate_of=existing.duplicate_of,
            )
            known.changed(existing, update.content_hash, update.guid)
            if existing.pending is not None:
                plan.new[existing.pending].final = update
            else:
                plan.updates[existing.id] = update
            plan.updated += 1
            continue
        entry = Known(
            id=0,
            url=fields.url,
            guid=fields.guid,
            source_id=fields.source_id,
            content_hash=fields.content_hash,
            pending=len(plan.new),
        )
        known.add(entry)
        plan.new.append(NewArticle(first=fields, final=fields))
    return plan
