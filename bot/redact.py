"""Secrets out of logs and stored errors: the bot token (and the webhook secret) are redacted.

The token travels in every Bot API URL (``…/bot<token>/sendMessage``), and HTTP clients
put the URL in their error text (a malformed or redirecting answer), so any exception
message may carry it. `redact` replaces anything shaped like a bot token and every
registered secret; `RedactingFilter` applies it to whole log records (message, arguments,
traceback); `install_log_redaction` puts the filter on the root handlers.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Final

MASK: Final = "<redacted>"
MIN_SECRET_CHARS: Final = 8  # shorter values would redact ordinary words
#: A Telegram bot token: the bot id, a colon, then 30+ URL-safe characters.
TOKEN_SHAPE: Final = re.compile(r"(?<![0-9])[0-9]{3,}:[A-Za-z0-9_-]{30,}")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secrets(values: Iterable[str | None]) -> None:
    """Add secrets to redact everywhere from now on (too-short or empty values are ignored)."""
    global _secrets
    fresh = [v for v in values if v and len(v) >= MIN_SECRET_CHARS]
    with _lock:
        merged = dict.fromkeys((*_secrets, *fresh))
        _secrets = tuple(sorted(merged, key=len, reverse=True))


def registered_secrets() -> tuple[str, ...]:
    """The secrets currently redacted (longest first)."""
    return _secrets


def redact(text: str) -> str:
    """The text with every registered secret and anything shaped like a bot token masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return TOKEN_SHAPE.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record so that its message and traceback carry no secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Put one redacting filter on every handler of `logger` (the root by default)."""
    target = logger or logging.getLogger()
    found = next(
        (f for h in target.handlers for f in h.filters if isinstance(f, RedactingFilter)), None
    )
    active = found or RedactingFilter()
    for handler in target.handlers:
        if active not in handler.filters:
            handler.addFilter(active)
    return active
