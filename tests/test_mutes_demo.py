"""`akhbar demo` shows mute: /mute, /unmute, and the Mute source button (with Undo) on pushes."""

from __future__ import annotations

import io
import re
from pathlib import Path

from bot.demo import run_demo


def test_demo_mutes(tmp_path: Path) -> None:
    """Mute words and a source, list and remove a mute, press Mute source on a push."""
    script = tmp_path / "script.txt"
    lines = [
        "/start",
        "/topics",
        "1",
        "/mute cup final",
        "/mute source Sports Line",
        "/unmute",
        "1",
        "/wait 300",
    ]
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = io.StringIO()
    run_demo(script, out=out, linger=0.0)
    text = out.getvalue()
    assert "Muted “cup final”" in text.replace("\u2068", "").replace("\u2069", "")
    assert "Muted the source" in text and "Sports Line" in text
    assert "Unmuted" in text
    assert "📣 push" in text and "Mute source" in text
    pushes = text.split("📣 push")[1:]
    assert pushes and all("Mute source" in p.split("\n>")[0] for p in pushes[:1])


def test_demo_presses_mute_source_and_undo(tmp_path: Path) -> None:
    """The push's Mute source turns into Undo; pressing Undo brings it back."""
    script = tmp_path / "script.txt"
    script.write_text("/start\n/topics\n1\n/wait 300\n", encoding="utf-8")
    out = io.StringIO()
    run_demo(script, out=out, linger=0.0)
    first = out.getvalue()
    pushes = first.split("📣 push")
    assert len(pushes) > 1
    choices = re.findall(r"\[(\d+)\] 🔇 Mute source", pushes[-1])
    assert choices
    script.write_text(
        f"/start\n/topics\n1\n/wait 300\n{choices[0]}\n{choices[0]}\n", encoding="utf-8"
    )
    out = io.StringIO()
    run_demo(script, out=out, linger=0.0)
    text = out.getvalue()
    assert "Source muted" in text and "Unmute source" in text
    assert "Source unmuted" in text
