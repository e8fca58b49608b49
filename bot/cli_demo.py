"""The `akhbar demo` command (registered on the CLI by `register`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo_command(
    script: Annotated[
        Path | None,
        typer.Option("--script", help="Run the commands in this file, then exit.", exists=True),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="Your Telegram language: en or ar.")] = "en",
    speed: Annotated[
        float, typer.Option("--speed", help="How fast demo time runs (2 = twice as fast).", min=0)
    ] = 1.0,
    linger: Annotated[
        float, typer.Option("--linger", help="Seconds to wait for pushes after a script.", min=0)
    ] = 1.0,
) -> None:
    """Try the bot offline in a terminal chat: no token, no network, demo news included."""
    from bot.demo import run_demo

    if lang not in ("en", "ar"):
        raise typer.BadParameter("expected en or ar", param_hint="--lang")
    run_demo(script, language=lang, speed=speed, linger=linger)


def register(app: typer.Typer) -> None:
    """Add the `demo` command to the CLI."""
    app.command("demo")(demo_command)
