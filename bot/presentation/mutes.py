"""Pure rendering of mutes: confirmations, the mute list with Unmute buttons (for /unmute
and /mysubs), the choice among sources, and the push keyboard after Mute source."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from bot.domain import Mute, MuteKind, Source
from bot.presentation.callbacks import encode
from bot.presentation.i18n import t, tn
from bot.presentation.message import Button, Keyboard, Rendered
from bot.presentation.render import (
    LABEL_MAX,
    QUERY_MAX,
    SOURCE_MAX,
    clean,
    isolate,
    mark,
)

#: Telegram shows at most 100 buttons per inline keyboard.
MAX_BUTTONS: Final = 100
BUTTON_NAME_MAX: Final = 30
#: Which message an Unmute button redraws: the /unmute list or /mysubs.
UNMUTE_VIEW: Final = "u"
MYSUBS_VIEW: Final = "m"


def source_label(mute: Mute) -> str:
    """A source mute's source as plain text (its name, else its number)."""
    return mute.source_name or f"#{mute.source_id or 0}"


def mute_what(mute: Mute) -> str:
    """What a mute hides, as plain text for a confirmation ("“sport”", "BBC")."""
    if mute.kind is MuteKind.SOURCE:
        return source_label(mute)
    return f"“{mute.query or ' '.join(mute.terms)}”"


def mute_title(lang: str, mute: Mute) -> str:
    """One mute as escaped HTML for a list line."""
    if mute.kind is MuteKind.SOURCE:
        return t(lang, "mutes.source", name=isolate(source_label(mute), SOURCE_MAX))
    return t(lang, "mutes.word", query=isolate(mute.query or " ".join(mute.terms), QUERY_MAX))


def render_muted(lang: str, mute: Mute, created: bool) -> Rendered:
    """The answer to /mute: muted now, or already muted."""
    if mute.kind is MuteKind.SOURCE:
        key = "mute.source_added" if created else "mute.source_already"
        text = t(lang, key, name=isolate(source_label(mute), SOURCE_MAX))
    else:
        key = "mute.added" if created else "mute.already"
        text = t(lang, key, query=isolate(mute.query, QUERY_MAX))
    return Rendered(mark(lang) + text)


def render_unmuted(lang: str, mute: Mute) -> Rendered:
    """The answer to /unmute: what shows again."""
    what = mute_title(lang, mute)
    return Rendered(mark(lang) + t(lang, "unmute.ok", what=what))


def _unmute_row(lang: str, index: int, mute: Mute, view: str) -> tuple[Button, ...]:
    """The Unmute button of one listed mute."""
    return (Button(f"{index} · {t(lang, 'btn.unmute')}", encode("xr", mute.id, view)),)


def mute_section(
    lang: str, mutes: Sequence[Mute], view: str, room: int = MAX_BUTTONS
) -> tuple[list[str], list[tuple[Button, ...]]]:
    """The mute list's text blocks and Unmute rows (at most `room` buttons; the rest counted)."""
    m = mark(lang)
    if not mutes:
        return [m + t(lang, "mutes.empty")], []
    lines = [m + t(lang, "mutes.header")]
    shown = list(mutes[: max(room, 0)])
    lines += [f"{m}<b>{i}.</b> {mute_title(lang, mute)}" for i, mute in enumerate(shown, 1)]
    hidden = len(mutes) - len(shown)
    if hidden > 0:
        lines.append(m + tn(lang, "mutes.more", hidden))
    rows = [_unmute_row(lang, i, mute, view) for i, mute in enumerate(shown, 1)]
    return ["\n".join(lines)], rows


def render_mute_list(lang: str, mutes: Sequence[Mute]) -> Rendered:
    """/unmute without words: every mute with an Unmute button, and how to unmute by words."""
    blocks, rows = mute_section(lang, mutes, UNMUTE_VIEW)
    if mutes:
        blocks.append(mark(lang) + t(lang, "unmute.usage"))
    return Rendered("\n\n".join(blocks), tuple(rows))


def with_mutes(lang: str, rendered: Rendered, mutes: Sequence[Mute]) -> Rendered:
    """/mysubs with the chat's mutes below its follows (Unmute buttons while there is room)."""
    if not mutes:
        return rendered
    used = sum(len(row) for row in rendered.buttons)
    blocks, rows = mute_section(lang, mutes, MYSUBS_VIEW, MAX_BUTTONS - used)
    text = "\n\n".join([rendered.text, *blocks])
    return Rendered(text, (*rendered.buttons, *rows), rendered.disable_preview, rendered.plain)


def render_source_choice(
    lang: str, query: str, candidates: Sequence[Source], ambiguous: bool
) -> Rendered:
    """An unknown or ambiguous source name: the candidates, each with a Mute button."""
    m = mark(lang)
    wanted = isolate(query, LABEL_MAX)
    if ambiguous:
        lines = [m + t(lang, "mute.source_ambiguous", query=wanted)]
    else:
        lines = [m + t(lang, "mute.source_unknown", query=wanted)]
        key = "mute.source_did_you_mean" if candidates else "mute.source_usage"
        lines.append(m + t(lang, key))
    lines += [f"{m}• {isolate(c.name, SOURCE_MAX)} (#{c.id})" for c in candidates]
    rows = tuple(
        (
            Button(
                t(lang, "btn.mute_source_named", name=clean(c.name, BUTTON_NAME_MAX)),
                encode("xs", c.id),
            ),
        )
        for c in candidates
    )
    return Rendered("\n".join(lines), rows)


def swap_button(keyboard: Keyboard, old_data: str, new: Button) -> Keyboard:
    """The keyboard with the button carrying `old_data` replaced by `new` (Mute ↔ Undo)."""
    return tuple(tuple(new if b.data == old_data else b for b in row) for row in keyboard)


def undo_button(lang: str, source_id: int) -> Button:
    """The Undo button that replaces Mute source on a push once pressed."""
    return Button(t(lang, "btn.unmute_source"), encode("xu", source_id))
