"""The `akhbar` command line: help, version, settings errors, migrations and offline tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test reads its own environment (settings are cached per process)."""
    for name in ("TELEGRAM_BOT_TOKEN", "AKHBAR_POLL_SECONDS", "AKHBAR_DIGEST_TIME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()


def test_help_lists_the_commands() -> None:
    """`akhbar --help` names every top-level command."""
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "db", "version", "cluster", "summarize", "search"):
        assert command in result.output


def test_version() -> None:
    """`akhbar version` prints the version."""
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and result.output.startswith("akhbar ")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AKHBAR_POLL_SECONDS", "0"),
        ("AKHBAR_POLL_SECONDS", "soon"),
        ("AKHBAR_DIGEST_TIME", "25:61"),
        ("AKHBAR_DEFAULT_TIMEZONE", "Mars/Olympus"),
        ("AKHBAR_ADMIN_IDS", "1,two"),
        ("DATABASE_URL", "mysql://x"),
        ("AKHBAR_MAX_MESSAGES_PER_SECOND", "-3"),
    ],
)
def test_bad_setting_gives_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """A bad value stops the program with one line naming the variable, no traceback."""
    monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    lines = [line for line in result.output.strip().splitlines() if line]
    assert len(lines) == 1 and name in lines[0] and "Traceback" not in result.output


def test_run_without_token_points_to_demo() -> None:
    """`akhbar run` without a token says what to set and mentions the demo."""
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 2
    assert "TELEGRAM_BOT_TOKEN" in result.output and "akhbar demo" in result.output


def test_db_upgrade_creates_the_database(tmp_path: Path) -> None:
    """`akhbar db upgrade` creates and migrates the SQLite file."""
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli.db").exists()


def test_cluster_and_summarize_emit_one_line_per_input(tmp_path: Path) -> None:
    """The offline tools answer every input line, in order, with whole sentences."""
    rows = [
        {
            "id": "a",
            "title": "Floods hit Jeddah",
            "text": "Heavy rain flooded Jeddah. Schools closed. Roads shut.",
            "lang": "en",
        },
        {
            "id": "b",
            "title": "Jeddah floods close schools",
            "text": "Schools in Jeddah closed after floods. Rain goes on.",
            "lang": "en",
        },
        {
            "id": "c",
            "title": "أمطار غزيرة في جدة",
            "text": "أغلقت المدارس في جدة، بسبب الأمطار. وقال الدفاع المدني إن الفرق تعمل.",
            "lang": "ar",
        },
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    clustered = runner.invoke(app, ["cluster", "--input", str(path)])
    assert clustered.exit_code == 0, clustered.output
    stories = [json.loads(line) for line in clustered.output.splitlines()]
    assert [s["id"] for s in stories] == ["a", "b", "c"]
    summarized = runner.invoke(app, ["summarize", "--input", str(path), "--sentences", "1"])
    summaries = [json.loads(line) for line in summarized.output.splitlines()]
    assert [len(s["summary"]) for s in summaries] == [1, 1, 1]
    assert all(s["summary"][0] in r["text"] for s, r in zip(summaries, rows, strict=True))


def test_cluster_without_the_encoder_says_so_and_keeps_the_word_stories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arabic and English input with AKHBAR_ENCODER=off: one note on stderr, the lexical
    stories on stdout, the same as with `--no-link`."""
    rows = [
        {
            "id": "en1",
            "title": "Jeddah floods close schools",
            "text": "Schools shut.",
            "lang": "en",
        },
        {"id": "ar1", "title": "أمطار غزيرة في جدة", "text": "أغلقت المدارس.", "lang": "ar"},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    monkeypatch.setenv("AKHBAR_ENCODER", "off")
    get_settings.cache_clear()
    result = runner.invoke(app, ["cluster", "--input", str(path)])
    assert result.exit_code == 0, result.output
    assert "cross-language linking off: AKHBAR_ENCODER is off" in result.stderr
    unlinked = runner.invoke(app, ["cluster", "--input", str(path), "--no-link"])
    assert unlinked.stderr == ""
    assert result.stdout == unlinked.stdout
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["en1", "ar1"]


def test_bad_jsonl_is_one_clear_line(tmp_path: Path) -> None:
    """A malformed input line is reported with its line number."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "x", "title": "t", "text": "u"}\n{not json\n', encoding="utf-8")
    result = runner.invoke(app, ["cluster", "--input", str(path)])
    assert result.exit_code == 2 and ":2:" in result.output


def test_status_reports_queue_and_sources() -> None:
    """`akhbar status` prints source health, outbox depth and last-hour figures."""
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert (
        "sources: 0" in result.output
        and "outbox:" in result.output
        and "last hour:" in result.output
    )
    retried = runner.invoke(app, ["status", "--retry-failed"])
    assert retried.exit_code == 0 and "requeued 0 failed deliveries" in retried.output
