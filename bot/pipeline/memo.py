"""Memoisation whose memory is bounded by size as well as by count.

`functools.lru_cache` bounds how many entries it keeps, not how large they are: a cache of
16,384 headlines keyed by hostile 2 MB titles holds 32 GB. `short_key_cache` caches only
calls whose string arguments are short together (at most `key_chars` characters); a longer
call is computed every time, with the same result, and never stored. Its arguments are
then also the size bound of every entry's key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def key_chars(args: tuple[Any, ...]) -> int:
    """Characters in the string arguments of a call (other arguments count nothing)."""
    return sum(len(a) for a in args if isinstance(a, str))


def short_key_cache(maxsize: int, key_chars_max: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """An LRU cache of `maxsize` entries for calls whose string arguments hold at most
    `key_chars_max` characters together; longer calls go straight to the function."""

    def wrap(function: Callable[P, R]) -> Callable[P, R]:
        """Cache `function` for short calls only."""
        cached = functools.lru_cache(maxsize=maxsize)(function)

        @functools.wraps(function)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            """The cached result when the key is short, else the function's own."""
            if len(args) == 1 and not kwargs:  # the common call: one argument, no generator
                only = args[0]
                if isinstance(only, str) and len(only) > key_chars_max:
                    return function(*args, **kwargs)
                return cached(*args)
            if kwargs or key_chars(args) > key_chars_max:
                return function(*args, **kwargs)
            return cached(*args)

        call.cache_info = cached.cache_info  # type: ignore[attr-defined]
        call.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return call

    return wrap
