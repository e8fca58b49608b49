"""Operational figures for /stats, read from the repositories."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain import Stats
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo
from storage.repos.sources import SourceRepo
from storage.repos.stories import StoryRepo


async def collect_stats(db: Database, now: datetime) -> Stats:
    """Sources, articles, stories, chats, follows, outbox depth and the last hour's sends."""
    hour_ago = now - timedelta(hours=1)
    async with db.unit_of_work() as session:
        sources = await SourceRepo(session).list_all()
        chats_total, chats_blocked = await ChatRepo(session).counts()
        deliveries = DeliveryRepo(session)
        return Stats(
            sources_total=len(sources),
            sources_paused=sum(1 for s in sources if s.paused),
            sources_failing=sum(1 for s in sources if s.error_count > 0),
            articles_total=await ArticleRepo(session).count(),
            stories_total=await StoryRepo(session).count(),
            chats_total=chats_total,
            chats_blocked=chats_blocked,
            follows_total=await FollowRepo(session).count(),
            queue={k: v for k, v in (await deliveries.counts_by_state()).items() if v},
            sent_last_hour=await deliveries.sent_since(hour_ago),
            failed_last_hour=await deliveries.failed_since(hour_ago),
        )
