"""Catalog coverage, placeholders, plurals, language choice and formatting."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta

import pytest

from bot.presentation.i18n import (
    ADMIN_COMMANDS,
    SUPPORTED,
    USER_COMMANDS,
    admin_command_menu,
    catalog_entries,
    command_menu,
    format_age,
    format_date,
    format_datetime,
    format_number,
    format_time,
    pick_language,
    plural_keys,
    t,
    tn,
)
from tests.test_render_properties import assert_valid_telegram_html

PLAIN_PREFIXES = ("cmd.", "btn.", "toast.")


def fields(text: str) -> set[str]:
    """Named str.format fields used in a template."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogs_cover_exactly_the_same_keys() -> None:
    """Every key exists in English and Arabic, and no language has extra keys."""
    assert set(catalog_entries("en")) == set(catalog_entries("ar"))
    assert plural_keys("en") == plural_keys("ar")
    assert len(catalog_entries("en")) > 100


@pytest.mark.parametrize("lang", SUPPORTED)
def test_every_key_has_a_non_empty_translation(lang: str) -> None:
    """No empty msgstr (or plural form) anywhere."""
    for key, forms in catalog_entries(lang).items():
        assert forms, key
        assert all(form.strip() for form in forms), (lang, key)


def test_plural_catalogs_have_the_languages_form_count() -> None:
    """English has two plural forms, Arabic six."""
    for key in plural_keys("en"):
        assert len(catalog_entries("en")[key]) == 2
        assert len(catalog_entries("ar")[key]) == 6


def test_placeholders_match_between_languages() -> None:
    """Translations use the same {fields}; plural forms may drop {n} but add nothing."""
    english, arabic = catalog_entries("en"), catalog_entries("ar")
    for key, en_forms in english.items():
        en_fields = set().union(*(fields(f) for f in en_forms))
        ar_fields = set().union(*(fields(f) for f in arabic[key]))
        if key in plural_keys("en"):
            assert ar_fields <= en_fields and en_fields - {"n"} <= ar_fields, key
        else:
            assert en_fields == ar_fields, key


def test_arabic_catalog_is_arabic_and_english_is_english() -> None:
    """Most Arabic strings contain Arabic letters; English ones (bar the Arabic name) do not need to."""
    arabic_letters = re.compile("[\u0600-\u06ff]")
    arabic = catalog_entries("ar")
    with_arabic = [k for k, forms in arabic.items() if arabic_letters.search("".join(forms))]
    assert len(with_arabic) >= len(arabic) - 6
    assert t("en", "start.welcome").startswith("👋 <b>Welcome")


@pytest.mark.parametrize("lang", SUPPORTED)
def test_every_template_is_valid_telegram_html(lang: str) -> None:
    """Catalog text formatted with sample values is valid HTML; plain keys carry no markup."""
    for key, forms in catalog_entries(lang).items():
        for form in forms:
            filled = form.format_map({name: "x" for name in fields(form)})
            assert_valid_telegram_html(filled)
            if key.startswith(PLAIN_PREFIXES):
                assert "<" not in form and "&" not in form, key


@pytest.mark.parametrize(
    ("code", "default", "expected"),
    [
        ("ar", "en", "ar"),
        ("ar-EG", "en", "ar"),
        ("AR_sa", "en", "ar"),
        ("en", "ar", "en"),
        ("en-US", "en", "en"),
        ("fr", "en", "en"),
        ("fr", "ar", "ar"),
        (None, "en", "en"),
        ("", "ar", "ar"),
        ("arz", "en", "en"),
        ("de", "xx", "en"),
    ],
)
def test_pick_language(code: str | None, default: str, expected: str) -> None:
    """Telegram codes map to a supported language, with the default as fallback."""
    assert pick_language(code, default) == expected


@pytest.mark.parametrize(
    ("n", "english", "arabic"),
    [
        (0, "0 articles", "لا أخبار"),
        (1, "1 article", "خبر واحد"),
        (2, "2 articles", "خبران"),
        (3, "3 articles", "3 أخبار"),
        (10, "10 articles", "10 أخبار"),
        (11, "11 articles", "11 خبرًا"),
        (35, "35 articles", "35 خبرًا"),
        (100, "100 articles", "100 خبر"),
        (1234, "1,234 articles", "1,234 خبرًا"),
    ],
)
def test_plural_counts(n: int, english: str, arabic: str) -> None:
    """Counts use each language's plural rules."""
    assert tn("en", "count.articles", n) == english
    assert tn("ar", "count.articles", n) == arabic


def test_t_fills_fields_and_rejects_unknown_keys() -> None:
    """t() fills named fields, keeps unknown ones visible, and refuses unknown keys."""
    assert t("en", "follow.already", query="Maduro") == "You already follow “Maduro”."
    assert t("ar", "follow.already", query="حلب") == "أنت تتابع «حلب» بالفعل."
    assert "{query}" in t("en", "follow.already")
    assert t("xx", "lang.en") == "English"
    assert t("en", "count.articles", n=2) == "2 articles"
    with pytest.raises(KeyError):
        t("en", "no.such.key")
    with pytest.raises(KeyError):
        tn("en", "start.welcome", 2)


def test_format_age() -> None:
    """Ages read naturally in both languages."""
    assert format_age("en", timedelta(minutes=5)) == "5 min ago"
    assert format_age("ar", timedelta(minutes=5)) == "منذ 5 دقائق"
    assert format_age("ar", timedelta(minutes=1)) == "منذ دقيقة"
    assert format_age("ar", timedelta(hours=2)) == "منذ ساعتين"
    assert format_age("en", timedelta(hours=3)) == "3 hours ago"
    assert format_age("en", timedelta(days=1)) == "1 day ago"
    assert format_age("en", timedelta(seconds=-30)) == "just now"


def test_datetimes_are_local_with_arabic_month_names() -> None:
    """Times are shown in the chat's zone; Arabic uses Arabic month names, Western digits."""
    moment = datetime(2025, 5, 14, 21, 30, tzinfo=UTC)
    assert format_datetime("en", moment, "Asia/Riyadh") == "15 May 2025, 00:30"
    assert format_datetime("ar", moment, "Asia/Riyadh") == "15 مايو 2025، 00:30"
    assert format_datetime("en", moment, "America/New_York") == "14 May 2025, 17:30"
    assert format_time("en", moment, "Africa/Cairo") == "00:30"
    assert format_datetime("en", moment, "Bogus/Zone") == "14 May 2025, 21:30"
    assert format_datetime("en", moment.replace(tzinfo=None), "UTC") == "14 May 2025, 21:30"
    assert format_date("ar", moment.date()) == "14 مايو 2025"


def test_numbers_use_western_digits() -> None:
    """Both languages group thousands with Western digits."""
    assert format_number("en", 1234567) == "1,234,567"
    assert format_number("ar", 1234567) == "1,234,567"


@pytest.mark.parametrize("lang", SUPPORTED)
def test_command_menu(lang: str) -> None:
    """setMyCommands entries: valid names, 1–256 character plain descriptions, all commands."""
    menu = command_menu(lang)
    assert [name for name, _ in menu] == list(USER_COMMANDS)
    full = admin_command_menu(lang)
    assert [name for name, _ in full] == [*USER_COMMANDS, *ADMIN_COMMANDS]
    for name, description in full:
        assert re.fullmatch(r"[a-z0-9_]{1,32}", name)
        assert 1 <= len(description) <= 256
        assert "<" not in description
