"""Operator notice texts about sources: built in one format, read back for translation.

Pure. Notices are stored as one English line (what `akhbar status` prints); the Telegram
message to the operators reads the facts back from that line and words them in each
operator's language. A line in any other format is shown as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

ERROR_CHARS: Final = 300  # of the last error kept in a notice

NoticeKind = Literal["paused", "failing"]

_LINE: Final = re.compile(
    r"source (?P<id>\d+) \((?P<name>.*)\) "
    r"(?:(?P<paused>paused after) (?P<p>\d+) consecutive failures"
    r"|(?P<failed>failed) (?P<f>\d+) times in a row)"
    r"; last error: (?P<error>.*)",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class SourceNotice:
    """What a source notice says."""

    kind: NoticeKind
    source_id: int
    name: str
    failures: int
    error: str


def paused_notice(source_id: int, name: str, failures: int, error: str) -> str:
    """The notice of a source paused after `failures` consecutive failures."""
    return (
        f"source {source_id} ({name}) paused after {failures} consecutive failures; "
        f"last error: {error[:ERROR_CHARS]}"
    )


def failing_notice(source_id: int, name: str, failures: int, error: str) -> str:
    """The notice of a source that has failed `failures` times in a row (not paused yet)."""
    return (
        f"source {source_id} ({name}) failed {failures} times in a row; "
        f"last error: {error[:ERROR_CHARS]}"
    )


def read_notice(text: str) -> SourceNotice | None:
    """The facts of a source notice line; None for any other notice."""
    found = _LINE.fullmatch(text)
    if found is None:
        return None
    paused = found.group("paused") is not None
    return SourceNotice(
        kind="paused" if paused else "failing",
        source_id=int(found.group("id")),
        name=found.group("name"),
        failures=int(found.group("p") if paused else found.group("f")),
        error=found.group("error"),
    )
