"""`python -m bot` is the `akhbar` command."""

from bot.cli import main

main()
