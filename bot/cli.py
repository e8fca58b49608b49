"""The `akhbar` command line: run the bot, the demo, migrations, sources and offline tools."""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli_common import emit, fail, read_jsonl, settings_or_exit

EMBED_BATCH = 64  # texts per encoder call in `akhbar cluster`

app = typer.Typer(
    name="akhbar",
    help="Akhbar: Arabic and English news as followable stories, on Telegram.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
source_app = typer.Typer(help="Manage news sources.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(source_app, name="source")


@app.command("version")
def version_command() -> None:
    """Print the installed Akhbar version."""
    try:
        typer.echo(f"akhbar {version('akhbar')}")
    except PackageNotFoundError:
        typer.echo("akhbar (not installed)")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply database migrations (creates the SQLite file if needed)."""
    from storage.migrate import upgrade

    settings = settings_or_exit()
    upgrade(settings.database_url, revision)
    typer.echo(f"database upgraded to {revision}")


@app.command("run")
def run_command(
    webhook: Annotated[
        bool,
        typer.Option("--webhook", help="Receive updates through a webhook (AKHBAR_WEBHOOK_URL)."),
    ] = False,
) -> None:
    """Run the bot: long polling (or a webhook), source polling, deliveries and digests."""
    settings = settings_or_exit()
    if not settings.telegram_bot_token:
        raise fail(
            "TELEGRAM_BOT_TOKEN is not set. Get a token from @BotFather and export it, "
            "or try the bot offline with `akhbar demo`."
        )
    if webhook and not settings.webhook_url:
        raise fail("--webhook needs AKHBAR_WEBHOOK_URL (and AKHBAR_WEBHOOK_SECRET) to be set.")
    from bot.startup import StartupError, check_token

    try:  # a wrong token stops here, before the heavy imports and the migrations
        asyncio.run(check_token(settings.telegram_api_url, settings.telegram_bot_token))
        from bot.app import run_bot

        asyncio.run(run_bot(settings, webhook=webhook))
    except StartupError as exc:  # a rejected token (exit 2) or a Bot API that never answered (1)
        raise fail(str(exc), exc.exit_code) from None


@app.command("status")
def status_command(
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Put parked failed deliveries back in the queue.")
    ] = False,
) -> None:
    """Health: sources, outbox depth by state, sends and failures in the last hour, notices."""
    from datetime import UTC, datetime

    from bot.looplag import STATE_PREFIX as LOOPLAG_PREFIX
    from bot.looplag import status_lines as looplag_lines
    from bot.search_index import SearchIndex
    from bot.stats import collect_stats, encoder_status
    from storage.db import Database
    from storage.migrate import upgrade
    from storage.repos.deliveries import DeliveryRepo
    from storage.repos.ops import NoticeRepo
    from storage.repos.sources import SourceRepo
    from storage.repos.state import AppStateRepo

    settings = settings_or_exit()
    upgrade(settings.database_url)

    async def go() -> list[str]:
        """Read the figures and format them."""
        db = Database(settings.database_url)
        lines: list[str] = []
        try:
            if retry_failed:
                async with db.unit_of_work() as session:
                    requeued = await DeliveryRepo(session).requeue_failed()
                lines.append(f"requeued {requeued} failed deliveries")
            stats = await collect_stats(db, datetime.now(UTC))
            embeddings = await encoder_status(db)
            search_line = (await SearchIndex(db, settings.search_index_dir).peek()).describe()
            async with db.unit_of_work() as session:
                sources = await SourceRepo(session).list_all()
                notices = await NoticeRepo(session).recent(5)
                lags = await AppStateRepo(session).with_prefix(LOOPLAG_PREFIX)
        finally:
            await db.dispose()
        queue = ", ".join(f"{state} {count}" for state, count in sorted(stats.queue.items()))
        lines += [
            f"sources: {stats.sources_total} ({stats.sources_paused} paused, "
            f"{stats.sources_failing} failing)",
            f"articles: {stats.articles_total}  stories: {stats.stories_total}",
            f"chats: {stats.chats_total} ({stats.chats_blocked} blocked)  follows: {stats.follows_total}",
            f"outbox: {queue or 'empty'}",
            f"last hour: {stats.sent_last_hour} sent, {stats.failed_last_hour} failed",
            embeddings,
        ]
        lines += looplag_lines(lags, datetime.now(UTC))
        lines.append(search_line)
        for source in sources:
            if source.paused or source.error_count:
                state = "paused" if source.paused else f"{source.error_count} failures"
                lines.append(
                    f"  source {source.id} {source.name}: {state}: {source.last_error or ''}"
                )
        lines += [f"notice: {notice.text}" for notice in notices]
        return lines

    for line in asyncio.run(go()):
        typer.echo(line)


@app.command("doctor")
def doctor_command() -> None:
    """Check settings, database, Bot API, sources and optional parts: ✓/✗ lines with what to do.

    Exit code 0 only when everything `akhbar run` needs is fine.
    """
    from bot.doctor import run_doctor

    lines, code = asyncio.run(run_doctor())
    for line in lines:
        typer.echo(line)
    raise typer.Exit(code)


@source_app.command("resume")
def source_resume(
    source_id: Annotated[int, typer.Argument(help="Source id (see `source list`).")],
) -> None:
    """Resume a paused source: its failure count is cleared and it is polled at the next tick."""
    from storage.db import Database
    from storage.repos.sources import SourceRepo

    settings = settings_or_exit()

    async def go() -> bool:
        """Clear the pause in one unit of work."""
        db = Database(settings.database_url)
        try:
            async with db.unit_of_work() as session:
                return await SourceRepo(session).set_paused(source_id, False)
        finally:
            await db.dispose()

    if not asyncio.run(go()):
        raise fail(f"no source with id {source_id}", 1)
    typer.echo(f"source {source_id} resumed")


def main() -> None:
    """Console-script entry point."""
    app()


def _register_plugins() -> None:
    """Add the command groups that live beside their services."""
    from bot import cli_demo, cli_ingest

    cli_ingest.register(app, source_app)
    cli_demo.register(app)


_register_plugins()


@app.command("cluster")
def cluster_command(
    input: Annotated[
        Path, typer.Option("--input", "-i", help="JSONL with id, title, text, published, lang.")
    ],
    link: Annotated[
        bool,
        typer.Option(
            "--link/--no-link",
            help="Link Arabic and English stories of one event (needs the encoder).",
        ),
    ] = True,
) -> None:
    """Assign each input article to a story, online, in input order: one JSON line per input.

    With Arabic and English records and the encoder (`AKHBAR_ENCODER`) available, the
    stories of one event in both languages are then linked and share one story id.
    """
    from bot.pipeline.offline import cluster_records, needs_linking

    if not link:  # one line out per line in, nothing held
        for record in cluster_records(read_jsonl(input)):
            emit(record)
        return
    records = list(read_jsonl(input))
    stories = list(cluster_records(records))
    if needs_linking(records):
        stories = _linked_stories(records, stories)
    for record in stories:
        emit(record)


def _linked_stories(
    records: list[dict[str, Any]], stories: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Stories after cross-language linking; unchanged (with a note on stderr) without an encoder."""
    import numpy as np

    from bot.embeddings import load_encoder
    from bot.pipeline.offline import link_records, linking_texts

    name = settings_or_exit().encoder
    encoder, reason = (None, "AKHBAR_ENCODER is off") if name == "off" else load_encoder(name)
    if encoder is None:
        typer.echo(f"cross-language linking off: {reason}", err=True)
        return stories
    texts = linking_texts(records)
    vectors = np.concatenate(
        [encoder.embed(texts[i : i + EMBED_BATCH]) for i in range(0, len(texts), EMBED_BATCH)]
    )
    return link_records(records, stories, vectors)


@app.command("summarize")
def summarize_command(
    input: Annotated[Path, typer.Option("--input", "-i", help="JSONL with id, title, text, lang.")],
    sentences: Annotated[
        int | None, typer.Option("--sentences", min=1, help="Sentences per summary.")
    ] = None,
    words: Annotated[
        int | None, typer.Option("--words", min=1, help="Word budget per summary.")
    ] = None,
) -> None:
    """Extractive summaries (whole sentences verbatim); a `budget_words` field overrides per line."""
    from bot.pipeline.offline import summarise_records

    if sentences is not None and words is not None:
        raise fail("use --sentences or --words, not both")
    for record in summarise_records(read_jsonl(input), sentences=sentences, words=words):
        emit(record)


@app.command("search")
def search_cli(
    query: Annotated[str, typer.Argument(help="Words to search for (Arabic or English).")] = "",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=500)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per hit.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Only articles of the last 7d, 24h, 2w ...")
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Only articles in en or ar.")] = None,
    queries: Annotated[
        Path | None,
        typer.Option("--queries", help="A file of queries, one a line: one JSON line each."),
    ] = None,
) -> None:
    """Search the stored articles (after `akhbar ingest`)."""
    from datetime import UTC, datetime

    from bot.pipeline.search_query import parse_window
    from bot.search import queries_command, search_command
    from storage.db import Database
    from storage.migrate import upgrade

    window = parse_window(since) if since else None
    if since and window is None:
        raise typer.BadParameter("--since takes a window such as 7d, 24h or 2w")
    if lang not in (None, "en", "ar"):
        raise typer.BadParameter("--lang takes en or ar")
    if not query and queries is None:
        raise typer.BadParameter("give a QUERY or --queries FILE")
    settings = settings_or_exit()
    upgrade(settings.database_url)
    start = None if window is None else datetime.now(UTC) - window
    langs = None if lang is None else [lang]

    async def go() -> str:
        """Run the query (or every query of the file) and return what to print."""
        db = Database(settings.database_url)
        try:
            if queries is not None:
                texts = [q.strip() for q in queries.read_text(encoding="utf-8").splitlines()]
                lines = await queries_command(
                    db,
                    [q for q in texts if q],
                    limit,
                    since=start,
                    langs=langs,
                    index_dir=settings.search_index_dir,
                )
                return "\n".join(lines)
            return await search_command(
                db,
                query,
                limit,
                as_json=as_json,
                since=start,
                langs=langs,
                index_dir=settings.search_index_dir,
            )
        finally:
            await db.dispose()

    output = asyncio.run(go())
    typer.echo(output if output or as_json else "no results")
