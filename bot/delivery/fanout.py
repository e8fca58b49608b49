"""Fan-out: new articles into the outbox, at most one row per chat and article.

Articles are claimed through `articles.fanned_out` and their rows enqueued in the same
transaction, so a crash never loses or doubles an article's fan-out. Who gets what is
decided by the pure `bot.pipeline.fanout` (and `bot.pipeline.mutes`: a chat whose mutes
hide an article gets no row for it, as for a muted story); this module only reads and
writes. The mutes of a batch's candidate chats are read in one query per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.domain import Article, Clock, Follow, utc_now
from bot.follows import article_terms
from bot.pipeline.fanout import choose_follows, live_chats, plan_fanout, without_chats
from bot.pipeline.mutes import MuteFilter, TermsOf, filters_by_chat, muted_chats
from bot.pipeline.xlink import receives_push
from storage.db import Database
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo
from storage.repos.links import LinkRepo
from storage.repos.mutes import MuteRepo

log = logging.getLogger(__name__)

KeywordMatcher = Callable[[Article], Iterable[int]]


@dataclass(frozen=True, slots=True)
class FanOutResult:
    """What one fan-out pass did."""

    articles: int = 0
    enqueued: int = 0


class FanOut:
    """Enqueues the deliveries owed for new articles, exactly once per chat and article."""

    def __init__(
        self,
        db: Database,
        match_keywords: KeywordMatcher | None = None,
        *,
        holder: str = "fanout",
        batch: int = 50,
        clock: Clock = utc_now,
        terms_of: TermsOf = article_terms,
    ) -> None:
        """Use `db`; `match_keywords(article)` returns the ids of keyword follows it matches;
        `terms_of(article)` its matching terms (for word mutes)."""
        self.db = db
        self.match_keywords = match_keywords
        self.holder = holder
        self.batch = batch
        self.clock = clock
        self.terms_of = terms_of

    async def run_once(self) -> FanOutResult:
        """Fan out one batch of new articles in one transaction (a crash redoes it whole)."""
        async with self.db.unit_of_work() as session:
            repo = DeliveryRepo(session)
            follows, chats = FollowRepo(session), ChatRepo(session)
            articles = await repo.claim_fanout(self.batch, self.holder)
            owed = [(a, await self._choose(repo, follows, a)) for a in articles]
            candidates = {chat_id for _, chosen in owed for chat_id in chosen}
            mutes = await MuteRepo(session).for_chats(candidates) if candidates else {}
            filters = filters_by_chat(mutes)
            enqueued = 0
            for article, chosen in owed:
                enqueued += await self._enqueue(repo, chats, article, chosen, filters)
            await repo.mark_fanned_out([a.id for a in articles])
        if articles:
            log.info("fan-out: %d articles, %d deliveries", len(articles), enqueued)
        return FanOutResult(len(articles), enqueued)

    async def run_until_idle(self, max_batches: int = 1000) -> FanOutResult:
        """Repeat `run_once` until nothing is left (or `max_batches`)."""
        total_a = total_e = 0
        for _ in range(max_batches):
            result = await self.run_once()
            total_a += result.articles
            total_e += result.enqueued
            if result.articles == 0:
                break
        return FanOutResult(total_a, total_e)

    async def _follows_for(
        self, repo: DeliveryRepo, follows: FollowRepo, article: Article
    ) -> list[Follow]:
        """Unmuted story and keyword follows that match an article."""
        found: list[Follow] = []
        if article.story_id is not None:  # a follow of either linked story gets both
            for story_id in await LinkRepo(repo.session).with_partners(article.story_id):
                found.extend(await follows.story_followers(story_id))
        if self.match_keywords is not None:
            ids = set(self.match_keywords(article))
            if ids:
                found.extend(f for f in await repo.follows_by_ids(ids) if not f.muted)
        return found

    async def _choose(
        self, repo: DeliveryRepo, follows: FollowRepo, article: Article
    ) -> dict[int, Follow]:
        """Per chat owed an instant push of the article, the follow it is attributed to."""
        muted: set[int] = set()
        if article.story_id is not None:
            for story_id in await LinkRepo(repo.session).with_partners(article.story_id):
                muted |= await follows.muted_story_chats(story_id)
        return choose_follows(await self._follows_for(repo, follows, article), muted)

    async def _enqueue(
        self,
        repo: DeliveryRepo,
        chats: ChatRepo,
        article: Article,
        chosen: dict[int, Follow],
        filters: dict[int, MuteFilter],
    ) -> int:
        """Enqueue one article for every chosen chat that should get it (not muted, live)."""
        hidden = muted_chats(article, chosen, filters, self.terms_of) if filters else set()
        chosen = without_chats(chosen, hidden)
        if not chosen:
            return 0
        found = await chats.get_many(chosen)
        live = [
            c for c in live_chats(chosen, found) if receives_push(found[c].news_langs, article.lang)
        ]
        originals = {}
        if article.duplicate_of is not None and live:
            originals = await repo.states_for_article(article.duplicate_of, live)
        return await repo.enqueue_many(plan_fanout(article, chosen, live, originals), self.clock())
