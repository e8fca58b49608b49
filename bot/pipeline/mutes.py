"""Pure mute decisions: which articles a chat's mutes hide, and which source a name means.

A word mute hides an article whose matching terms include every term of the mute (the
same Arabic-normalised, stemmed terms as keyword follows; no user regex); a source mute
hides every article of that source. Article terms are computed lazily: only when some
chat in question has a word mute.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from bot.domain import Article, Mute, MuteKind, Source
from bot.pipeline.text import headline_terms, matching_form

MAX_MUTES: Final = 50  # per chat
MAX_MUTE_TERMS: Final = 5  # matching terms per word mute
MAX_MUTE_CHARS: Final = 100  # characters of a word mute as typed
CLOSE_MATCHES: Final = 5  # source names offered when a name is unknown or ambiguous

TermsOf = Callable[[Article], frozenset[str]]
_SPACES: Final = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class MuteFilter:
    """One chat's mutes in matching form: term sets (all must occur) and source ids."""

    words: tuple[frozenset[str], ...] = ()
    sources: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        """Whether the filter hides anything at all."""
        return bool(self.words or self.sources)

    def hides_source(self, article: Article) -> bool:
        """Whether the article's source is muted."""
        return article.source_id is not None and article.source_id in self.sources

    def hides(self, article: Article, terms: Callable[[], frozenset[str]]) -> bool:
        """Whether the article is muted; `terms()` is called only when a word mute must be checked."""
        if self.hides_source(article):
            return True
        if not self.words:
            return False
        found = terms()
        return any(words <= found for words in self.words)

    def hides_form(self, article: Article, form: str) -> bool:
        """Whether the article is muted, its terms given as a stored matching form."""
        return self.hides_source(article) or any(form_holds(form, w) for w in self.words)


def mute_filter(mutes: Iterable[Mute]) -> MuteFilter:
    """The filter of one chat's mutes (word mutes without terms are ignored)."""
    words: list[frozenset[str]] = []
    sources: set[int] = set()
    for mute in mutes:
        if mute.kind is MuteKind.SOURCE and mute.source_id is not None:
            sources.add(mute.source_id)
        elif mute.kind is MuteKind.WORD and mute.terms:
            words.append(frozenset(mute.terms))
    return MuteFilter(tuple(dict.fromkeys(words)), frozenset(sources))


def filters_by_chat(mutes: Mapping[int, Sequence[Mute]]) -> dict[int, MuteFilter]:
    """A filter per chat that has mutes."""
    found = {chat_id: mute_filter(items) for chat_id, items in mutes.items()}
    return {chat_id: f for chat_id, f in found.items() if f}


class LazyTerms:
    """An article's matching terms, computed on first use and then kept."""

    def __init__(self, article: Article, terms_of: TermsOf) -> None:
        """Remember the article; nothing is computed yet."""
        self.article = article
        self.terms_of = terms_of
        self._terms: frozenset[str] | None = None

    def __call__(self) -> frozenset[str]:
        """The article's terms."""
        if self._terms is None:
            self._terms = self.terms_of(self.article)
        return self._terms


def muted_chats(
    article: Article, chats: Iterable[int], filters: Mapping[int, MuteFilter], terms_of: TermsOf
) -> set[int]:
    """The chats among `chats` whose mutes hide the article (its terms computed at most once)."""
    terms = LazyTerms(article, terms_of)
    return {c for c in chats if (f := filters.get(c)) is not None and f.hides(article, terms)}


def visible(articles: Iterable[Article], mutes: MuteFilter, terms_of: TermsOf) -> list[Article]:
    """The articles the chat's mutes leave visible, in order."""
    if not mutes:
        return list(articles)
    return [a for a in articles if not mutes.hides(a, LazyTerms(a, terms_of))]


def form_holds(form: str, words: frozenset[str]) -> bool:
    """Whether a stored matching form (terms joined by single spaces) holds all `words`."""
    padded = f" {form} "
    return all(f" {word} " in padded for word in words)


def visible_in_forms(
    articles: Iterable[Article], mutes: MuteFilter, forms: Mapping[int, str], terms_of: TermsOf
) -> list[Article]:
    """The articles the mutes leave visible, in order; word mutes are looked up in each
    article's stored matching form (no tokenising), or in `terms_of` when it has none."""
    if not mutes:
        return list(articles)

    def hidden(article: Article) -> bool:
        """Whether the mutes hide the article, by its stored form when it has one."""
        form = forms.get(article.id)
        if form is None:
            return mutes.hides(article, LazyTerms(article, terms_of))
        return mutes.hides_form(article, form)

    return [a for a in articles if not hidden(a)]


def mute_key(terms: Iterable[str]) -> str:
    """The stored form of a word mute's terms (sorted, space separated)."""
    return " ".join(sorted(set(terms)))


# --------------------------------------------------------------------------- source names


def name_form(text: str) -> str:
    """A source name or query for comparison: Arabic-normalised, casefolded, single spaces."""
    return _SPACES.sub(" ", matching_form(text)).strip()


def _host(url: str) -> str:
    """A source URL's host without "www." ("" when unreadable)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


@dataclass(frozen=True, slots=True)
class SourceMatch:
    """What a name means among the sources: one source, or the candidates to choose from."""

    source: Source | None = None
    candidates: tuple[Source, ...] = ()
    ambiguous: bool = False  # the candidates all match; otherwise they are only close


def find_source(query: str, sources: Sequence[Source]) -> SourceMatch:
    """The source a user means by name (exact, then unique partial match), id ("12", "#12")
    or host; otherwise the close or partial matches to offer (none: nothing is close)."""
    wanted = name_form(query)
    if not wanted:
        return SourceMatch()
    digits = wanted.removeprefix("#")
    if digits.isdigit() and len(digits) <= 18:
        by_id = next((s for s in sources if s.id == int(digits)), None)
        if by_id is not None:
            return SourceMatch(by_id)
    names = {s.id: name_form(s.name) for s in sources}
    exact = [s for s in sources if names[s.id] == wanted or _host(s.url) == wanted]
    if len(exact) == 1:
        return SourceMatch(exact[0])
    if exact:
        return SourceMatch(None, tuple(exact[:CLOSE_MATCHES]), ambiguous=True)
    partial = [s for s in sources if wanted in names[s.id] or wanted in _host(s.url)]
    if len(partial) == 1:
        return SourceMatch(partial[0])
    if partial:
        return SourceMatch(None, tuple(partial[:CLOSE_MATCHES]), ambiguous=True)
    by_name = {name: s for s in sources if (name := names[s.id])}
    close = difflib.get_close_matches(wanted, list(by_name), n=CLOSE_MATCHES, cutoff=0.6)
    return SourceMatch(None, tuple(by_name[name] for name in close))


def word_muted(mutes: MuteFilter, terms: frozenset[str]) -> bool:
    """Whether every term of some word mute occurs among `terms`."""
    return any(words <= terms for words in mutes.words)


def hides_headline(mutes: MuteFilter, headline: str) -> bool:
    """Whether a word mute hides a headline (its memoised matching terms)."""
    return bool(mutes.words) and word_muted(mutes, frozenset(headline_terms(headline)))


def hides_story(
    mutes: MuteFilter, label_terms: frozenset[str], sources: set[int], titles: Iterable[str] = ()
) -> bool:
    """Whether a listed story is muted: its headline or one of its articles' `titles` has a
    muted word set (each title on its own), or every one of its (known) sources is muted."""
    if word_muted(mutes, label_terms) or any(hides_headline(mutes, t) for t in titles):
        return True
    return bool(sources) and sources <= mutes.sources
