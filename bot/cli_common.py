"""Helpers shared by the `akhbar` command modules: one-line failures, settings, JSONL I/O."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from bot.settings import Settings, SettingsError, get_settings


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear line to stderr and return an Exit to raise."""
    typer.echo(f"akhbar: {message}", err=True)
    return typer.Exit(code)


def settings_or_exit() -> Settings:
    """Read the settings; a bad value ends the program with one line naming the variable."""
    try:
        return get_settings()
    except SettingsError as exc:
        raise fail(str(exc)) from None


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield one dict per non-empty line of a JSONL file ('-' reads stdin)."""
    handle = sys.stdin if str(path) == "-" else path.open(encoding="utf-8")
    try:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise fail(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise fail(f"{path}:{number}: expected a JSON object")
            yield record
    finally:
        if handle is not sys.stdin:
            handle.close()


def emit(record: dict[str, Any]) -> None:
    """Print one JSON line (UTF-8, not ASCII-escaped)."""
    sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
