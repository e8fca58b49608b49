"""Tests of sentence splitting."""

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
