"""CLI commands for sources and one-shot ingestion: `akhbar source …`, `ingest`, `extract`."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli_common import fail, settings_or_exit

if TYPE_CHECKING:  # the services are imported where a command runs: `akhbar run` never needs them
    from bot.domain import Source
    from bot.ingest import IngestReport, IngestService
    from bot.settings import Settings
    from storage.db import Database


def _migrated(settings: Settings) -> Settings:
    """Migrate the database to head (a fresh machine just works); call outside the loop."""
    from storage.migrate import upgrade

    upgrade(settings.database_url)
    return settings


def _database(settings: Settings) -> Database:
    """Open the configured database."""
    from storage.db import Database

    return Database(settings.database_url)


def _is_url(value: str) -> bool:
    """Whether an input names an http(s) URL."""
    return value.lower().startswith(("http://", "https://"))


def _jsonl(path: Path, report: IngestReport) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file; bad lines are counted as failures."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                report.failed += 1
                report.errors.append(f"{path}:{number}: not valid JSON ({exc.msg})")
                continue
            if isinstance(record, dict):
                yield record
            else:
                report.failed += 1
                report.errors.append(f"{path}:{number}: expected a JSON object")


async def _ingest_one(service: IngestService, item: str) -> IngestReport:
    """Ingest one input: a URL, a .jsonl file, or a feed/page file."""
    from bot.ingest import IngestReport

    if _is_url(item):
        return await service.ingest_url(item)
    path = Path(item)
    if path.suffix.lower() == ".jsonl":
        report = IngestReport()
        return (await service.ingest_records(_jsonl(path, report))).merge(report)
    return await service.ingest_bytes(path.read_bytes(), path.resolve().as_uri())


async def _ingest(settings: Settings, inputs: list[str]) -> IngestReport:
    """Ingest every input with a progress bar on stderr; failures are counted, not raised."""
    from rich.progress import Progress

    from bot.fetch import fetcher_for
    from bot.ingest import IngestReport, IngestService
    from bot.stories import StoryService

    db = _database(settings)
    total = IngestReport()
    try:
        stories = StoryService(db)
        await stories.load()
        async with fetcher_for(settings) as fetcher:
            service = IngestService(db, fetcher, stories, settings)
            with Progress(transient=True, console=_stderr_console()) as progress:
                task = progress.add_task("ingesting", total=len(inputs))
                for item in inputs:
                    try:
                        total.merge(await _ingest_one(service, item))
                    except (OSError, ValueError) as exc:
                        total.failed += 1
                        total.errors.append(f"{item}: {exc}")
                    progress.advance(task)
    finally:
        await db.dispose()
    return total


def _stderr_console() -> Any:
    """A rich console writing to stderr."""
    from rich.console import Console

    return Console(stderr=True)


def _source_line(source: Source) -> str:
    """One line describing a source."""
    state = "paused" if source.paused else ("disabled" if not source.enabled else "active")
    lang = source.lang or "-"
    errors = f" errors={source.error_count}" if source.error_count else ""
    return (
        f"{source.id}\t{source.kind}\t{lang}\t{source.poll_seconds}s\t{state}{errors}\t"
        f"{source.name}\t{source.url}"
    )


async def _with_sources(settings: Settings, action: str, *args: Any) -> Any:
    """Run one SourceService method against the configured database."""
    from bot.fetch import fetcher_for
    from bot.sources import SourceService

    db = _database(settings)
    try:
        async with fetcher_for(settings) as fetcher:
            service = SourceService(db, fetcher, settings)
            return await getattr(service, action)(*args)
    finally:
        await db.dispose()


def register(app: typer.Typer, source_app: typer.Typer) -> None:
    """Add `source add|list|remove|import|export`, `ingest` and `extract` to the CLI."""

    @source_app.command("add")
    def source_add(
        url: Annotated[str, typer.Argument(help="Feed or page URL (http/https).")],
        name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
        interval: Annotated[
            int | None, typer.Option("--interval", help="Poll interval in seconds.")
        ] = None,
        lang: Annotated[str | None, typer.Option("--lang", help="Language hint: ar or en.")] = None,
    ) -> None:
        """Add a news source (its kind is detected on the first poll)."""
        from bot.sources import SourceError

        settings = settings_or_exit()
        try:
            source = asyncio.run(
                _with_sources(_migrated(settings), "add", url, name, interval, lang)
            )
        except SourceError as exc:
            raise fail(str(exc)) from None
        typer.echo(f"added source {source.id}: {source.url}")

    @source_app.command("list")
    def source_list() -> None:
        """List every source with its state."""
        sources = asyncio.run(_with_sources(_migrated(settings_or_exit()), "list"))
        if not sources:
            typer.echo("no sources")
        for source in sources:
            typer.echo(_source_line(source))

    @source_app.command("remove")
    def source_remove(
        source_id: Annotated[int, typer.Argument(metavar="ID", help="Source id.")],
    ) -> None:
        """Remove a source (its articles stay)."""
        if not asyncio.run(_with_sources(_migrated(settings_or_exit()), "remove", source_id)):
            raise fail(f"no source with id {source_id}", code=1)
        typer.echo(f"removed source {source_id}")

    @source_app.command("import")
    def source_import(
        file: Annotated[Path, typer.Argument(metavar="FILE", help="OPML or TOML file.")],
    ) -> None:
        """Import sources from an OPML file or a TOML `[[source]]` list (chosen by content)."""
        report = asyncio.run(_with_sources(_migrated(settings_or_exit()), "import_file", file))
        for source in report.added:
            typer.echo(f"added {source.id}: {source.url}")
        for url in report.present:
            typer.echo(f"already present: {url}")
        for what, why in report.rejected:
            typer.echo(f"rejected: {what}: {why}", err=True)
        if report.truncated:
            typer.echo("the file lists more sources than one import reads; the rest was skipped")
        typer.echo(
            f"added {len(report.added)}, already present {len(report.present)}, "
            f"rejected {len(report.rejected)}"
        )
        if report.failed:
            raise typer.Exit(1)

    @source_app.command("export")
    def source_export(
        output: Annotated[
            Path | None,
            typer.Option("--output", "-o", help="Write the OPML here (default: standard output)."),
        ] = None,
    ) -> None:
        """Write every source as an OPML 2.0 file (to standard output by default)."""
        from datetime import UTC, datetime

        data: bytes = asyncio.run(
            _with_sources(_migrated(settings_or_exit()), "export_opml", datetime.now(UTC))
        )
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise fail(f"cannot write {output}: {exc}") from None
        typer.echo(f"wrote {output}", err=True)

    @app.command("ingest")
    def ingest_command(
        inputs: Annotated[
            list[str],
            typer.Argument(metavar="PATH_OR_URL...", help="Feed/page files, URLs or .jsonl."),
        ],
    ) -> None:
        """Ingest feeds, pages or JSONL into the database once; print a summary line."""
        report = asyncio.run(_ingest(_migrated(settings_or_exit()), inputs))
        for error in report.errors[:20]:
            typer.echo(f"error: {error}", err=True)
        typer.echo(report.summary_line())
        if report.failed and not (report.new or report.updated or report.duplicate):
            raise typer.Exit(1)

    @app.command("extract")
    def extract_command(
        inputs: Annotated[
            list[str], typer.Argument(metavar="FILE_OR_URL...", help="Page or feed files or URLs.")
        ],
        url: Annotated[
            str | None, typer.Option("--url", help="Original URL of a file (for links).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON line per input.")] = False,
    ) -> None:
        """Extract title, text, date, language… of each input, in input order."""
        from bot.extracting import extract_inputs
        from bot.fetch import fetcher_for

        settings = settings_or_exit()
        for record in extract_inputs(inputs, url, lambda: fetcher_for(settings)):
            if as_json:
                sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            else:
                title = record.get("title") or ""
                typer.echo(f"{record.get('input')}\t{record.get('kind')}\t{title}")
        sys.stdout.flush()
