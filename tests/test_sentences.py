"""Tests of sentence splitting."""

from typing import SupportsIndex

from bot.pipeline.sentences import split_sentences


def test_english_rules() -> None:
    text = (
        'Mr. Smith paid $3.5 million on 12.05.2024 in the U.S. capital. He said: "Done." Then? Yes!'
    )
    assert split_sentences(text) == [
        "Mr. Smith paid $3.5 million on 12.05.2024 in the U.S. capital.",
        'He said: "Done."',
        "Then?",
        "Yes!",
    ]


def test_arabic_rules() -> None:
    text = "قال الوزير، في بيان، إن النمو بلغ 3.5 بالمئة.وأضاف: هل ننجح؟ نعم\nسطر آخر… انتهى"
    out = split_sentences(text)
    assert out == [
        "قال الوزير، في بيان، إن النمو بلغ 3.5 بالمئة.",
        "وأضاف: هل ننجح؟",
        "نعم",
        "سطر آخر…",
        "انتهى",
    ]
    assert all(s in text for s in out)


def test_punctuation_only_and_empty() -> None:
    assert split_sentences("") == []
    assert split_sentences(" . ! ") == []


class _CountingStr(str):
    """A str that counts the characters every slice of it copies."""

    copied = 0

    def __getitem__(self, key: SupportsIndex | slice) -> str:
        """Index or slice as str does, counting the characters returned."""
        piece = str.__getitem__(self, key)
        _CountingStr.copied += len(piece)
        return piece


def test_abbreviation_dots_read_linear_work() -> None:
    # Every "etc." asks whether the next word is capitalised; the answer must come from the
    # next few characters, not from a copy of the rest of the text (quadratic in total).
    text = _CountingStr("Apples, pears etc. and more words here etc. then some. " * 2000)
    _CountingStr.copied = 0
    out = split_sentences(text)
    assert len(out) == 2000
    assert _CountingStr.copied <= 4 * len(text), _CountingStr.copied


def test_soft_abbreviation_ends_sentence_only_before_capital() -> None:
    assert split_sentences("Fruit etc. and more.") == ["Fruit etc. and more."]
    assert split_sentences("Fruit etc.   \t The end.") == ["Fruit etc.", "The end."]
    assert split_sentences("Fruit etc.") == ["Fruit etc."]
    assert split_sentences("Fruit etc.   ") == ["Fruit etc."]
    assert split_sentences("Made by Acme Inc. 5 units.") == ["Made by Acme Inc. 5 units."]
