"""Tests of the matching form."""

from bot.pipeline.text import detect_language, matching_terms, normalize_arabic, query_terms


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
