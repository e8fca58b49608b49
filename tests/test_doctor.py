"""`akhbar doctor`: a healthy setup, a missing database, an unreachable Bot API, a bad token,
a paused source; each line ✓/✗ with what to do, exit code 0 only when `akhbar run` can run."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.doctor import (
    FAIL_MARK,
    OK_MARK,
    Check,
    check_encoder,
    diagnose,
    exit_code,
    render,
    shown_value,
    verdict,
)
from bot.settings import Settings, get_settings
from storage.db import Database
from storage.repos.sources import SourceRepo
from tests.e2e import FeedServer, rss
from tests.fakebotapi import FakeBotAPI, spawn

TOKEN = "123456:TEST-token"
FROM_ENV = {"telegram_bot_token": "environment", "database_url": "environment"}


def free_port() -> int:
    """A local port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(api_url: str, database_url: str, token: str | None = TOKEN) -> Settings:
    """Settings pointing at local servers (private sources allowed)."""
    return Settings(
        telegram_bot_token=token,
        telegram_api_url=api_url,
        database_url=database_url,
        allow_private_sources=True,
    )


def report(checks: list[Check]) -> str:
    """The printed report of some checks."""
    return "\n".join(line for check in checks for line in render(check))


def line_of(checks: list[Check], name: str) -> str:
    """The printed line of the first check called `name`."""
    return next(render(c)[0] for c in checks if c.name.startswith(name))


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    """A local feed server with one feed."""
    server = FeedServer()
    server.put(
        "/feed.xml",
        rss(
            "Gulf",
            [
                {
                    "title": "Rain in Jeddah",
                    "link": "https://gulf.example/rain",
                    "description": "Rain fell.",
                }
            ],
        ),
    )
    try:
        yield server
    finally:
        server.close()


async def add_source(db: Database, url: str, name: str = "Gulf") -> int:
    """Store a source and return its id."""
    async with db.unit_of_work() as session:
        return (await SourceRepo(session).add(url, name)).id


async def pause_source(db: Database, source_id: int, error: str) -> None:
    """Fail a source until it is paused, as the poller would."""
    from datetime import UTC, datetime

    async with db.unit_of_work() as session:
        repo = SourceRepo(session)
        for _ in range(3):
            await repo.record_poll(
                source_id,
                now=datetime.now(UTC),
                next_poll_at=datetime.now(UTC),
                error=error,
                pause_after=3,
            )


# ------------------------------------------------------------------ pure parts


def test_render_marks_fixes_and_exit_code() -> None:
    """✓/✗ lines with what to do; only needed checks decide the exit code."""
    good = Check("database", True, "SQLite 3.45, migrated to head (0003)")
    optional = Check("source 1 Gulf", False, "paused", "`akhbar source resume 1`", required=False)
    bad = Check("Bot API", False, "cannot reach api.telegram.org: timed out", "check the network")
    assert render(good) == [f"{OK_MARK} database: SQLite 3.45, migrated to head (0003)"]
    assert render(optional)[0] == (
        f"{FAIL_MARK} source 1 Gulf: paused (not needed to run) → `akhbar source resume 1`"
    )
    assert render(bad)[0].endswith("→ check the network")
    assert exit_code([good, optional]) == 0 and exit_code([good, bad, optional]) == 1
    assert verdict([good, optional]).startswith("ready")
    assert (
        verdict([good, bad, optional]) == "not ready: 1 problem(s) stop `akhbar run`, 1 more do not"
    )


def test_secrets_are_hidden() -> None:
    """The token shows only its bot id; passwords in the database URL are masked."""
    assert shown_value("telegram_bot_token", TOKEN) == "123456:… (hidden)"
    assert shown_value("webhook_secret", "s3cret") == "(hidden)"
    masked = shown_value("database_url", "postgresql+asyncpg://bot:pw@db:5432/akhbar")
    assert "pw" not in masked and "bot:***@db" in masked


# ------------------------------------------------------------------ checks, in process


async def test_healthy_setup(db: Database, feeds: FeedServer) -> None:
    """Everything fine (SQLite and PostgreSQL): ✓ everywhere needed, exit code 0."""
    await add_source(db, feeds.base + "/feed.xml")
    async with FakeBotAPI() as api:
        checks = await diagnose(settings_for(api.base_url, db.url), sources=FROM_ENV, db=db)
    text = report(checks)
    assert exit_code(checks) == 0, text
    assert [c.name for c in checks][:5] == [
        "settings",
        "database",
        "Bot API",
        "updates",
        "source 1 Gulf",
    ]
    assert "TELEGRAM_BOT_TOKEN = 123456:… (hidden) (environment)" in text
    assert "AKHBAR_POLL_SECONDS = 300 (default)" in text
    engine = "SQLite" if db.dialect == "sqlite" else "PostgreSQL"
    assert line_of(checks, "database").startswith(f"{OK_MARK} database: {engine} ")
    assert "migrated to head" in line_of(checks, "database")
    assert "token valid: @akhbar_test_bot" in line_of(checks, "Bot API")
    assert "long polling (no webhook set)" in line_of(checks, "updates")
    assert line_of(checks, "source 1").startswith(f"{OK_MARK} source 1 Gulf: reachable")
    assert line_of(checks, "search index").startswith(OK_MARK)
    assert "TEST-token" not in text


async def test_missing_sqlite_database_is_reported_and_not_created(tmp_path: Path) -> None:
    """A SQLite file that does not exist: ✗ with `akhbar db upgrade`, exit 1, nothing created."""
    path = tmp_path / "nowhere" / "akhbar.db"
    async with FakeBotAPI() as api:
        checks = await diagnose(
            settings_for(api.base_url, f"sqlite+aiosqlite:///{path}"), sources=FROM_ENV
        )
    assert exit_code(checks) == 1
    assert line_of(checks, "database") == (
        f"{FAIL_MARK} database: SQLite file {path} does not exist → run `akhbar db upgrade` "
        "to create it (or point DATABASE_URL at your database)"
    )
    assert not path.exists() and not path.parent.exists()
    assert line_of(checks, "Bot API").startswith(OK_MARK)  # the other checks still run


async def test_unreachable_postgresql_is_reported() -> None:
    """A PostgreSQL server that refuses connections: ✗ naming the reason."""
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/akhbar"
    async with FakeBotAPI() as api:
        checks = await diagnose(settings_for(api.base_url, url), sources=FROM_ENV)
    assert exit_code(checks) == 1
    assert "connection refused" in line_of(checks, "database")
    assert "start the database server or correct DATABASE_URL" in line_of(checks, "database")


async def test_database_behind_head(tmp_path: Path) -> None:
    """A database at an older revision: ✗ with `akhbar db upgrade`."""
    from storage.migrate import revisions, upgrade_async

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await upgrade_async(url, revisions()[0])
    async with FakeBotAPI() as api:
        checks = await diagnose(settings_for(api.base_url, url), sources=FROM_ENV)
    line = line_of(checks, "database")
    assert exit_code(checks) == 1
    assert f"at revision {revisions()[0]}, the code needs {revisions()[-1]}" in line
    assert "akhbar db upgrade" in line


async def test_unreachable_bot_api(db: Database) -> None:
    """Connections refused: ✗ Bot API with the reason and what to check, exit 1."""
    url = f"http://127.0.0.1:{free_port()}/bot"
    checks = await diagnose(settings_for(url, db.url), sources=FROM_ENV, db=db)
    assert exit_code(checks) == 1
    assert line_of(checks, "Bot API") == (
        f"{FAIL_MARK} Bot API: cannot reach {url[7:-4]}: connection refused → check the network "
        "(DNS, firewall, proxy) or TELEGRAM_API_URL"
    )


async def test_bad_token_names_where_it_came_from(db: Database) -> None:
    """401 on getMe: ✗ saying the token was rejected and that it came from .env, exit 1."""
    async with FakeBotAPI(token="999:the-right-one") as api:
        checks = await diagnose(
            settings_for(api.base_url, db.url),
            sources={"telegram_bot_token": ".env"},
            db=db,
        )
    line = line_of(checks, "Bot API")
    assert exit_code(checks) == 1
    assert "rejected the token" in line and "came from the .env file" in line
    assert "@BotFather" in line and "TEST-token" not in report(checks)


async def test_missing_token(db: Database) -> None:
    """No token: ✗ saying how to get one; the Bot API is not called."""
    async with FakeBotAPI() as api:
        checks = await diagnose(settings_for(api.base_url, db.url, token=None), sources={}, db=db)
        assert api.calls == []
    assert exit_code(checks) == 1
    assert "TELEGRAM_BOT_TOKEN is not set" in line_of(checks, "bot token")


async def test_paused_source_is_reported_with_how_to_resume(
    db: Database, feeds: FeedServer
) -> None:
    """A paused source: ✗ with its last error and `akhbar source resume ID`; exit code stays 0."""
    healthy = await add_source(db, feeds.base + "/feed.xml")
    broken = await add_source(db, feeds.base + "/gone.xml", "Gone")
    await pause_source(db, broken, "HTTP 404")
    async with FakeBotAPI() as api:
        checks = await diagnose(settings_for(api.base_url, db.url), sources=FROM_ENV, db=db)
    line = line_of(checks, f"source {broken}")
    assert line.startswith(f"{FAIL_MARK} source {broken} Gone: paused after 3 failures")
    assert "last error: HTTP 404" in line and "still failing now: HTTP 404" in line
    assert line.endswith(f"`akhbar source resume {broken}`")
    assert line_of(checks, f"source {healthy}").startswith(OK_MARK)
    assert exit_code(checks) == 0  # a paused source does not stop the bot
    assert "1 problem(s) that do not stop it" in verdict(checks)


async def test_webhook_state_is_reported(db: Database) -> None:
    """A webhook Telegram knows about is named, with what `akhbar run` does about it."""
    async with FakeBotAPI() as api:
        api.webhook_url = "https://bot.example/telegram"
        checks = await diagnose(settings_for(api.base_url, db.url), sources=FROM_ENV, db=db)
    line = line_of(checks, "updates")
    assert line.startswith(OK_MARK) and "webhook set to https://bot.example/telegram" in line
    assert "without --webhook removes it" in line


# ------------------------------------------------------------------ the command


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean environment for in-process CLI runs; returns the database path."""
    for name in list(os.environ):
        if name.startswith(("AKHBAR_", "TELEGRAM_")):
            monkeypatch.delenv(name)
    path = tmp_path / "doctor.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("AKHBAR_ALLOW_PRIVATE_SOURCES", "true")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    return path


def test_doctor_command_exit_codes_and_resume(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, feeds: FeedServer
) -> None:
    """`akhbar doctor` exits 1 until the setup is whole, then 0; `source resume` clears a pause."""
    runner = CliRunner()
    first = runner.invoke(app, ["doctor"])
    assert first.exit_code == 1
    assert "✗ bot token: TELEGRAM_BOT_TOKEN is not set" in first.output
    assert "does not exist" in first.output and not cli_env.exists()
    with spawn() as control:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_API_URL", control.base_url)
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        added = runner.invoke(app, ["source", "add", feeds.base + "/feed.xml"])
        assert added.exit_code == 0, added.output
        healthy = runner.invoke(app, ["doctor"])
        assert healthy.exit_code == 0, healthy.output
        assert healthy.output.strip().splitlines()[-1].startswith("ready")
        assert "TELEGRAM_BOT_TOKEN = 123456:… (hidden) (environment)" in healthy.output
        with sqlite3.connect(cli_env) as conn:
            conn.execute("UPDATE sources SET paused = 1, error_count = 20, last_error = 'HTTP 500'")
        paused = runner.invoke(app, ["doctor"])
        assert paused.exit_code == 0 and f"{FAIL_MARK} source 1 " in paused.output
        resumed = runner.invoke(app, ["source", "resume", "1"])
        assert resumed.exit_code == 0 and "source 1 resumed" in resumed.output
        again = runner.invoke(app, ["doctor"])
        assert f"{OK_MARK} source 1 " in again.output, again.output
    missing = runner.invoke(app, ["source", "resume", "99"])
    assert missing.exit_code == 1 and "no source with id 99" in missing.output


def test_doctor_with_a_bad_setting(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid value: ✗ settings naming the variable, and nothing else is tried."""
    monkeypatch.setenv("AKHBAR_POLL_SECONDS", "0")
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith(f"{FAIL_MARK} settings: invalid setting AKHBAR_POLL_SECONDS")
    assert "Traceback" not in result.output and "database" not in result.output


async def test_encoder_check_loads_the_configured_encoder() -> None:
    """The check loads the encoder (not just its package): a working one passes with its
    size, one whose weights are gone fails with the reason, "off" says what it costs;
    none of them fails the exit code."""
    loaded = await check_encoder("tests.embed_fakes:hash_encoder")
    missing = await check_encoder("tests.embed_fakes:missing_weights")
    off = await check_encoder("off")
    assert loaded.ok and "hash loads (16 dimensions)" in render(loaded)[0]
    assert not missing.ok and "weights.npz not found" in render(missing)[0]
    assert not off.ok and "AKHBAR_ENCODER=off" in render(off)[0]
    assert exit_code([loaded, missing, off]) == 0



async def test_search_engine_line_follows_the_index(db: Database, tmp_path: Path) -> None:
    """Off, not built yet, built and caught up, or in a folder that cannot be written."""
    from bot.doctor import check_search_engine
    from bot.search_index import SearchIndex

    def with_dir(value: str) -> Settings:
        return Settings(database_url=db.url, search_index_dir=value)

    off = await check_search_engine(db, with_dir("off"))
    assert off.ok and "AKHBAR_SEARCH_INDEX_DIR=off" in off.detail
    folder = tmp_path / "index"
    unbuilt = await check_search_engine(db, with_dir(str(folder)))
    assert unbuilt.ok and "`akhbar run` builds it" in unbuilt.detail
    index = SearchIndex(db, folder)
    assert await index.open()
    await index.catch_up()
    await index.close()
    built = await check_search_engine(db, with_dir(str(folder)))
    assert built.ok and built.detail.startswith("tantivy index (reader"), built.detail
    blocked = tmp_path / "a-file"  # a file where the folder should be: no index can go there
    blocked.write_text("")
    refused = await check_search_engine(db, with_dir(str(blocked / "index")))
    assert not refused.ok and not refused.required and "cannot write" in refused.detail
