"""SimHash near-duplicate detection and content hashes."""

from __future__ import annotations

from bot.pipeline.fingerprint import content_hash, hamming, is_near_duplicate, shingles, simhash

TEXT = (
    "The foreign ministers of Russia and the United States will meet in Geneva on Friday to "
    "discuss the Syrian crisis and the situation around Aleppo, the ministry said on Wednesday "
    "after a phone call between the two ministers about Syria and Ukraine."
)


def test_simhash_signed_int64() -> None:
    """Fingerprints fit a signed 64-bit column."""
    for text in (TEXT, "x", "مرحبا بالعالم"):
        value = simhash(shingles(text))
        assert -(2**63) <= value < 2**63


def test_near_duplicate_detected() -> None:
    """A syndicated copy with a trivial edit is within 3 bits; a different text is not."""
    a = simhash(shingles(TEXT))
    b = simhash(shingles(TEXT.replace("on Friday", "on Friday morning")))
    c = simhash(shingles("Local football club wins the regional cup after a dramatic final."))
    assert hamming(a, b) <= 12
    assert is_near_duplicate(a, a)
    assert not is_near_duplicate(a, c)


def test_content_hash_normalised() -> None:
    """Case and whitespace differences give the same content hash; punctuation counts."""
    assert content_hash("Title", "Body  text!") == content_hash("title", "body text!")
    assert content_hash("Title", "Body  text!") != content_hash("title", "body text")
    assert content_hash("Title", "Body") != content_hash("Title", "Other")
    assert len(content_hash(None, None)) == 40


def test_content_hash_ignores_case_marks_and_spacing_only() -> None:
    """Re-served text that differs only in case, harakat, tatweel or spacing hashes the same."""
    base = content_hash("Floods in Jeddah", "قصف  مدينة حلب.\nThe rain fell.")
    assert content_hash("floods IN jeddah", "قَصْفُ مدينـــة حلب. \n The rain  fell.") == base
    assert content_hash("Floods in Jeddah", "قصف مدينة حلب.\nThe rain fell!") != base
    assert content_hash("Floods in Jeddah", "قصف مدينة دمشق.\nThe rain fell.") != base
    assert content_hash("Floods in Riyadh", "قصف مدينة حلب.\nThe rain fell.") != base
