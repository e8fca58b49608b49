"""Matching form of Arabic and English text: normalisation, tokens, light stemming.

Pure functions (standard library + snowballstemmer). The matching form is what
clustering, search and keyword follows compare: Arabic is normalised (no diacritics,
unified alef/yeh/teh marbuta/hamza carriers, ASCII digits) and lightly stemmed with
clitics removed, English is casefolded and Snowball-stemmed, stopwords are dropped.
"""

from __future__ import annotations

import re
from typing import Literal

import snowballstemmer

from bot.pipeline.memo import short_key_cache

Lang = Literal["ar", "en"]

TOKEN_KEY_MAX = 64  # longer tokens (no word is) are stemmed each time, never cached
HEADLINE_KEY_MAX = 1000  # longer headlines are read each time, never cached

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
# Runs of letters, counted by length (far fewer matches than one per letter).
_ARABIC_LETTERS = re.compile("[\u0621-\u064a\u0671-\u06d3\u06fa-\u06ff]+")
_LATIN_LETTERS = re.compile("[A-Za-z\u00c0-\u024f]+")
_HAS_ARABIC = re.compile("[\u0600-\u06ff]")
_TRANSLATED = re.compile("[" + "".join(chr(c) for c in _TRANSLATION) + "]")

MAX_QUERY_TERMS = 32
_DETECT_SAMPLE = 4000

# Proclitic chains that end in the definite article: conjunction? preposition? + ال (or لل,
# the preposition ل before ال with its alef dropped). After such a chain the stem begins.
_ARTICLE_CHAINS: tuple[str, ...] = (
    "وبال",
    "وكال",
    "فبال",
    "فكال",
    "ولل",
    "فلل",
    "وال",
    "فال",
    "بال",
    "كال",
    "لل",
    "ال",
)
_CONJUNCTIONS = "وف"
_PREPOSITIONS = "بلك"
# Frequent words (normalised) whose first letter is a root letter that looks like a clitic:
# a bare single-letter prefix is not stripped from them, so لبنان stays لبنان (not نان) and
# وزير matches الوزير. A prefix in front of them is still stripped (ولبنان -> لبنان).
_ROOT_INITIAL_RAW = """
    لبنان لبناني ليبيا ليبي لندن لاعب لاعبين لجنه لجان لقاء لقاءات لغه ليله لحظه لواء لوحه لقب
    بيروت بغداد بريطانيا بريطاني باكستان بنغلاديش بلجيكا بلغاريا بولندا البرازيل برازيل بحرين
    بيان بيانات بناء برنامج برامج بدايه بلد بلاد بلدان بلديه بيت بيوت بحث بحوث بطوله بنك بنوك
    بعثه بحر بئر بيع بيئه بطاقه بطل بورصه باب بشر بعض بعد
    فرنسا فرنسي فلسطين فلسطيني فنزويلا فيتنام فنلندا فريق فرق فتره فرصه فرص فيلم افلام فكره
    فصل فرع فروع فندق فوز فعاليات فعاليه فيروس فساد فقر فضاء
    كندا كوريا كويت كوبا كينيا كولومبيا كبير كبيره كبار كتاب كتب كلمه كلمات كره كاس كامل
    كليه كليات كثير كثيره كميه كميات كهرباء كرسي كنيسه
    وزير وزيره وزراء وزاره وزارات وطن وطني وطنيه وفد وفود وفاه وقت وكاله وكالات واحد واحده
    وجود وسايل وسيله ولايه ولايات ولي وادي واقع واضح وجه وصول ورشه وظيفه وظايف وضع وثيقه
    وثايق واشنطن وكيل وعد وعي ودايع
"""
# Suffixes (already normalised: ة -> ه), longest first, with what replaces them: the
# relative (nisba) endings keep their ي so سعوديه/سعوديين/سعودي -> سعودي, not the name سعود.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("كما", ""),
    ("هما", ""),
    ("تين", ""),
    ("تان", ""),
    ("يين", "ي"),
    ("يون", "ي"),
    ("يات", "ي"),
    ("ات", ""),
    ("ون", ""),
    ("ين", ""),
    ("ان", ""),
    ("ها", ""),
    ("هم", ""),
    ("هن", ""),
    ("كم", ""),
    ("كن", ""),
    ("نا", ""),
    ("يه", "ي"),
    ("ته", ""),
    ("ه", ""),
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
_ROOT_INITIAL = frozenset(normalize_arabic(w) for w in _ROOT_INITIAL_RAW.split())


def detect_language(text: str) -> Lang:
    """Return "ar" when Arabic letters are at least as frequent as Latin ones, else "en"."""
    sample = text[:_DETECT_SAMPLE]
    arabic = sum(map(len, _ARABIC_LETTERS.findall(sample)))
    if arabic == 0:
        return "en"
    latin = sum(map(len, _LATIN_LETTERS.findall(sample)))
    return "ar" if arabic >= latin else "en"


def letter_counts(text: str) -> tuple[int, int]:
    """How many Arabic and how many Latin letters text has (the counts `detect_language` uses)."""
    return (
        sum(map(len, _ARABIC_LETTERS.findall(text))),
        sum(map(len, _LATIN_LETTERS.findall(text))),
    )


def tokenize(text: str) -> list[str]:
    """Split text into raw word tokens (letters and digits, punctuation dropped)."""
    return _TOKEN.findall(text)


# A definite-article chain followed by a stem of at least three letters.
_ARTICLE = re.compile(f"(?:{'|'.join(_ARTICLE_CHAINS)})(?=.{{{_MIN_STEM}}})", re.S)
# Each suffix's replacement, and the suffix lengths longest first: a word ends with at most
# one suffix of each length, so trying its last three, two, one letters finds the longest.
_SUFFIX_REPLACEMENTS = dict(_SUFFIXES)
_SUFFIX_LENGTHS = tuple(sorted({len(s) for s, _ in _SUFFIXES}, reverse=True))


def _strip_article(word: str) -> str | None:
    """The word without a leading definite-article chain, or None when it has none."""
    match = _ARTICLE.match(word)
    return word[match.end() :] if match else None


def _strip_prefixes(word: str) -> str:
    """Strip one proclitic chain: conjunction? then preposition? then ال, keeping >= 3 letters.

    A chain ending in ال is stripped whole and nothing more; otherwise at most one
    conjunction (و/ف) and then at most one preposition (ب/ل/ك) go, never from a word in
    the root-initial list (so لبنان keeps its ل while بلبنان and ولبنان lose theirs).
    """
    stem = _strip_article(word)
    if stem is not None:
        return stem
    if word in _ROOT_INITIAL:
        return word
    if word[0] in _CONJUNCTIONS and len(word) > _MIN_STEM:
        word = word[1:]
        stem = _strip_article(word)
        if stem is not None:
            return stem
        if word in _ROOT_INITIAL:
            return word
    if word[0] in _PREPOSITIONS and len(word) > _MIN_STEM:
        word = word[1:]
    return word


def _strip_suffixes(word: str) -> str:
    """Strip up to two Arabic suffixes while a stem of at least three letters remains.

    A relative (nisba) ending is replaced by ي and ends the stripping.
    """
    for _ in range(2):
        for size in _SUFFIX_LENGTHS:
            if len(word) - size < _MIN_STEM:
                continue
            replacement = _SUFFIX_REPLACEMENTS.get(word[-size:])
            if replacement is not None:
                word = word[:-size] + replacement
                break
        else:
            return word
        if replacement:
            return word
    return word


def _arabic_stem(token: str) -> str:
    """Light-stem one normalised Arabic token; "" for stopwords (not memoised)."""
    if token in _AR_STOPWORDS:
        return ""
    word = _strip_prefixes(token)
    if word in _AR_STOPWORDS:
        return ""
    if word in _ROOT_INITIAL:
        return word
    return _strip_suffixes(word)


def _english_stem(token: str) -> str:
    """Snowball-stem one lower-case English token; "" for stopwords (not memoised)."""
    if token in _EN_STOPWORDS:
        return ""
    stem: str = _EN_STEMMER.stemWord(token)
    return stem


# Memoised for the query-variant reading below; term_of (memoised itself) calls the plain
# stemmers.
arabic_stem = short_key_cache(200_000, TOKEN_KEY_MAX)(_arabic_stem)


def _term_of(token: str) -> str:
    """Matching term of one normalised lower-case token ("" when dropped; not memoised)."""
    if token.isdigit():
        return token.lstrip("0") or "0"
    if len(token) < 2:
        return ""
    if _HAS_ARABIC.search(token):
        return _arabic_stem(token)
    return _english_stem(token)


# Memoised for queries and names; the raw-token table below has its own memo, so it calls
# the plain function (one table per token, not two).
term_of = short_key_cache(400_000, TOKEN_KEY_MAX)(_term_of)


def matching_form(text: str) -> str:
    """Normalise text for matching: Arabic normalisation plus casefolding."""
    return normalize_arabic(text).lower()


_TOKEN_TERMS: dict[str, str] = {}  # raw token -> matching term ("" when dropped)

_TOKEN_TERMS_MAX = 300_000


def _token_term(token: str) -> str:
    """Matching term of one raw token (diacritics already removed), memoised in a bounded table."""
    norm = (token.translate(_TRANSLATION) if _TRANSLATED.search(token) else token).lower()
    if not norm.isalnum():  # casefolding made a non-word character (not [^\W_]): drop it
        norm = "".join(_TOKEN.findall(norm))
    term = _term_of(norm) if norm else ""
    if len(token) > TOKEN_KEY_MAX:  # never kept: the table's keys stay short
        return term
    if len(_TOKEN_TERMS) >= _TOKEN_TERMS_MAX:
        _TOKEN_TERMS.clear()
    _TOKEN_TERMS[token] = term
    return term


def token_terms_of(tokens: list[str]) -> list[str]:
    """Matching terms of raw word tokens of text whose diacritics were removed, in order."""
    terms = list(map(_TOKEN_TERMS.get, tokens))
    if None in terms:
        _read_unknown(tokens, terms)
    return list(filter(None, terms))


def _read_unknown(tokens: list[str], terms: list[str | None]) -> None:
    """Fill in the terms of tokens the table did not know (None), in order; the scan for the
    next one runs in C, so a sentence with a few new words is not walked word by word."""
    at = terms.index(None)
    while True:
        terms[at] = _token_term(tokens[at])
        try:
            at = terms.index(None, at + 1)
        except ValueError:
            return


def raw_tokens(text: str) -> list[str]:
    """Word tokens of text after removing diacritics and tatweel (not yet normalised)."""
    return _TOKEN.findall(_DIACRITICS.sub("", text))


def matching_terms(text: str, lang: str | None = None) -> list[str]:
    """Return the matching terms of text in order (both scripts; stopwords dropped)."""
    del lang  # each token's script decides; kept for a uniform call signature
    return token_terms_of(_TOKEN.findall(_DIACRITICS.sub("", text)))


@short_key_cache(8192, HEADLINE_KEY_MAX)
def headline_terms(title: str) -> tuple[str, ...]:
    """`matching_terms` of a headline, memoised: the clusterer, the summariser and related
    headlines all read the same headlines, over and over."""
    return tuple(matching_terms(title))


def query_terms(text: str, limit: int = MAX_QUERY_TERMS) -> list[str]:
    """Return distinct matching terms of a user query in order, at most `limit` of them."""
    seen: dict[str, None] = {}
    for term in matching_terms(text):
        if term not in seen:
            seen[term] = None
            if len(seen) >= limit:
                break
    return list(seen)


# Single-letter proclitics and their two-letter chains (conjunction + preposition) that a
# query word may carry, besides the definite-article chains of `_ARTICLE_CHAINS`.
_CLITIC_CHAINS: tuple[str, ...] = tuple(
    [c + p for c in _CONJUNCTIONS for p in _PREPOSITIONS]
    + list(_CONJUNCTIONS)
    + list(_PREPOSITIONS)
)


@short_key_cache(50_000, TOKEN_KEY_MAX)
def arabic_variants(token: str) -> tuple[str, ...]:
    """Index terms a normalised Arabic word may stand for, its own stem first.

    The light stemmer must guess whether a leading و/ف/ب/ل/ك is a clitic: a bare وقود
    indexes as قود while الوقود indexes as وقود. A query word is therefore read every way
    it can be split into a clitic chain and a remainder of at least three letters, and each
    remainder contributes the terms it is indexed under bare and with ال; the search ORs
    them. Words of the root-initial list are never split (their first letter is a root
    letter). An empty tuple for stopwords.
    """
    own = arabic_stem(token)
    if not own:
        return ()
    out: dict[str, None] = {own: None}
    if token in _ROOT_INITIAL:
        return tuple(out)
    rests = [token] + [
        token[len(chain) :]
        for chain in _ARTICLE_CHAINS + _CLITIC_CHAINS
        if token.startswith(chain) and len(token) - len(chain) >= _MIN_STEM
    ]
    for rest in rests:
        if rest in _AR_STOPWORDS:
            continue
        forms = (rest,) if _strip_article(rest) is not None else (rest, "ال" + rest)
        for form in forms:
            term = arabic_stem(form)
            if term:
                out.setdefault(term, None)
    return tuple(out)


def term_variants(token: str) -> tuple[str, ...]:
    """Matching terms one raw query token may stand for (its own term first; () if dropped)."""
    norm = matching_form(token)
    norm = "".join(_TOKEN.findall(norm))
    own = term_of(norm) if norm else ""
    if not own:
        return ()
    if len(norm) >= 2 and not norm.isdigit() and _HAS_ARABIC.search(norm):
        return arabic_variants(norm)
    return (own,)


def query_groups(
    text: str, limit: int = MAX_QUERY_TERMS, per_group: int = 6
) -> list[tuple[str, ...]]:
    """Distinct query words as groups of alternative terms, in order, at most `limit` groups.

    A document matches a group when it holds any of its terms; an Arabic word's group holds
    the terms of its possible clitic readings (`arabic_variants`), an English word's only
    its stem. Words whose terms an earlier group already covers are dropped.
    """
    groups: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for token in raw_tokens(text):
        variants = term_variants(token)[:per_group]
        if not variants or variants[0] in seen:
            continue
        seen.update(variants)
        groups.append(variants)
        if len(groups) >= limit:
            break
    return groups
