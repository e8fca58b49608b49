"""Tests of extractive summaries."""

from bot.pipeline.summarise import summarise

TEXT = (
    "The council approved the new budget on Monday. "
    "The budget raises school funding by 3.5 percent. "
    "Critics said the budget ignores roads. "
    "The weather was mild. "
    "The mayor will sign the budget next week."
)


def test_verbatim_in_order() -> None:
    out = summarise("Council approves budget", TEXT)
    assert 1 <= len(out) <= 3
    assert all(s in TEXT for s in out)
    assert [TEXT.index(s) for s in out] == sorted(TEXT.index(s) for s in out)


def test_budgets_never_cut_never_empty() -> None:
    assert summarise("", TEXT, max_words=2) == ["The council approved the new budget on Monday."]
    out = summarise("", TEXT, max_chars=25)
    assert len(out) == 1 and len(out[0]) <= 25
    assert len(" ".join(summarise("", TEXT, max_words=16)).split()) <= 16
    assert summarise("", TEXT, max_sentences=100, target_words=20)


def test_short_description_and_empty() -> None:
    assert summarise("t", "A short feed description without a full stop") == [
        "A short feed description without a full stop"
    ]
    assert summarise("t", "") == []


REPEATS = (
    "Floods hit the river town of Wadi Sahel after record rain on Sunday. "
    "Record rain brought floods to the river town of Wadi Sahel on Sunday night. "
    "Rescue teams evacuated forty families near the river. "
    "Schools will stay closed until Wednesday."
)


def test_repeat_cut_skips_a_restated_sentence() -> None:
    from bot.pipeline.summarise import rank, select

    ranked = rank("Floods hit Wadi Sahel after record rain", REPEATS)
    # Without a repeat cut the two restatements of the flood are both picked...
    both = select(ranked, 2, redundancy=1.0)
    assert both == list(ranked.sentences[:2])
    # ...with one, a restatement gives way to the next best sentence that says something new.
    varied = select(ranked, 2, redundancy=0.3)
    assert len(varied) == 2 and len(set(varied) & set(ranked.sentences[:2])) == 1
    assert summarise("Floods hit Wadi Sahel after record rain", REPEATS, max_sentences=2) == varied
