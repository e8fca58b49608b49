"""The normalise step of ingest: a candidate becomes an `ArticleDraft` (pure).

Language, storable text and keys, content hash, SimHash fingerprint, search text, the
extractive summary, and the leading sentences the story clusterer reads. CPU-heavy for
long texts, so ingest runs it off the event loop; `normalise_many` isolates each item (one
that raises is reported, the others are normalised).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain

from bot.domain import ArticleDraft, Source
from bot.pipeline.candidates import Candidate
from bot.pipeline.clean import clean_text, parse_timestamp
from bot.pipeline.fingerprint import content_hash, simhash
from bot.pipeline.images import safe_image_url
from bot.pipeline.sentences import Analysis, analyse
from bot.pipeline.storable import storable_key, storable_key_optional, storable_text
from bot.pipeline.summarise import summarise
from bot.pipeline.text import letter_counts, matching_terms

# The headline once: recall@10 of same-event articles on gva_event_clusters is 0.775 with
# it once and 0.746 with it three times (and the indexed text is shorter).
TITLE_WEIGHT = 1
FINGERPRINT_TITLE_WEIGHT = 8
FINGERPRINT_MIN_TERMS = 12
FINGERPRINT_BODY_TERMS = 150
SEARCH_BODY_CHARS = 20_000
LANGUAGE_SAMPLE_CHARS = 1000  # the leading characters (headline first) that decide ar/en


@dataclass(frozen=True, slots=True)
class Normalised:
    """One normalised article and whether a stored copy must be kept (its page was fetched)."""

    draft: ArticleDraft
    keep_existing: bool = False


@dataclass(frozen=True, slots=True)
class NormalisedBatch:
    """Per input, in order: its normalised article, or an error line saying why not."""

    results: tuple[Normalised | str, ...]

    @property
    def items(self) -> tuple[Normalised, ...]:
        """The articles that normalised, in order."""
        return tuple(r for r in self.results if isinstance(r, Normalised))

    @property
    def errors(self) -> tuple[str, ...]:
        """An error line for each input that did not normalise."""
        return tuple(r for r in self.results if isinstance(r, str))


def language(text: str, hint: str | None) -> str:
    """ar/en of a text; the hint decides when the text is mixed or has no letters."""
    arabic, latin = letter_counts(text[:LANGUAGE_SAMPLE_CHARS])
    hint = hint.lower()[:2] if hint else None
    if hint not in ("ar", "en"):
        hint = None
    if arabic + latin == 0 or (hint and abs(arabic - latin) <= 0.2 * (arabic + latin)):
        return hint or "en"
    return "ar" if arabic >= latin else "en"


def fingerprint(title_terms: list[str], body_terms: list[str]) -> int | None:
    """SimHash of the matching form (headline weighted), None when too short to trust."""
    if len(title_terms) + len(body_terms) < FINGERPRINT_MIN_TERMS:
        return None
    return simhash(title_terms * FINGERPRINT_TITLE_WEIGHT + body_terms[:FINGERPRINT_BODY_TERMS])


def body_terms(lede: str, text: str) -> list[str]:
    """Matching terms of the lede and text (the first SEARCH_BODY_CHARS characters).

    The text's terms come from its sentence analysis (tokenised once, shared with the
    summary and the clusterer): the same terms as `matching_terms(text)`, since no word
    crosses a sentence boundary.
    """
    if not text or len(lede) + 1 + len(text) > SEARCH_BODY_CHARS:
        return matching_terms(f"{lede}\n{text}"[:SEARCH_BODY_CHARS])
    terms = matching_terms(lede) if lede else []
    terms.extend(chain.from_iterable(analyse(text).terms))
    return terms


def leading_sentences(text: str, analysis: Analysis, terms: int) -> str | None:
    """The prefix of text that ends with the sentence holding its `terms`-th matching term.

    Its analysis starts with the same terms as the whole text's (a word never crosses a
    sentence boundary), so the clusterer reads the same article from it. None when that
    is the whole text.
    """
    seen = end = 0
    for sentence, sentence_terms in zip(analysis.sentences, analysis.terms, strict=True):
        found = text.find(sentence, end)
        if found < 0:
            return None
        end = found + len(sentence)
        seen += len(sentence_terms)
        if seen >= terms:
            return text[:end] if end < len(text.rstrip()) else None
    return None


def normalise(
    candidate: Candidate,
    source: Source | None,
    fetched_at: datetime,
    cluster_terms: int | None = None,
) -> ArticleDraft:
    """Turn a candidate into a draft: language, hashes, search text, summary.

    With `cluster_terms`, also the leading sentences that hold the text's first
    `cluster_terms` matching terms, all the clusterer reads (for a draft normalised in
    another process, whose sentence analysis this process's clusterer cannot reuse).
    """
    title = clean_text(storable_text(candidate.title))
    text = storable_text(candidate.text).strip()
    lede = storable_text(candidate.lede).strip()
    body = text or lede
    lang = language(f"{title}\n{lede}\n{text}", candidate.lang or (source.lang if source else None))
    title_terms = matching_terms(title)
    terms = body_terms(lede, text)
    summary = summarise(title, body, lang, max_sentences=3) if body else []
    return ArticleDraft(
        url=storable_key(candidate.url),
        title=title,
        lede=lede if lede != text else "",
        text=text,
        lang=lang,
        guid=storable_key_optional(candidate.guid),
        source_id=source.id if source else None,
        published_at=parse_timestamp(candidate.published, fetched_at),
        fetched_at=fetched_at,
        content_hash=content_hash(title, f"{lede}\n{text}"),
        fingerprint=fingerprint(title_terms, terms),
        image_caption=candidate.image_caption,
        image_url=safe_image_url(candidate.image_url, candidate.url),
        summary=tuple(summary),
        search_text=" ".join(title_terms * TITLE_WEIGHT + terms),
        cluster_text=(
            leading_sentences(text, analyse(text), cluster_terms)
            if text and cluster_terms is not None
            else None
        ),
    )


def fetches_pages(source: Source | None) -> bool:
    """Whether a source replaces summary-only items with their full page."""
    return source is not None and source.fetch_full_pages > 0


def normalise_many(
    batch: Sequence[tuple[Candidate, Source | None]],
    fetched_at: datetime,
    cluster_terms: int | None = None,
) -> NormalisedBatch:
    """Normalise each (candidate, source); one that raises becomes an error line, the others go on."""
    results: list[Normalised | str] = []
    for candidate, source in batch:
        try:
            draft = normalise(candidate, source, fetched_at, cluster_terms)
        except Exception as exc:  # one bad item never costs the others
            error = f"{candidate.url[:200]}: not normalised: {type(exc).__name__}: {exc}"
            results.append(error)
            continue
        results.append(Normalised(draft, candidate.summary_only and fetches_pages(source)))
    return NormalisedBatch(tuple(results))
