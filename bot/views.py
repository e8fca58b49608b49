"""Read views for the Telegram handlers: trending topics, latest articles, a story's card,
whether a chat follows anything, and the operator figures — read here, rendered by the
pure `bot.presentation.render`, so handlers never open a unit of work themselves. The
chat's mutes thin `/topics` (a story whose headline or one of its newest titles a word mute
matches) and `/latest` (`bot.pipeline.mutes`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Article, Chat, Clock, Stats, Story
from bot.follows import article_terms
from bot.pipeline.mutes import MuteFilter, hides_story, visible
from bot.pipeline.text import headline_terms
from bot.pipeline.xlink import CoverageItem, ListedStory, collapse_linked, coverage, reads_news
from bot.presentation.digest import source_name
from bot.presentation.message import Rendered
from bot.presentation.render import render_latest, render_story_card, render_topics
from bot.stats import collect_stats
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.chats import FollowRepo
from storage.repos.links import LinkRepo
from storage.repos.mutes import MuteRepo
from storage.repos.stories import StoryRepo

TOPICS_PAGE: Final = 5
TOPICS_WINDOW: Final = timedelta(days=3)
LATEST_PAGE: Final = 10
TIMELINE_MAX: Final = 40
SCAN_FACTOR: Final = 3  # rows read per row shown, when languages or links thin a list out


def story_language(story: Story, interface: str) -> str:
    """The language a story is listed under: the interface language when it has it."""
    if interface in story.languages or not story.languages:
        return interface
    return story.languages[0]


def reads_story(chat: Chat, story: Story, linked: bool) -> bool:
    """Whether the chat's news languages include any of the story's languages."""
    languages = story.languages or ("",)
    return any(reads_news(chat.news_langs, chat.language, lang, linked) for lang in languages)


def merged_story(shown: Story, partner: Story | None) -> Story:
    """A linked pair as one listed story: the shown one's headline, both stories' counts."""
    if partner is None:
        return shown
    languages = tuple(dict.fromkeys((*shown.languages, *partner.languages)))
    first = [s.first_seen for s in (shown, partner) if s.first_seen is not None]
    last = [s.last_seen for s in (shown, partner) if s.last_seen is not None]
    return replace(
        shown,
        article_count=shown.article_count + partner.article_count,
        source_count=shown.source_count + partner.source_count,
        languages=languages,
        first_seen=min(first) if first else None,
        last_seen=max(last) if last else None,
    )


def list_for_chat(
    chat: Chat,
    stories: Sequence[Story],
    partners: Mapping[int, set[int]],
    known: Mapping[int, Story],
) -> list[Story]:
    """Ranked stories the chat reads, each linked pair once under the interface-language headline."""
    listed = []
    for story in stories:
        partner = min(partners.get(story.id, set()), default=None)
        other = known.get(partner) if partner is not None else None
        if not reads_story(chat, story, partner is not None):
            continue
        listed.append(
            ListedStory(
                story.id,
                story_language(story, chat.language),
                partner,
                story_language(other, chat.language) if other is not None else "",
            )
        )
    by_id = {**known, **{s.id: s for s in stories}}
    return [
        merged_story(by_id[shown], by_id.get(partner) if partner is not None else None)
        for shown, partner in collapse_linked(listed, chat.language)
        if shown in by_id
    ]


def interface_first(story: Story, partner: Story | None, lang: str) -> tuple[Story, Story | None]:
    """A linked pair with the member in the interface language first (when one is)."""
    if partner is None or story_language(story, lang) == lang:
        return story, partner
    if story_language(partner, lang) == lang:
        return partner, story
    return story, partner


def coverage_items(articles: Sequence[Article]) -> list[CoverageItem]:
    """The coverage view of a story's dated articles (source, language, time)."""
    found = []
    for article in articles:
        when = article.published_at or article.fetched_at
        if when is not None:
            found.append(CoverageItem(source_name(article) or "?", article.lang, when))
    return found


def unmuted_stories(
    stories: Sequence[Story],
    mutes: MuteFilter,
    sources: Mapping[int, set[int]],
    titles: Mapping[int, Sequence[str]] | None = None,
    partners: Mapping[int, set[int]] | None = None,
) -> list[Story]:
    """The stories the chat's mutes leave listed: none whose headline or recent article
    `titles` (its own or a linked partner's: its card shows both) hold a muted word set,
    nor any whose known sources are all muted."""
    if not mutes:
        return list(stories)
    titles = titles or {}
    partners = partners or {}

    def shown_titles(story_id: int) -> list[str]:
        """The article titles of the story and its linked partners."""
        members = {story_id} | partners.get(story_id, set())
        return [title for member in sorted(members) for title in titles.get(member, ())]

    return [
        s
        for s in stories
        if not hides_story(
            mutes,
            frozenset(headline_terms(s.label)),
            sources.get(s.id, set()),
            shown_titles(s.id),
        )
    ]


def reads_article(chat: Chat, article: Article, partners: Mapping[int, set[int]]) -> bool:
    """Whether the chat's news languages include the article (linked coverage counts)."""
    linked = article.story_id is not None and article.story_id in partners
    return reads_news(chat.news_langs, chat.language, article.lang, linked)


class ReadViews:
    """Database reads behind the browsing commands and buttons, rendered for one chat."""

    def __init__(self, db: Database, clock: Clock) -> None:
        """Read through `db`; `clock` dates the trending window and the figures."""
        self.db = db
        self.clock = clock

    async def topics(self, chat: Chat, page: int) -> Rendered:
        """One page of trending stories with Follow buttons."""
        now = self.clock()
        page = max(0, page)
        wanted = (page + 1) * TOPICS_PAGE + 1
        async with self.db.unit_of_work() as session:
            stories = await StoryRepo(session).trending(now - TOPICS_WINDOW, wanted * SCAN_FACTOR)
            mutes = await MuteRepo(session).filter_for(chat.id)
            partners = await LinkRepo(session).partners(s.id for s in stories)
            if mutes:
                sources = {}
                if mutes.sources:
                    sources = await MuteRepo(session).story_sources(s.id for s in stories)
                titles = {}
                if mutes.words:
                    members = {s.id for s in stories} | {p for f in partners.values() for p in f}
                    titles = await ArticleRepo(session).newest_titles(members, TIMELINE_MAX)
                stories = unmuted_stories(stories, mutes, sources, titles, partners)
            others = {p for found in partners.values() for p in found}
            known = await StoryRepo(session).get_many(others)
        listed = list_for_chat(chat, stories, partners, known)
        shown = listed[page * TOPICS_PAGE : (page + 1) * TOPICS_PAGE]
        has_more = len(listed) > (page + 1) * TOPICS_PAGE
        return render_topics(chat.language, shown, page, has_more, now)

    async def latest(self, chat: Chat, page: int = 0) -> Rendered:
        """The newest articles."""
        page = max(0, page)
        async with self.db.unit_of_work() as session:
            shown, has_more = await latest_page(session, chat, page, LATEST_PAGE)
        return render_latest(chat.language, chat.timezone, shown, page, has_more)

    async def story(self, chat: Chat, story_id: int) -> list[Rendered] | None:
        """The full-coverage card of a story, or None when it does not exist."""
        async with self.db.unit_of_work() as session:
            story = await StoryRepo(session).get(story_id)
            if story is None:
                return None
            members = await LinkRepo(session).with_partners(story_id)
            stories = await StoryRepo(session).get_many(members)
            articles: list[Article] = []
            for member in members:
                articles += await ArticleRepo(session).for_story(member, TIMELINE_MAX)
        articles.sort(
            key=lambda a: (a.published_at is not None, a.published_at, a.id), reverse=True
        )
        articles = articles[:TIMELINE_MAX]
        originals = [a for a in articles if a.duplicate_of is None] or articles
        partner = next((stories[m] for m in members if m != story_id and m in stories), None)
        shown, partner = interface_first(story, partner, chat.language)
        in_language = [a for a in originals if a.lang == chat.language] or originals
        summary = list(in_language[0].summary) if in_language else []
        timeline = [(a, source_name(a)) for a in reversed(originals)]
        covered = coverage(coverage_items(originals))
        return render_story_card(
            chat.language,
            chat.timezone,
            merged_story(shown, partner),
            summary,
            timeline,
            covered,
        )

    async def has_follows(self, chat_id: int) -> bool:
        """Whether the chat follows anything."""
        async with self.db.unit_of_work() as session:
            return bool(await FollowRepo(session).for_chat(chat_id))

    async def stats(self) -> Stats:
        """The operator figures for /stats, as of now."""
        return await collect_stats(self.db, self.clock())


async def latest_page(
    session: AsyncSession, chat: Chat, page: int, per_page: int
) -> tuple[list[Article], bool]:
    """One page of the newest articles the chat reads (its news languages, without what it
    muted), and whether another page follows."""
    wanted = (page + 1) * per_page + 1
    articles = await ArticleRepo(session).latest(wanted * SCAN_FACTOR, 0)
    partners = await LinkRepo(session).partners(
        a.story_id for a in articles if a.story_id is not None
    )
    mutes = await MuteRepo(session).filter_for(chat.id)
    readable = visible(
        [a for a in articles if reads_article(chat, a, partners)], mutes, article_terms
    )
    return readable[page * per_page : (page + 1) * per_page], len(readable) > (page + 1) * per_page
