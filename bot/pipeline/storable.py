"""Text every database stores as given (pure functions).

PostgreSQL refuses NUL in text, and no driver can encode a lone UTF-16 surrogate (a JSON
Feed's ``"\\ud800"`` decodes to one); SQLite stores the first and refuses the second. So
both go before a value reaches storage. Identity keys (URLs, guids) are also bounded:
they sit in unique B-tree indexes, whose entries PostgreSQL caps at about 2,700 bytes,
and in ``VARCHAR(2000)`` columns. A longer key keeps its head and gains a digest of the
whole, so it stays unique and the same on every poll.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

#: Longest identity key stored, in UTF-8 bytes (so also in characters).
MAX_KEY_BYTES: Final = 2000
_DIGEST_MARK: Final = "#sha1="
_DIGEST_CHARS: Final = 40

_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


def storable_text(value: str) -> str:
    """The text without NUL characters and lone surrogates (unchanged when it has none)."""
    if _UNSTORABLE.search(value) is None:
        return value
    return _UNSTORABLE.sub("", value)


def storable_optional(value: str | None) -> str | None:
    """`storable_text` for an optional value."""
    return None if value is None else storable_text(value)


def _clip_utf8(value: str, max_bytes: int) -> str:
    """The longest prefix of `value` whose UTF-8 form fits in `max_bytes`."""
    encoded = value.encode("utf-8")
    if len(encoded) <= max_bytes:
        return value
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def storable_key(value: str, max_bytes: int = MAX_KEY_BYTES) -> str:
    """An identity key that fits an index: clean text, and past `max_bytes` the head plus a digest.

    The same input always gives the same key, and two long keys that share their head
    but differ later get different keys.
    """
    clean = storable_text(value)
    if len(clean) * 4 <= max_bytes or len(clean.encode("utf-8")) <= max_bytes:
        return clean
    digest = hashlib.sha1(clean.encode("utf-8")).hexdigest()
    head = _clip_utf8(clean, max_bytes - len(_DIGEST_MARK) - _DIGEST_CHARS)
    return f"{head}{_DIGEST_MARK}{digest}"


def storable_key_optional(value: str | None, max_bytes: int = MAX_KEY_BYTES) -> str | None:
    """`storable_key` for an optional value."""
    return None if value is None else storable_key(value, max_bytes)


def clip_text(value: str, max_chars: int) -> str:
    """Clean text cut to at most `max_chars` characters (for bounded display columns)."""
    return storable_text(value)[:max_chars]
