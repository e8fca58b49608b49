"""Cross-language story linking and the coverage line, as pure functions over plain data.

Lexical clustering keeps stories within one script. The linker pairs an Arabic story
with an English story when both are each other's best match by the cosine of their
story vectors (the normalised mean of their articles' headline-and-lead embeddings),
the cosine clears a floor, it beats each side's runner-up by a margin, and the two
stories are within a time window of each other. Each story gets at most one link, and
links already made stay (precision first: a wrong merge costs more than a miss).

`coverage` turns a story's articles into counts of sources per language and who
reported first, as data; wording belongs to the presentation layer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from bot.pipeline.encoder import Vectors, normalise_rows

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Tunable settings of the cross-language linker."""

    floor: float = 0.55  # story-vector cosine a link needs
    margin: float = 0.05  # how far the pair must beat each side's runner-up
    min_agreement: float = 1.0  # share of both stories' articles whose best match is the partner
    window: timedelta = timedelta(hours=48)  # largest time gap between the two stories


@dataclass(frozen=True, slots=True)
class LinkArticle:
    """An article as the linker sees it: its lexical story, language, time and embedding."""

    id: str | int
    story: int
    lang: str | None
    published: datetime
    vector: npt.NDArray[np.float32]
    source: str | None = None


@dataclass(frozen=True, slots=True)
class LinkStory:
    """A lexical story as the linker sees it."""

    key: int
    lang: str
    first_seen: datetime
    last_seen: datetime
    vector: npt.NDArray[np.float32]
    size: int


@dataclass(frozen=True, slots=True)
class Link:
    """One Arabic story and one English story that report the same event."""

    ar: int
    en: int
    similarity: float


def story_language(languages: Iterable[str | None]) -> str:
    """The most common language of a story's articles ("" when none is known)."""
    counts = Counter(lang for lang in languages if lang)
    if not counts:
        return ""
    return min(counts, key=lambda lang: (-counts[lang], lang))


def build_stories(articles: Iterable[LinkArticle]) -> list[LinkStory]:
    """Group embedded articles by story: language, time span and mean vector of each."""
    groups: dict[int, list[LinkArticle]] = {}
    for article in articles:
        groups.setdefault(article.story, []).append(article)
    stories = []
    for key, members in groups.items():
        times = [member.published for member in members]
        mean = np.mean(np.stack([member.vector for member in members]), axis=0)
        stories.append(
            LinkStory(
                key=key,
                lang=story_language(member.lang for member in members),
                first_seen=min(times),
                last_seen=max(times),
                vector=normalise_rows(mean)[0],
                size=len(members),
            )
        )
    return stories


def _naive_utc(value: datetime) -> datetime:
    """A time as naive UTC (naive times are taken as UTC already)."""
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _hours(values: Iterable[datetime]) -> npt.NDArray[np.float64]:
    """Times as hours since the epoch (aware and naive UTC times alike)."""
    return np.array(
        [(_naive_utc(value) - _EPOCH) / timedelta(hours=1) for value in values], dtype=np.float64
    )


def _gaps_hours(first: Sequence[LinkStory], second: Sequence[LinkStory]) -> npt.NDArray[np.float64]:
    """Hours between each pair of stories' time spans (0 where they overlap)."""
    a_first, a_last = _hours(s.first_seen for s in first), _hours(s.last_seen for s in first)
    b_first, b_last = _hours(s.first_seen for s in second), _hours(s.last_seen for s in second)
    later_start = np.maximum(a_first[:, None], b_first[None, :])
    earlier_end = np.minimum(a_last[:, None], b_last[None, :])
    gaps: npt.NDArray[np.float64] = np.maximum(later_start - earlier_end, 0.0)
    return gaps


def _runner_up(scores: npt.NDArray[np.float32], axis: int) -> npt.NDArray[np.float32]:
    """The second-highest score along an axis (-1 where there is no second)."""
    if scores.shape[axis] < 2:
        return np.full(scores.shape[1 - axis], -1.0, dtype=np.float32)
    top_two = -np.partition(-scores, 1, axis=axis)
    second: npt.NDArray[np.float32] = np.take(top_two, 1, axis=axis)
    return second


def _stack(vectors: Iterable[npt.NDArray[np.float32]]) -> Vectors:
    """Rows stacked into one float32 matrix."""
    return np.stack(list(vectors)).astype(np.float32, copy=False)


def _windowed_scores(
    first: Sequence[LinkStory], second: Sequence[LinkStory], window: timedelta
) -> Vectors:
    """Story cosines, with pairs further apart in time than the window set to -1."""
    scores: Vectors = _stack(s.vector for s in first) @ _stack(s.vector for s in second).T
    scores[_gaps_hours(first, second) > window / timedelta(hours=1)] = -1.0
    return scores


def _rows_to_check(
    arabic: Sequence[LinkStory],
    english: Sequence[LinkStory],
    cfg: LinkConfig,
    changed: Collection[int] | None,
) -> list[int]:
    """Arabic stories whose best match is checked: all, or the changed ones and the changed English stories' best."""
    if changed is None:
        return list(range(len(arabic)))
    rows = {i for i, story in enumerate(arabic) if story.key in changed}
    columns = [story for story in english if story.key in changed]
    if columns:
        rows.update(np.argmax(_windowed_scores(arabic, columns, cfg.window), axis=0).tolist())
    return sorted(rows)


def _candidates(
    arabic: Sequence[LinkStory],
    english: Sequence[LinkStory],
    cfg: LinkConfig,
    changed: Collection[int] | None = None,
) -> list[Link]:
    """Mutual-best story pairs that clear the floor and beat both runners-up by the margin."""
    rows = _rows_to_check(arabic, english, cfg, changed)
    if not rows:
        return []
    row_scores = _windowed_scores([arabic[i] for i in rows], english, cfg.window)
    best_en = np.argmax(row_scores, axis=1)
    columns = sorted(set(best_en.tolist()))
    if len(rows) == len(arabic):
        column_scores = row_scores[:, columns]
    else:
        column_scores = _windowed_scores(arabic, [english[j] for j in columns], cfg.window)
    position = {j: c for c, j in enumerate(columns)}
    best_ar = np.argmax(column_scores, axis=0)
    second_en, second_ar = _runner_up(row_scores, axis=1), _runner_up(column_scores, axis=0)
    found = []
    for r, i in enumerate(rows):
        j = int(best_en[r])
        c = position[j]
        score = float(row_scores[r, j])
        if best_ar[c] != i or score < cfg.floor:
            continue
        if min(score - float(second_en[r]), score - float(second_ar[c])) < cfg.margin:
            continue
        if changed is None or arabic[i].key in changed or english[j].key in changed:
            found.append(Link(ar=arabic[i].key, en=english[j].key, similarity=score))
    return found


@dataclass(frozen=True, slots=True)
class _Pool:
    """One language's articles with their vectors and times as arrays."""

    articles: Sequence[LinkArticle]
    matrix: Vectors
    hours: npt.NDArray[np.float64]


def _pool(articles: Sequence[LinkArticle]) -> _Pool:
    """A pool of articles (vectors stacked, times in hours since the epoch)."""
    return _Pool(
        articles, _stack(a.vector for a in articles), _hours(a.published for a in articles)
    )


def _agreement(
    link: Link,
    members: Mapping[int, Sequence[LinkArticle]],
    pools: Mapping[str, _Pool],
    window: timedelta,
) -> float:
    """Share of the pair's articles whose best other-language article in the window is in the partner story.

    Articles with no other-language article within the window do not vote.
    """
    limit = window / timedelta(hours=1)
    agreeing = total = 0
    for key, partner, other in ((link.ar, link.en, "en"), (link.en, link.ar, "ar")):
        pool = pools[other]
        for article in members[key]:
            scores = pool.matrix @ article.vector
            outside = np.abs(pool.hours - _hours([article.published])[0]) > limit
            if outside.all():
                continue  # nothing in the other language near this article's time: no vote
            scores[outside] = -2.0
            agreeing += pool.articles[int(np.argmax(scores))].story == partner
            total += 1
    return agreeing / total if total else 0.0


def link_stories(
    articles: Sequence[LinkArticle],
    config: LinkConfig | None = None,
    linked: Iterable[int] = (),
    changed: Iterable[int] | None = None,
) -> list[Link]:
    """New Arabic–English story links among the articles' stories not in `linked`, strongest first.

    A link needs: the two story vectors each other's best match within the time window,
    a cosine of at least `floor`, a lead of `margin` over each side's runner-up, and at
    least `min_agreement` of the two stories' articles finding their best other-language
    article in the partner story (so a lexical story that mixes events is not linked).
    With `changed` (the stories that gained articles since the last call), only links
    involving one of them are looked for, at a cost proportional to their number.
    """
    cfg = config or LinkConfig()
    taken = set(linked)
    stories = build_stories(articles)
    arabic = [s for s in stories if s.lang == "ar" and s.key not in taken]
    english = [s for s in stories if s.lang == "en" and s.key not in taken]
    if not arabic or not english:
        return []
    members: dict[int, list[LinkArticle]] = {}
    for article in articles:
        members.setdefault(article.story, []).append(article)
    pools = {lang: _pool([a for a in articles if a.lang == lang]) for lang in ("ar", "en")}
    links = [
        link
        for link in _candidates(arabic, english, cfg, None if changed is None else set(changed))
        if _agreement(link, members, pools, cfg.window) >= cfg.min_agreement
    ]
    links.sort(key=lambda link: -link.similarity)
    return links


def merged_story_keys(links: Iterable[Link]) -> dict[int, int]:
    """Story key -> the key its linked pair is known by (the smaller of the two)."""
    merged: dict[int, int] = {}
    for link in links:
        canonical = min(link.ar, link.en)
        merged[link.ar] = canonical
        merged[link.en] = canonical
    return merged


# ---------------------------------------------------------------- coverage
@dataclass(frozen=True, slots=True)
class CoverageItem:
    """One article's part in a story's coverage."""

    source: str
    lang: str | None
    published: datetime


@dataclass(frozen=True, slots=True)
class Coverage:
    """Who covers a story: distinct sources in all and per language, and the first report."""

    sources: int
    sources_by_language: Mapping[str, int]
    articles: int
    first_source: str | None
    first_language: str | None
    first_at: datetime | None


def coverage(items: Iterable[CoverageItem]) -> Coverage:
    """Coverage of a story's articles (any order; ties for first go to the smaller source name)."""
    ordered = sorted(items, key=lambda item: (item.published, item.source))
    by_language: dict[str, set[str]] = {}
    for item in ordered:
        if item.lang:
            by_language.setdefault(item.lang, set()).add(item.source)
    first = ordered[0] if ordered else None
    return Coverage(
        sources=len({item.source for item in ordered}),
        sources_by_language={lang: len(names) for lang, names in sorted(by_language.items())},
        articles=len(ordered),
        first_source=first.source if first else None,
        first_language=first.lang if first else None,
        first_at=first.published if first else None,
    )


# ---------------------------------------------------------------- news languages
NEWS_LANGUAGES = ("ar", "en", "both")  # the choices of a chat's news-languages setting
_LINKABLE = ("ar", "en")


def parse_news_langs(value: str | None) -> str | None:
    """A news-languages setting from user input: "ar", "en", "both", or None for the default."""
    cleaned = (value or "").strip().lower()
    aliases = {
        "arabic": "ar",
        "عربي": "ar",
        "العربية": "ar",
        "english": "en",
        "إنجليزي": "en",
        "الإنجليزية": "en",
        "all": "both",
        "كلاهما": "both",
        "الكل": "both",
    }
    cleaned = aliases.get(cleaned, cleaned)
    if cleaned in NEWS_LANGUAGES:
        return cleaned
    if cleaned in ("default", "off", "reset", "افتراضي"):
        return None
    raise ValueError(f"unknown news languages {value!r}")


def reads_news(news_langs: str | None, interface: str, lang: str | None, linked: bool) -> bool:
    """Whether a chat reads an article or story in `lang` in its lists and digests.

    "ar"/"en": that language only; "both": everything. The default (None): the interface
    language, plus the other language's coverage of stories linked across languages.
    Languages outside Arabic and English are never filtered.
    """
    if lang not in _LINKABLE or news_langs == "both":
        return True
    if news_langs in _LINKABLE:
        return lang == news_langs
    return interface not in _LINKABLE or lang == interface or linked


def receives_push(news_langs: str | None, lang: str | None) -> bool:
    """Whether a follower gets a push in `lang`: only an explicit one-language setting
    holds pushes back (a follow is itself a choice, and by default includes the linked
    coverage in the other language)."""
    return lang not in _LINKABLE or news_langs not in _LINKABLE or lang == news_langs


@dataclass(frozen=True, slots=True)
class ListedStory:
    """A story in a ranked list, with its language and its cross-language partner, if any."""

    key: int
    lang: str
    partner: int | None = None
    partner_lang: str = ""


def collapse_linked(stories: Sequence[ListedStory], interface: str) -> list[tuple[int, int | None]]:
    """A ranked list with each linked pair shown once, at the better-ranked member's place:
    (story shown, its partner). The shown member is the one in the interface language
    when the pair has one (its headline then reads in the reader's language)."""
    shown: list[tuple[int, int | None]] = []
    seen: set[int] = set()
    for story in stories:
        if story.key in seen:
            continue
        seen.add(story.key)
        partner = story.partner
        if partner is None:
            shown.append((story.key, None))
            continue
        seen.add(partner)
        if story.lang != interface and story.partner_lang == interface:
            shown.append((partner, story.key))
        else:
            shown.append((story.key, partner))
    return shown
