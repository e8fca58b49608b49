"""Tests of the matching form."""

import json
from collections import Counter

from bot.pipeline.text import (
    detect_language,
    matching_terms,
    normalize_arabic,
    query_groups,
    query_terms,
    raw_tokens,
    term_variants,
)
from tests.datapaths import data_path


def test_normalize_arabic() -> None:
    assert normalize_arabic("حَلَب") == "حلب"
    assert normalize_arabic("أإآٱ ى ة ؤ ئ ـ ١٢٣") == "اااا ي ه و ي  123"


def test_arabic_clitics_match() -> None:
    forms = ["حلب", "بحلب", "وحلب", "حَلَب", "والحلب", "بالحلب"]
    assert {tuple(matching_terms(f)) for f in forms} == {("حلب",)}
    assert matching_terms("السعودية") == matching_terms("السعوديين")


def test_english_stemming_and_stopwords() -> None:
    assert matching_terms("The strikes") == matching_terms("strike")
    assert matching_terms("the of and") == []


def test_mixed_and_detect() -> None:
    assert matching_terms("Aleppo حلب") == ["aleppo", "حلب"]
    assert detect_language("قال الرئيس إن Reuters") == "ar"
    assert detect_language("Police said حلب") == "en"
    assert detect_language("") == "en"


def test_query_terms_dedup_cap() -> None:
    assert query_terms("strike strikes STRIKE حلب بحلب") == ["strike", "حلب"]
    assert len(query_terms(" ".join(f"word{i}" for i in range(100)))) == 32
    assert query_terms('"*:()-- NEAR') == ["near"]


def test_arabic_light_stemming_keeps_root_letters() -> None:
    # One conjunction, one preposition, then the article: no repeated stripping.
    assert matching_terms("لبنان ولبنان بلبنان") == ["لبنان"] * 3
    assert matching_terms("وزير الوزير والوزير") == ["وزير"] * 3
    assert matching_terms("لندن") == ["لندن"] and matching_terms("بغداد") == ["بغداد"]
    assert matching_terms("للحلب وبالحلب فحلب") == ["حلب"] * 3
    # Relative adjectives keep their ي, so they do not collide with the name سعود.
    assert matching_terms("السعودية السعوديين سعودي") == ["سعودي"] * 3
    assert matching_terms("سعود") == ["سعود"]
    assert matching_terms("سوريا بسوريا") == ["سوريا"] * 2


def test_clitic_variants_join_bare_and_definite_forms() -> None:
    # A bare word and its definite form share a term whichever way the stemmer reads them.
    for bare in ["وقود", "فيديو", "برلمان", "بريطانية", "ليبية", "فوضى", "فيفا"]:
        assert set(term_variants(bare)) & set(term_variants("ال" + bare)), bare
        assert set(term_variants(bare)) & set(matching_terms("ال" + bare)), bare
        assert set(term_variants("ال" + bare)) & set(matching_terms(bare)), bare
    assert query_groups("أسعار الوقود") == [("اسعار",), ("وقود", "قود")]
    # Root-initial words and plain words are not split into unrelated ones.
    assert term_variants("وزير") == ("وزير",) and term_variants("لبنان") == ("لبنان",)
    assert term_variants("حلب") == ("حلب",) and term_variants("Strikes") == ("strike",)
    assert query_groups("the of و في") == []


def _clitic_pairs(rows: list[dict[str, str]]) -> tuple[list[str], dict[str, set[int]]]:
    """Frequent bare words starting with و/ف/ب/ل/ك also seen with ال, and each term's docs."""
    counts: Counter[str] = Counter()
    docs: dict[str, set[int]] = {}
    for i, row in enumerate(rows):
        text = f"{row.get('title') or ''}\n{row.get('text') or ''}"
        counts.update(normalize_arabic(tok) for tok in raw_tokens(text))
        for term in matching_terms(text):
            docs.setdefault(term, set()).add(i)
    bare = [
        w
        for w, n in counts.most_common()
        if n >= 20 and w[0] in "وفبلك" and len(w) >= 4 and counts["ال" + w] >= 5
    ]
    return bare, docs


def _found(groups: list[tuple[str, ...]], docs: dict[str, set[int]]) -> set[int]:
    """Documents holding any term of the first group (a one-word query's result set)."""
    return set().union(*(docs.get(term, set()) for term in groups[0])) if groups else set()


def test_saudinewsnet_bare_and_definite_forms_find_the_same_articles() -> None:
    """≥ 95 % of frequent clitic-initial words find overlapping articles bare and with ال."""
    path = data_path("saudinewsnet", "articles.jsonl")
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    words, docs = _clitic_pairs(rows)
    assert len(words) >= 100
    overlapping = [
        w for w in words if _found(query_groups(w), docs) & _found(query_groups("ال" + w), docs)
    ]
    same_terms = [w for w in words if matching_terms(w) == matching_terms("ال" + w)]
    share = len(overlapping) / len(words)
    print(
        f"clitic pairs {len(words)}: overlapping {share:.3f}, same single term {len(same_terms) / len(words):.3f}"
    )
    assert share >= 0.95
