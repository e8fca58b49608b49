"""Matching form of Arabic and English text: normalisation, tokens, light stemming.

Pure functions (standard library + snowballstemmer). The matching form is what
clustering, search and keyword follows compare: Arabic is normalised (no diacritics,
unified alef/yeh/teh marbuta/hamza carriers, ASCII digits) and lightly stemmed with
clitics removed, English is casefolded and Snowball-stemmed, stopwords are dropped.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

import snowballstemmer

Lang = Literal["ar", "en"]

_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_TRANSLATION = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ؤ": "و",
        "ئ": "ي",
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
    }
)
_TOKEN = re.compile(r"[^\W_]+")
_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3\u06fa-\u06ff]")
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u024f]")
_HAS_ARABIC = re.compile("[\u0600-\u06ff]")

MAX_QUERY_TERMS = 32
_DETECT_SAMPLE = 4000

# Proclitics, longest first; stripped repeatedly while at least 3 letters remain.
_PREFIXES: tuple[str, ...] = (
    "وبال",
    "وكال",
    "وفال",
    "ولل",
    "فلل",
    "وال",
    "بال",
    "كال",
    "فال",
    "لل",
    "ال",
    "و",
    "ف",
    "ب",
    "ل",
    "ك",
)
# Suffixes (already normalised: ة -> ه), longest first; stripped at most twice.
_SUFFIXES: tuple[str, ...] = (
    "كما",
    "هما",
    "تين",
    "تان",
    "يين",
    "ات",
    "ون",
    "ين",
    "ان",
    "ها",
    "هم",
    "هن",
    "كم",
    "كن",
    "نا",
    "يه",
    "ته",
    "ه",
    "ي",
)
_MIN_STEM = 3

_EN_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "said",
        "says",
        "say",
        "according",
        "mr",
        "mrs",
        "ms",
        "s",
        "t",
        "than",
        "us",
        "were",
        "been",
        "may",
        "might",
        "must",
        "shall",
        "its",
    ]
)

_AR_STOPWORDS_RAW = [
    "في",
    "من",
    "على",
    "إلى",
    "الى",
    "عن",
    "أن",
    "إن",
    "ان",
    "ما",
    "لا",
    "لم",
    "لن",
    "هذا",
    "هذه",
    "ذلك",
    "تلك",
    "التي",
    "الذي",
    "الذين",
    "اللذين",
    "اللتين",
    "و",
    "او",
    "أو",
    "ثم",
    "كما",
    "كان",
    "كانت",
    "يكون",
    "تكون",
    "قد",
    "لقد",
    "كل",
    "بين",
    "بعد",
    "قبل",
    "عند",
    "حيث",
    "هو",
    "هي",
    "هم",
    "هن",
    "نحن",
    "انا",
    "أنا",
    "انه",
    "أنه",
    "إنه",
    "انها",
    "أنها",
    "التى",
    "مع",
    "منذ",
    "حتى",
    "إذا",
    "اذا",
    "أي",
    "اي",
    "به",
    "بها",
    "له",
    "لها",
    "فيه",
    "فيها",
    "عليه",
    "عليها",
    "منه",
    "منها",
    "ذات",
    "غير",
    "أيضا",
    "ايضا",
    "وقد",
    "وفي",
    "ومن",
    "وعلى",
    "وان",
    "وأن",
    "وإن",
    "وهو",
    "وهي",
    "ولا",
    "فقط",
    "مثل",
    "خلال",
    "الا",
    "إلا",
    "ليس",
    "وكان",
    "وكانت",
    "يتم",
    "تم",
    "عام",
    "هذا",
    "وهذا",
    "وهذه",
    "لهذا",
    "لهذه",
    "بهذا",
    "بهذه",
    "ذلك",
    "وذلك",
    "بذلك",
    "لذلك",
    "فى",
    "الي",
    "علي",
    "عليه",
    "عليهم",
    "لدى",
    "لدي",
    "اما",
    "أما",
    "إما",
    "او",
    "ولم",
    "ولن",
    "فإن",
    "فان",
    "بأن",
    "بان",
    "لأن",
    "لان",
    "كأن",
    "ثم",
    "حين",
    "حينما",
    "بينما",
    "اذ",
    "إذ",
    "هنا",
    "هناك",
    "لكن",
    "ولكن",
    "لكنه",
    "بل",
    "كذلك",
    "وكذلك",
    "اى",
    "ايا",
    "أيا",
    "التي",
    "اللذان",
    "اللتان",
]

_EN_STEMMER = snowballstemmer.stemmer("english")


def normalize_arabic(s: str) -> str:
    """Remove diacritics and tatweel, unify alef/yeh/teh marbuta/hamza forms, ASCII digits."""
    return _DIACRITICS.sub("", s).translate(_TRANSLATION)


_AR_STOPWORDS = frozenset(normalize_arabic(w) for w in _AR_STOPWORDS_RAW)


def detect_language(text: str) -> Lang:
    """Return "ar" when Arabic letters are at least as frequent as Latin ones, else "en"."""
    sample = text[:_DETECT_SAMPLE]
    arabic = len(_ARABIC_LETTER.findall(sample))
    if arabic == 0:
        return "en"
    latin = len(_LATIN_LETTER.findall(sample))
    return "ar" if arabic >= latin else "en"


def tokenize(text: str) -> list[str]:
    """Split text into raw word tokens (letters and digits, punctuation dropped)."""
    return _TOKEN.findall(text)


def _strip_prefixes(word: str) -> str:
    """Strip Arabic proclitics repeatedly while a stem of at least three letters remains."""
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if word.startswith(prefix) and len(word) - len(prefix) >= _MIN_STEM:
                word = word[len(prefix) :]
                changed = True
                break
    return word


def _strip_suffixes(word: str) -> str:
    """Strip up to two Arabic suffixes while a stem of at least three letters remains."""
    for _ in range(2):
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
                word = word[: -len(suffix)]
                break
        else:
            return word
    return word


@lru_cache(maxsize=200_000)
def arabic_stem(token: str) -> str:
    """Light-stem one normalised Arabic token; "" for stopwords."""
    if token in _AR_STOPWORDS:
        return ""
    word = _strip_prefixes(token)
    if word in _AR_STOPWORDS:
        return ""
    return _strip_suffixes(word)


@lru_cache(maxsize=200_000)
def english_stem(token: str) -> str:
    """Snowball-stem one lower-case English token; "" for stopwords."""
    if token in _EN_STOPWORDS:
        return ""
    stem: str = _EN_STEMMER.stemWord(token)
    return stem


@lru_cache(maxsize=400_000)
def term_of(token: str) -> str:
    """Matching term of one normalised lower-case token ("" when it is dropped)."""
    if token.isdigit():
        return token.lstrip("0") or "0"
    if len(token) < 2:
        return ""
    if _HAS_ARABIC.search(token):
        return arabic_stem(token)
    return english_stem(token)


def matching_form(text: str) -> str:
    """Normalise text for matching: Arabic normalisation plus casefolding."""
    return normalize_arabic(text).lower()


def matching_terms(text: str, lang: str | None = None) -> list[str]:
    """Return the matching terms of text in order (both scripts; stopwords dropped)."""
    del lang  # each token's script decides; kept for a uniform call signature
    out: list[str] = []
    append = out.append
    for token in _TOKEN.findall(matching_form(text)):
        term = term_of(token)
        if term:
            append(term)
    return out


def query_terms(text: str, limit: int = MAX_QUERY_TERMS) -> list[str]:
    """Return distinct matching terms of a user query in order, at most `limit` of them."""
    seen: dict[str, None] = {}
    for term in matching_terms(text):
        if term not in seen:
            seen[term] = None
            if len(seen) >= limit:
                break
    return list(seen)
