"""CLI commands for sources, ingest and extract (typer CliRunner, SQLite in tmp)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli_ingest import register
from bot.settings import get_settings


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    """A fresh app with the ingest commands, on a tmp SQLite database."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("AKHBAR_ALLOW_PRIVATE_SOURCES", "1")
    get_settings.cache_clear()
    app = typer.Typer()
    source_app = typer.Typer()
    app.add_typer(source_app, name="source")
    register(app, source_app)
    yield app
    get_settings.cache_clear()


def test_source_add_list_remove(cli: typer.Typer) -> None:
    """source add / list / remove round-trip."""
    runner = CliRunner()
    added = runner.invoke(
        cli,
        [
            "source",
            "add",
            "https://example.org/rss",
            "--name",
            "Ex",
            "--interval",
            "600",
            "--lang",
            "en",
        ],
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, ["source", "list"])
    assert "https://example.org/rss" in listed.output and "600s" in listed.output
    source_id = added.output.split()[2].rstrip(":")
    assert runner.invoke(cli, ["source", "remove", source_id]).exit_code == 0
    assert runner.invoke(cli, ["source", "remove", source_id]).exit_code == 1
    bad = runner.invoke(cli, ["source", "add", "ftp://example.org/x"])
    assert bad.exit_code == 2


def test_ingest_jsonl(cli: typer.Typer, tmp_path: Path) -> None:
    """ingest of a JSONL file prints the summary line; a second run counts duplicates."""
    path = tmp_path / "a.jsonl"
    lines = [
        {
            "id": f"n{i}",
            "title": f"Title number {i}",
            "lang": "en",
            "source": "wire",
            "published": "2024-05-01T10:00:00Z",
            "text": f"First sentence about item {i} and the council. Second sentence on budget {i}. "
            f"Third sentence on railway {i}.",
        }
        for i in range(3)
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(cli, ["ingest", str(path)])
    assert first.exit_code == 0, first.output
    assert "new 3, updated 0, duplicate 0, failed 1" in first.output
    second = runner.invoke(cli, ["ingest", str(path)])
    assert "new 0, updated 0, duplicate 3, failed 1" in second.output


def test_extract_json_local_html(cli: typer.Typer, tmp_path: Path) -> None:
    """extract --json prints one JSON line per input, in input order."""
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Rain floods the harbour</title></head><body><article>"
        "<h1>Rain floods the harbour</h1><p>"
        + "Heavy rain flooded the old harbour today. " * 8
        + "</p></article></body></html>",
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "extract",
            str(page),
            str(tmp_path / "missing.html"),
            "--url",
            "https://example.org/a",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [r["kind"] for r in records] == ["page", "error"]
    assert records[0]["title"] == "Rain floods the harbour"
    assert records[0]["url"] == "https://example.org/a"
