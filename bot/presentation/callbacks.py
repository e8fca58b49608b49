"""Callback-data codec: short action codes and small arguments, at most 64 bytes.

Wire form: ``<action>:<arg>:<arg>…`` in ASCII. An argument is either a canonical integer
(``0``, ``42``; no leading zeros, no sign) or a short token (``[a-z][a-z0-9_]{0,15}``).
Every action has a fixed signature whose integers are ranged: a database id fits the
32-bit ``INTEGER`` columns of both engines, a page number is small. So forged,
stale-format, malformed or out-of-range data (``lp:9223372036854775807``) is refused
with :class:`BadCallback` here, before any query sees it. Long payloads (a search query) never travel here: the caller
stores them in the database and passes a short integer token, which survives a restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

MAX_BYTES: Final = 64
MAX_ID: Final = 2**31 - 1  # ids are INTEGER (int4 on PostgreSQL)
MAX_PAGE: Final = 10_000  # far past any list a chat pages through
SEP: Final = ":"

_INT: Final = re.compile(r"0|[1-9][0-9]{0,18}")
_TOKEN: Final = re.compile(r"[a-z][a-z0-9_]{0,15}")


@dataclass(frozen=True, slots=True)
class IntRange:
    """An integer argument's allowed values, both ends included."""

    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        """Whether `value` is an int (not a bool) in the range."""
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (self.low <= value <= self.high)
        )


ID: Final = IntRange(0, MAX_ID)
PAGE: Final = IntRange(0, MAX_PAGE)
TOKEN: Final = str
CHANNEL: Final = IntRange(1, 10**16)  # a channel id without its minus sign (-100…)
ArgKind = IntRange | type[str]

#: action code → argument kinds, in order.
ACTIONS: Final[dict[str, tuple[ArgKind, ...]]] = {
    "fs": (ID,),  # follow story <story_id>
    "ms": (ID,),  # mute story <story_id>
    "us": (ID,),  # unmute story <story_id>
    "mo": (ID,),  # more: story card <story_id>
    "rm": (ID,),  # remove follow <follow_id>
    "md": (ID,),  # toggle instant/digest of follow <follow_id>
    "mu": (ID,),  # toggle mute of follow <follow_id>
    "sp": (ID, PAGE),  # search page <query_token> <page>
    "fq": (ID,),  # follow query <query_token>
    "tp": (PAGE,),  # topics page <page>
    "lp": (PAGE,),  # latest page <page>
    "lg": (TOKEN,),  # set language <"en"|"ar">
    # settings toggle <"ed" empty digest | "qm" quiet mode | "qo" quiet off | "nar"/"nen"/
    # "nboth" news languages | "pb"/"pa"/"po" preview below/above/off | "th"/"tg" digest topic>
    "st": (TOKEN,),
    "dg": (),  # send my digest now
    "xs": (ID,),  # mute source <source_id> (a push's Mute source button)
    "xu": (ID,),  # unmute source <source_id> (Undo after Mute source)
    "xr": (ID, TOKEN),  # remove mute <mute_id>, redraw <"u" the /unmute list | "m" /mysubs>
    "cd": (CHANNEL,),  # toggle a connected channel's digest mode <-channel_id>
    "cx": (CHANNEL,),  # disconnect a channel <-channel_id>
    "sv": (PAGE,),  # operators: /sources page <page>
    "sx": (ID, PAGE),  # operators: pause/resume source <source_id>, redraw <page>
}


class BadCallback(ValueError):
    """Callback data that is forged, malformed, unknown or too long."""


@dataclass(frozen=True, slots=True)
class CallbackData:
    """A decoded callback: action code and its typed arguments."""

    action: str
    args: tuple[int | str, ...] = ()

    def int_arg(self, index: int) -> int:
        """The argument at ``index`` as an int (the signature guarantees the type)."""
        value = self.args[index]
        if not isinstance(value, int):
            raise BadCallback(f"argument {index} of {self.action!r} is not an int")
        return value

    def str_arg(self, index: int) -> str:
        """The argument at ``index`` as a token string."""
        value = self.args[index]
        if not isinstance(value, str):
            raise BadCallback(f"argument {index} of {self.action!r} is not a token")
        return value


def _check_signature(action: str, args: tuple[int | str, ...]) -> None:
    """Raise BadCallback unless ``args`` fit the action's signature."""
    signature = ACTIONS.get(action)
    if signature is None:
        raise BadCallback(f"unknown action {action!r}")
    if len(args) != len(signature):
        raise BadCallback(f"{action!r} takes {len(signature)} arguments, got {len(args)}")
    for value, kind in zip(args, signature, strict=True):
        if isinstance(kind, IntRange) and value not in kind:
            raise BadCallback(f"{action!r} expects an int in {kind.low}..{kind.high}: {value!r}")
        if kind is str and not isinstance(value, str):
            raise BadCallback(f"{action!r} expects a token, got {value!r}")


def _encode_arg(value: int | str) -> str:
    """One argument in wire form (ranges are checked by the signature); rejects non-tokens."""
    if isinstance(value, int):
        return str(value)
    if not _TOKEN.fullmatch(value):
        raise BadCallback(f"not a short token: {value!r}")
    return value


def encode(action: str, *args: int | str) -> str:
    """Encode an action and its arguments; the result is at most 64 bytes of ASCII."""
    _check_signature(action, args)
    data = SEP.join((action, *(_encode_arg(a) for a in args)))
    if len(data.encode("utf-8")) > MAX_BYTES:
        raise BadCallback(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


def _decode_arg(raw: str) -> int | str:
    """One wire argument back to an int or a token; anything else is BadCallback."""
    if _INT.fullmatch(raw):
        return int(raw)
    if _TOKEN.fullmatch(raw):
        return raw
    raise BadCallback(f"malformed argument {raw!r}")


def decode(data: object) -> CallbackData:
    """Decode callback data; raises BadCallback (only) for anything not made by encode()."""
    if not isinstance(data, str) or not data:
        raise BadCallback("empty or non-text callback data")
    if not data.isascii() or len(data) > MAX_BYTES:
        raise BadCallback("callback data is not short ASCII")
    action, *raw_args = data.split(SEP)
    if action not in ACTIONS:
        raise BadCallback(f"unknown action {action!r}")
    args = tuple(_decode_arg(raw) for raw in raw_args)
    _check_signature(action, args)
    return CallbackData(action, args)
