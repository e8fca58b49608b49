"""The background linker: embeds stored articles off the event loop and links stories across languages.

Each pass takes up to one batch of recently published articles that have a story but no
vector, embeds their headline and lead through the `Embedder` worker process, stores the
packed vectors, and runs `link_stories` for the stories that gained articles. New links
are stored and each story's recent reports are enqueued for the partner story's
followers (fan-out reaches both stories' followers from then on).

Crash-safe by construction: the database is the queue. A vector is stored before any
link is looked for; after a restart the pass resumes from the articles still lacking a
vector, and its first linking pass looks at the whole window. Memory stays bounded: only
vectors of articles published within the link window are held, evicted as they age.
Only the holder of the "linker" lease runs passes, so several bot processes never embed
the same article twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Article, Chat, Clock, Follow, NewDelivery, utc_now
from bot.follows import article_terms
from bot.pipeline.encoder import Vectors, embedding_text, pack_vectors, unpack_vector
from bot.pipeline.fanout import choose_follows, live_chats, plan_fanout, without_chats
from bot.pipeline.mutes import MuteFilter, filters_by_chat, muted_chats
from bot.pipeline.xlink import Link, LinkArticle, LinkConfig, link_stories, receives_push
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo
from storage.repos.links import LinkRepo, StoredVector
from storage.repos.mutes import MuteRepo
from storage.repos.ops import LeaseRepo
from storage.repos.state import AppStateRepo

log = logging.getLogger(__name__)

LINKER_LEASE = "linker"
CATCH_UP_ARTICLES = 20  # newest reports of a story looked at when it is linked
ENCODER_STATE = "encoder.status"  # app_state row `akhbar status` reads
CATCH_UP = timedelta(hours=6)  # a new link sends followers the partner's reports this recent


class EmbedderLike(Protocol):
    """What the linker needs of `bot.embeddings.Embedder`."""

    def embed_many(self, texts: Sequence[str]) -> Awaitable[Vectors | None]:
        """Unit-length rows for texts; None when embeddings are off."""
        ...


@dataclass(frozen=True, slots=True)
class LinkerTuning:
    """How the linker paces itself."""

    batch: int = 64  # articles embedded per pass
    idle_seconds: float = 5.0  # wait between passes when nothing is left to embed
    lease_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class LinkerPass:
    """What one pass did."""

    embedded: int = 0
    links: int = 0
    caught_up: int = 0  # pushes a new link owed to the partner story's followers
    off: bool = False


def _link_article(stored: StoredVector) -> LinkArticle:
    """The linker's view of a stored vector."""
    return LinkArticle(
        id=stored.article_id,
        story=stored.story_id,
        lang=stored.lang,
        published=stored.published_at,
        vector=unpack_vector(stored.vector),
        source=stored.source,
    )


def catch_up_rows(
    articles: Sequence[Article],
    follows: Sequence[Follow],
    muted: set[int],
    chats: dict[int, Chat],
    mutes: Mapping[int, MuteFilter] | None = None,
) -> list[NewDelivery]:
    """The pushes a new link owes: each article to the followers of the partner story who
    followed before it arrived, are live, read its language and have not muted it."""
    rows: list[NewDelivery] = []
    for article in articles:
        arrived = article.fetched_at or article.published_at
        earlier = [
            f for f in follows if f.created_at is None or arrived is None or f.created_at <= arrived
        ]
        chosen = choose_follows(earlier, muted)
        if mutes:
            chosen = without_chats(chosen, muted_chats(article, chosen, mutes, article_terms))
        live = [
            c for c in live_chats(chosen, chats) if receives_push(chats[c].news_langs, article.lang)
        ]
        rows += plan_fanout(article, chosen, live, {})
    return rows


async def catch_up(
    session: AsyncSession, story: int, partner: int, since: datetime, now: datetime
) -> int:
    """Enqueue the story's recent originals for the partner story's followers (rows already
    owed stay single: the outbox is unique per chat and article); how many were new."""
    articles = [
        a
        for a in await ArticleRepo(session).for_story(story, CATCH_UP_ARTICLES)
        if a.duplicate_of is None and a.published_at is not None and a.published_at >= since
    ]
    follows = await FollowRepo(session).story_followers(partner)
    if not articles or not follows:
        return 0
    muted = await FollowRepo(session).muted_story_chats(story)
    muted |= await FollowRepo(session).muted_story_chats(partner)
    chats = await ChatRepo(session).get_many({f.chat_id for f in follows})
    mutes = filters_by_chat(await MuteRepo(session).for_chats(chats))
    return await DeliveryRepo(session).enqueue_many(
        catch_up_rows(articles, follows, muted, chats, mutes), now
    )


def link_pair(link: Link) -> tuple[int, int, float]:
    """A link as (Arabic story, English story, cosine)."""
    return link.ar, link.en, link.similarity


def encoder_state_value(available: bool, encoder: str, reason: str, at: datetime) -> str:
    """The JSON the linker stores under `ENCODER_STATE`."""
    return json.dumps(
        {"available": available, "encoder": encoder, "reason": reason, "at": at.isoformat()}
    )


class Linker:
    """Embeds new articles in batches and links Arabic and English stories of one event."""

    def __init__(
        self,
        db: Database,
        embedder: EmbedderLike,
        *,
        clock: Clock = utc_now,
        config: LinkConfig | None = None,
        tuning: LinkerTuning | None = None,
        holder: str = "linker",
    ) -> None:
        """Read and write through `db`; embed through `embedder`."""
        self.db = db
        self.embedder = embedder
        self.clock = clock
        self.config = config or LinkConfig()
        self.tuning = tuning or LinkerTuning()
        self.holder = holder
        self._articles: dict[int, LinkArticle] = {}  # active-window vectors by article id
        self._linked: set[int] = set()  # stories that have their link
        self._loaded = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def held_vectors(self) -> int:
        """How many article vectors are in memory."""
        return len(self._articles)

    async def _load(self, since: datetime) -> None:
        """Load the window's vectors and the stories already linked."""
        async with self.db.unit_of_work() as session:
            repo = LinkRepo(session)
            stored = await repo.vectors_since(since)
            links = await repo.links_since(since - self.config.window)
        self._articles = {s.article_id: _link_article(s) for s in stored}
        self._linked = {story for link in links for story in (link.story_a, link.story_b)}
        self._loaded = True

    def _evict(self, since: datetime) -> None:
        """Forget vectors of articles published before `since`."""
        old = [key for key, article in self._articles.items() if article.published < since]
        for key in old:
            del self._articles[key]

    async def _embed_batch(self, since: datetime) -> tuple[int, set[int], bool]:
        """Embed one batch of waiting articles: (how many, their stories, embeddings off)."""
        async with self.db.unit_of_work() as session:
            todo = await LinkRepo(session).unembedded(since, self.tuning.batch)
        if not todo:
            return 0, set(), False
        texts = [embedding_text(item.title, item.text, item.lede) for item in todo]
        vectors = await self.embedder.embed_many(texts)
        if vectors is None:
            return 0, set(), True
        packed = pack_vectors(vectors)
        ids = [item.article_id for item in todo]
        async with self.db.unit_of_work() as session:
            repo = LinkRepo(session)
            await repo.store_vectors(list(zip(ids, packed, strict=True)))
            fresh = await repo.vectors_since(since, ids)
        for stored in fresh:
            self._articles[stored.article_id] = _link_article(stored)
        return len(todo), {stored.story_id for stored in fresh}, False

    async def _link(self, changed: set[int] | None) -> tuple[int, int]:
        """Look for links touching `changed` (all when None); store them: (links, pushes owed)."""
        links = link_stories(
            list(self._articles.values()), self.config, linked=self._linked, changed=changed
        )
        if not links:
            return 0, 0
        now = self.clock()
        pairs = [link_pair(link) for link in links]
        async with self.db.unit_of_work() as session:
            added = await LinkRepo(session).add_links(pairs, now)
            caught_up = 0
            for link in links:
                caught_up += await catch_up(session, link.ar, link.en, now - CATCH_UP, now)
                caught_up += await catch_up(session, link.en, link.ar, now - CATCH_UP, now)
        for link in links:
            self._linked.update((link.ar, link.en))
            log.info("linked story %d (ar) with %d (en), cosine %.3f", *link_pair(link))
        return added, caught_up

    async def run_once(self) -> LinkerPass:
        """One pass: embed a batch of waiting articles, then link the stories that changed."""
        since = self.clock() - self.config.window
        first = not self._loaded
        if first:
            await self._load(since)
        self._evict(since)
        embedded, changed, off = await self._embed_batch(since)
        if off:
            return LinkerPass(off=True)
        if not first and not changed:
            return LinkerPass(embedded=embedded)
        links, caught_up = await self._link(None if first else changed)
        return LinkerPass(embedded, links, caught_up)

    async def run_until_idle(self, max_passes: int = 1000) -> LinkerPass:
        """Repeat `run_once` until no article is left to embed (or embeddings are off)."""
        embedded = links = caught_up = 0
        for _ in range(max_passes):
            result = await self.run_once()
            embedded, links = embedded + result.embedded, links + result.links
            caught_up += result.caught_up
            if result.off or result.embedded < self.tuning.batch:
                return LinkerPass(embedded, links, caught_up, result.off)
        return LinkerPass(embedded, links, caught_up)

    async def _hold_lease(self) -> bool:
        """Take or renew the linker lease."""
        ttl = timedelta(seconds=self.tuning.lease_seconds)
        async with self.db.unit_of_work() as session:
            return await LeaseRepo(session).acquire(LINKER_LEASE, self.holder, self.clock(), ttl)

    async def _loop(self) -> None:
        """Passes until stopped: back to back while work is waiting, else every idle period."""
        while not self._stopping.is_set():
            busy = False
            try:
                if await self._hold_lease():
                    result = await self.run_once()
                    if result.off:
                        return
                    busy = result.embedded >= self.tuning.batch
                else:
                    self._loaded = False  # another process links; reload if we take over
            except Exception:
                log.exception("linker pass failed")
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.tuning.idle_seconds)

    def start(self) -> None:
        """Run passes in the background until `close`."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="linker")

    async def close(self) -> None:
        """Stop after the pass in progress and give the lease up."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(Exception):
            async with self.db.unit_of_work() as session:
                await LeaseRepo(session).release(LINKER_LEASE, self.holder)


async def record_encoder_state(
    db: Database, available: bool, encoder: str, reason: str, at: datetime
) -> None:
    """Store whether embeddings are on (for `akhbar status`, read by another process)."""
    async with db.unit_of_work() as session:
        await AppStateRepo(session).put(
            ENCODER_STATE, encoder_state_value(available, encoder, reason, at)
        )


class LinkingService:
    """The process's embedder and linker: started and closed by the app.

    The encoder loads in the background, so the bot answers at once; when it cannot load,
    the reason is logged once (by the embedder), recorded for `akhbar status`, and the bot
    keeps working on lexical features.
    """

    def __init__(
        self,
        db: Database,
        encoder: str,
        *,
        clock: Clock = utc_now,
        tuning: LinkerTuning | None = None,
        holder: str = "linker",
    ) -> None:
        """Configure; nothing starts until `start`."""
        from bot.embeddings import Embedder

        self.db = db
        self.encoder = encoder
        self.clock = clock
        self.tuning = tuning or LinkerTuning()
        self.embedder = Embedder(encoder, batch_size=self.tuning.batch)
        self.linker = Linker(db, self.embedder, clock=clock, tuning=self.tuning, holder=holder)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        """Load the encoder, record its state, then run the linker until closed."""
        if self.encoder == "off":
            await record_encoder_state(self.db, False, "", "AKHBAR_ENCODER=off", self.clock())
            log.info("embeddings off (AKHBAR_ENCODER=off): lexical features only")
            return
        status = await self.embedder.start()
        await record_encoder_state(
            self.db, status.available, status.encoder, status.reason, self.clock()
        )
        if status.available:
            log.info("embeddings on: %s (%d dimensions)", status.encoder, status.dim)
            self.linker.start()

    def start(self) -> None:
        """Start in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="linking")

    async def close(self) -> None:
        """Stop the linker, then the embedding worker."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.linker.close()
        await self.embedder.close()
