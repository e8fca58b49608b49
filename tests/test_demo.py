"""`akhbar demo` runs non-interactively from a script: replies and pushes are printed."""

from __future__ import annotations

import io
from pathlib import Path

from bot.demo import load_items, run_demo, terminal_text


def test_demo_items_are_ours_and_well_formed() -> None:
    """About thirty items in both languages, most at once and some released later."""
    items = load_items()
    assert 25 <= len(items) <= 40
    assert {i["lang"] for i in items} == {"en", "ar"}
    assert sum(1 for i in items if i["offset"] > 0) >= 5
    assert all(i["title"] and i["text"] and i["source"] for i in items)


def test_terminal_text() -> None:
    """Links keep their URL, tags and bidi marks go."""
    html_text = '\u200e<b>Hi</b> <a href="https://x.test/?a=1&amp;b=2">\u2068News\u2069</a> &lt;3'
    assert terminal_text(html_text) == "Hi News (https://x.test/?a=1&b=2) <3"


def test_demo_script(tmp_path: Path) -> None:
    """A short script gets replies, a button press works, and a push arrives."""
    script = tmp_path / "script.txt"
    script.write_text(
        "/start\n/topics\n1\n/follow floods\n/search fuel\n/wait 300\n/nonsense\n/quit\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    run_demo(script, out=out, linger=0.0)
    text = out.getvalue()
    assert "Welcome to Akhbar" in text
    assert "Trending stories" in text
    assert "Following ✓" in text
    assert "Results for" in text
    assert "📣 push" in text
    assert "I don't know that command" in text
