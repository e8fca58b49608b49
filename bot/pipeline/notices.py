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

NoticeKind = Literal["paused", "failing", "extraction"]

_PAGES: Final = re.compile(
    r"source (?P<id>\d+) \((?P<name>.*)\): no article page could be read in (?P<n>\d+) polls in a row",
    re.DOTALL,
)
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


def extraction_notice(source_id: int, name: str, polls: int) -> str:
    """The notice of a source whose article pages (section links or full texts) all failed
    in `polls` polls in a row."""
    return f"source {source_id} ({name}): no article page could be read in {polls} polls in a row"


def read_notice(text: str) -> SourceNotice | None:
    """The facts of a source notice line; None for any other notice."""
    pages = _PAGES.fullmatch(text)
    if pages is not None:
        return SourceNotice(
            "extraction", int(pages.group("id")), pages.group("name"), int(pages.group("n")), ""
        )
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
