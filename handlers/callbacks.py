"""Callback-data codec: short action codes and small arguments, at most 64 bytes.

Wire form: ``<action>:<arg>:<arg>…`` in ASCII. An argument is either a canonical integer
(``0``, ``42``, ``-7``; no leading zeros, no ``+``) or a short token (``[a-z][a-z0-9_]{0,15}``).
Every action has a fixed signature, so forged, stale-format or malformed data is refused
with :class:`BadCallback`. Long payloads (a search query) never travel here: the caller
stores them in the database and passes a short integer token, which survives a restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

MAX_BYTES: Final = 64
MAX_INT: Final = 2**63 - 1
MIN_INT: Final = -(2**63)
SEP: Final = ":"

_INT: Final = re.compile(r"-?(?:0|[1-9][0-9]{0,18})")
_TOKEN: Final = re.compile(r"[a-z][a-z0-9_]{0,15}")

#: action code → argument types, in order.
ACTIONS: Final[dict[str, tuple[type, ...]]] = {
    "fs": (int,),  # follow story <story_id>
    "ms": (int,),  # mute story <story_id>
    "us": (int,),  # unmute story <story_id>
    "mo": (int,),  # more: story card <story_id>
    "rm": (int,),  # remove follow <follow_id>
    "md": (int,),  # toggle instant/digest of follow <follow_id>
    "mu": (int,),  # toggle mute of follow <follow_id>
    "sp": (int, int),  # search page <query_token> <page>
    "fq": (int,),  # follow query <query_token>
    "tp": (int,),  # topics page <page>
    "lp": (int,),  # latest page <page>
    "lg": (str,),  # set language <"en"|"ar">
    "st": (str,),  # settings toggle <"ed" empty digest | "qm" quiet mode | "qo" quiet off>
    "dg": (),  # send my digest now
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
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise BadCallback(f"{action!r} expects an int, got {value!r}")
        if kind is str and not isinstance(value, str):
            raise BadCallback(f"{action!r} expects a token, got {value!r}")


def _encode_arg(value: int | str) -> str:
    """One argument in wire form; rejects out-of-range ints and non-token strings."""
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise BadCallback(f"integer out of range: {value}")
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
        if raw == "-0":
            raise BadCallback("non-canonical integer '-0'")
        value = int(raw)
        if not MIN_INT <= value <= MAX_INT:
            raise BadCallback(f"integer out of range: {raw}")
        return value
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
