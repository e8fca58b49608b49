"""Pure digest composition: one chat's digest from a shared window of recent articles.

`DigestWindow` holds the originals published in a digest window, by story, and works out
keyword matches and rendered digests once per window, shared by every chat built from it.
`compose_digest` is one chat's digest from its followed articles (less those its mutes
hide); chats whose inputs render the same share one rendering, and stories their blocks.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Final

from bot.domain import Article, Chat, Follow, FollowKind, Story
from bot.pipeline.mutes import MuteFilter, visible
from bot.pipeline.xlink import receives_push
from bot.presentation.render import DigestEntry, join_digest, render_digest_entry

DIGEST_STORIES: Final = 10

ArticleTerms = Callable[[Article], Iterable[str]]


def source_name(article: Article) -> str:
    """An article's source name (may be empty)."""
    return article.source_name or ""


def article_time(article: Article) -> datetime:
    """The best known time of an article (aware; the epoch when unknown)."""
    found = article.published_at or article.fetched_at
    if found is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def _first_line(article: Article) -> str:
    """A one-line summary of an article."""
    if article.summary:
        return article.summary[0]
    return article.lede or ""


_RENDERED_MAX: Final = 4096
RenderKey = tuple[str, str, date, bool, int, tuple[int, ...]]
BlockKey = tuple[str, int, int, tuple[int, ...]]


class DigestWindow:
    """Originals published in a digest window, by story, with keyword matches and rendered
    digests worked out once per window and shared by every chat built from it."""

    def __init__(
        self,
        articles: list[Article],
        stories: dict[int, Story],
        terms: ArticleTerms,
        partners: Mapping[int, set[int]] | None = None,
    ) -> None:
        """Index the window's originals by story; `terms` gives an article's matching terms;
        `partners` the stories linked across languages to each (both ways)."""
        self.stories = stories
        self.terms = terms
        self.partners: Mapping[int, set[int]] = partners or {}
        self.articles = [a for a in articles if a.duplicate_of is None]
        self.by_story: dict[int, list[Article]] = {}
        for article in self.articles:
            if article.story_id is not None:
                self.by_story.setdefault(article.story_id, []).append(article)
        self.when = {a.id: article_time(a) for a in self.articles}
        self.stamp = {article_id: when.timestamp() for article_id, when in self.when.items()}
        ordered = sorted(self.articles, key=lambda a: (self.when[a.id], a.id))
        self.rank = {a.id: n for n, a in enumerate(ordered)}  # digest order: oldest, then id
        self._postings: dict[str, set[int]] | None = None
        self._term_sets: dict[int, frozenset[str]] = {}
        self._matches: dict[tuple[str, ...], list[Article]] = {}
        self._recent: dict[datetime, dict[int, list[Article]]] = {}
        self.rendered: dict[RenderKey, tuple[str, ...]] = {}
        self.blocks: dict[BlockKey, str] = {}

    def shown_story(self, story_id: int, lang: str) -> int:
        """The story a linked pair is listed under for readers of `lang` (itself when unlinked):
        the member in that language, else the lower id."""
        partners = self.partners.get(story_id)
        if not partners:
            return story_id
        members = sorted({story_id} | partners)
        known = [m for m in members if m in self.stories]
        in_lang = [m for m in known if lang in self.stories[m].languages]
        return (in_lang or known or members)[0]

    @staticmethod
    def reads(chat: Chat, article: Article) -> bool:
        """Whether a followed article belongs in the chat's digest: as for pushes, only a
        one-language news setting leaves the other language out."""
        return receives_push(chat.news_langs, article.lang)

    def recent(self, since: datetime) -> dict[int, list[Article]]:
        """Each story's originals published at or after `since`."""
        found = self._recent.get(since)
        if found is None:
            found = {}
            when = self.when
            for story_id, items in self.by_story.items():
                fresh = [a for a in items if when[a.id] >= since]
                if fresh:
                    found[story_id] = fresh
            self._recent = {since: found}
        return found

    def keyword_matches(self, terms: tuple[str, ...]) -> list[Article]:
        """Originals whose matching terms include all of `terms` (none for no terms)."""
        found = self._matches.get(terms)
        if found is not None:
            return found
        found = []
        if terms:
            postings = self._index()
            lists = sorted((postings.get(term, set()) for term in set(terms)), key=len)
            ids = set(lists[0]).intersection(*lists[1:])
            found = [a for a in self.articles if a.id in ids]
        self._matches[terms] = found
        return found

    def terms_of(self, article: Article) -> frozenset[str]:
        """An article's matching terms, worked out once per window (keywords and mutes)."""
        found = self._term_sets.get(article.id)
        if found is None:
            found = self._term_sets[article.id] = frozenset(self.terms(article))
        return found

    def _index(self) -> dict[str, set[int]]:
        """Term → ids of the originals that have it, built on first use."""
        if self._postings is None:
            postings: dict[str, set[int]] = {}
            for article in self.articles:
                for term in self.terms_of(article):
                    postings.setdefault(term, set()).add(article.id)
            self._postings = postings
        return self._postings


def followed_articles(
    window: DigestWindow,
    follows: list[Follow],
    since: datetime,
    muted: frozenset[int] = frozenset(),
    mutes: MuteFilter | None = None,
) -> list[Article]:
    """Originals published since `since` in a followed story or matching a keyword follow
    (the follows given: the caller leaves muted ones out), oldest first. Keyword matches
    in a `muted` story are left out too, as pushes leave them out, and so are articles
    the chat's `mutes` (muted words and sources) hide."""
    recent, when, rank = window.recent(since), window.when, window.rank
    story_ids = {f.story_id for f in follows if f.kind is FollowKind.STORY and f.story_id}
    story_ids |= {p for sid in story_ids for p in window.partners.get(sid, ())}
    chosen = [a for sid in story_ids for a in recent.get(sid, ())]
    keywords = [f for f in follows if f.kind is FollowKind.KEYWORD]
    if keywords:
        seen = {a.id for a in chosen}
        for follow in keywords:
            for article in window.keyword_matches(follow.terms):
                if article.story_id in muted:
                    continue
                if article.id not in seen and when[article.id] >= since:
                    seen.add(article.id)
                    chosen.append(article)
    chosen.sort(key=lambda a: rank[a.id])
    return visible(chosen, mutes, window.terms_of) if mutes else chosen


def _top_stories(
    window: DigestWindow, fresh: list[Article], limit: int, lang: str = ""
) -> tuple[list[tuple[int, list[Article]]], int]:
    """The `limit` stories with most of the articles new to the chat (given in digest
    order), then the most recent; and how many of the articles are not in them (past the
    top, or without a known story). A linked pair counts as one story, listed under its
    member in `lang`."""
    stories, stamp = window.stories, window.stamp
    by_story: dict[int, list[Article]] = {}
    for article in fresh:
        if article.story_id in stories:
            shown = window.shown_story(article.story_id, lang)
            by_story.setdefault(shown, []).append(article)
    # in digest order, a story's newest article is its last; nsmallest == sorted()[:limit]
    top = heapq.nsmallest(
        limit, by_story.items(), key=lambda item: (-len(item[1]), -stamp[item[1][-1].id])
    )
    return top, len(fresh) - sum(len(items) for _, items in top)


def _digest_entry(window: DigestWindow, story_id: int, items: list[Article]) -> DigestEntry:
    """A story's digest entry: its count, one-line summary and two newest headlines."""
    when = window.when
    newest = sorted(items, key=lambda a: when[a.id], reverse=True)
    return DigestEntry(
        story=window.stories[story_id],
        new_count=len(items),
        summary_line=_first_line(newest[0]),
        headlines=[(a, source_name(a)) for a in newest[:2]],
    )


def _story_block(
    window: DigestWindow, lang: str, index: int, story_id: int, items: list[Article]
) -> str:
    """A story's rendered digest block, shared by every chat with the same one at `index`."""
    key: BlockKey = (lang, index, story_id, tuple(a.id for a in items))
    block = window.blocks.get(key)
    if block is None:
        if len(window.blocks) >= _RENDERED_MAX:
            window.blocks.clear()
        block = render_digest_entry(lang, index, _digest_entry(window, story_id, items))
        window.blocks[key] = block
    return block


def compose_digest(
    window: DigestWindow, chat: Chat, chosen: list[Article], got: set[int], local_day: date
) -> list[str]:
    """One chat's digest from its followed articles (in digest order) and those it already
    received in full.

    Top stories by new articles: label, count, one-line summary, two newest headlines;
    received articles, articles without a known story and stories past the top ten count
    towards "N more updates". Chats whose inputs render the same (language, timezone,
    day, articles) share one rendering per window, and stories their blocks.
    """
    chosen = [a for a in chosen if window.reads(chat, a)]
    fresh = [a for a in chosen if a.id not in got] if got else chosen
    already = len(chosen) - len(fresh)
    key: RenderKey = (
        chat.language,
        chat.timezone,
        local_day,
        chat.empty_digest,
        already,
        tuple(a.id for a in fresh),
    )
    parts = window.rendered.get(key)
    if parts is None:
        top, left = _top_stories(window, fresh, DIGEST_STORIES, chat.language)
        more = already + left
        parts = ()
        if top or chat.empty_digest:
            lang = chat.language
            blocks = [
                _story_block(window, lang, index, story_id, items)
                for index, (story_id, items) in enumerate(top, 1)
            ]
            parts = tuple(join_digest(lang, chat.timezone, blocks, more, local_day))
        if len(window.rendered) >= _RENDERED_MAX:
            window.rendered.clear()
        window.rendered[key] = parts
    return list(parts)
