"""Operational figures for /stats, read from the repositories."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from bot.domain import Stats
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo
from storage.repos.links import LinkRepo
from storage.repos.sources import SourceRepo
from storage.repos.state import AppStateRepo
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


def encoder_line(state: str | None, embedded: int, waiting: int, links: int) -> str:
    """`akhbar status`'s line on cross-language linking, from the state the linker stored."""
    figures = f"{embedded} articles embedded, {waiting} waiting, {links} story links"
    if state is None:
        return f"embeddings: not started yet (no bot has run since revision 0005); {figures}"
    try:
        info = json.loads(state)
    except ValueError:
        return f"embeddings: unreadable state; {figures}"
    if info.get("available"):
        return f"embeddings: on ({info.get('encoder')}); {figures}"
    return f"embeddings: off, lexical features only ({info.get('reason')}); {figures}"


async def encoder_status(db: Database) -> str:
    """The encoder's state as the running bot recorded it, with the linking figures."""
    from bot.linker import ENCODER_STATE

    async with db.unit_of_work() as session:
        state = await AppStateRepo(session).get(ENCODER_STATE)
        links = LinkRepo(session)
        embedded, waiting = await links.count_embedded()
        count = await links.count_links()
    return encoder_line(state, embedded, waiting, count)
