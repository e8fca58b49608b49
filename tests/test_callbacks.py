"""Callback-data codec: round trips, the 64-byte limit, forged data refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.presentation.callbacks import (
    ACTIONS,
    MAX_ID,
    MAX_PAGE,
    BadCallback,
    CallbackData,
    IntRange,
    decode,
    encode,
)

tokens = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)


@pytest.mark.parametrize(
    ("action", "args"),
    [
        ("fs", (42,)),
        ("ms", (7,)),
        ("us", (7,)),
        ("mo", (123456789,)),
        ("rm", (1,)),
        ("md", (2,)),
        ("mu", (3,)),
        ("sp", (991, 4)),
        ("fq", (991,)),
        ("tp", (0,)),
        ("lp", (2,)),
        ("lg", ("ar",)),
        ("st", ("ed",)),
        ("dg", ()),
    ],
)
def test_round_trip(action: str, args: tuple[int | str, ...]) -> None:
    """Every action encodes and decodes back to itself."""
    data = encode(action, *args)
    assert len(data.encode()) <= 64
    assert decode(data) == CallbackData(action, args)


def test_largest_arguments_fit() -> None:
    """The largest id and page still fit in 64 bytes."""
    data = encode("sp", MAX_ID, MAX_PAGE)
    assert len(data.encode()) <= 64
    assert decode(data).args == (MAX_ID, MAX_PAGE)


@pytest.mark.parametrize(
    "data",
    [
        "lp:9223372036854775807",
        "tp:10001",
        "sp:1:10001",
        "sp:2147483648:0",
        "fs:2147483648",
        "mo:999999999999999999",
        "rm:2147483648",
        "fq:2147483648",
        "lp:-1",
        "fs:-1",
        "sp:1:-1",
    ],
)
def test_out_of_range_ids_and_pages_refused(data: str) -> None:
    """Ids past INTEGER (int4 on PostgreSQL) and pages past MAX_PAGE never reach a query."""
    with pytest.raises(BadCallback, match=r"expects an int in|malformed"):
        decode(data)


def test_typed_accessors() -> None:
    """int_arg/str_arg return typed values and refuse the wrong type."""
    parsed = decode("sp:5:2")
    assert parsed.int_arg(0) == 5 and parsed.int_arg(1) == 2
    assert decode("lg:en").str_arg(0) == "en"
    with pytest.raises(BadCallback):
        parsed.str_arg(0)
    with pytest.raises(BadCallback):
        decode("lg:en").int_arg(0)


@pytest.mark.parametrize(
    "data",
    [
        "",
        ":",
        "fs",
        "fs:",
        "fs::1",
        "fs:1:2",
        "fs:abc",
        "fs:01",
        "fs:+1",
        "fs:-0",
        "fs:1.5",
        "fs:1 ",
        " fs:1",
        "FS:1",
        "zz:1",
        "lg:EN",
        "lg:1",
        "lg:en-us",
        "lg:" + "a" * 17,
        "sp:1",
        "fs:99999999999999999999",
        "fs:9223372036854775808",
        "fs:١٢",
        "fs:1\x00",
        "fs:1\n",
        "fs:" + "1" * 70,
        "dg:1",
        "fs:1;rm:2",
    ],
)
def test_forged_data_is_refused(data: str) -> None:
    """Malformed, unknown, non-canonical or oversized data raises BadCallback."""
    with pytest.raises(BadCallback):
        decode(data)


@pytest.mark.parametrize("value", [None, b"fs:1", 12, ["fs", 1]])
def test_non_text_is_refused(value: object) -> None:
    """Anything but a string is BadCallback."""
    with pytest.raises(BadCallback):
        decode(value)


@pytest.mark.parametrize(
    ("action", "args"),
    [
        ("zz", (1,)),
        ("fs", ()),
        ("fs", ("x",)),
        ("fs", (True,)),
        ("fs", (MAX_ID + 1,)),
        ("lp", (MAX_PAGE + 1,)),
        ("lp", (-1,)),
        ("lg", ("EN",)),
        ("lg", ("a" * 17,)),
        ("lg", ("ar:1",)),
        ("lg", (1,)),
    ],
)
def test_encode_refuses_bad_arguments(action: str, args: tuple[int | str, ...]) -> None:
    """encode never produces data that decode would refuse."""
    with pytest.raises(BadCallback):
        encode(action, *args)


def test_bad_callback_is_a_value_error() -> None:
    """Callers may catch ValueError too."""
    assert issubclass(BadCallback, ValueError)


@st.composite
def valid_calls(draw: st.DrawFn) -> tuple[str, tuple[int | str, ...]]:
    """An action with arguments of the right types."""
    action = draw(st.sampled_from(sorted(ACTIONS)))
    args: list[int | str] = []
    for kind in ACTIONS[action]:
        if isinstance(kind, IntRange):
            args.append(draw(st.integers(kind.low, kind.high)))
        else:
            args.append(draw(tokens))
    return action, tuple(args)


@settings(max_examples=200, deadline=None)
@given(valid_calls())
def test_round_trip_property(call: tuple[str, tuple[int | str, ...]]) -> None:
    """Any well-typed call round-trips within 64 bytes."""
    action, args = call
    data = encode(action, *args)
    assert len(data.encode("utf-8")) <= 64
    assert decode(data) == CallbackData(action, args)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.text(alphabet="fsmoprlgtdq:-0123456789az_", max_size=70),
        st.binary(max_size=64).map(lambda b: b.decode("utf-8", "replace")),
    )
)
def test_decode_fuzz_only_raises_bad_callback(data: str) -> None:
    """decode either returns a valid CallbackData that re-encodes identically, or raises BadCallback."""
    try:
        parsed = decode(data)
    except BadCallback:
        return
    assert encode(parsed.action, *parsed.args) == data
