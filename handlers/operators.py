"""Operator commands and buttons: /sources (pages, pause/resume), /export and /import."""

from __future__ import annotations

import logging
import re
from typing import Final

from telegram import Document, InputFile, Message, Update
from telegram.error import TelegramError

from bot.domain import Chat
from bot.pipeline.opml import MAX_FILE_BYTES
from bot.presentation.callbacks import CallbackData
from bot.presentation.i18n import t, tn
from bot.presentation.message import Rendered
from bot.presentation.sources import render_import_report, render_source_page
from bot.services import Services
from bot.sources import SourceFileError
from handlers.commands import (
    edit_or_send,
    guarded,
    is_operator,
    notice,
    operator_chat,
    send,
    send_parts,
)
from handlers.context import AnyContext, services

log = logging.getLogger("akhbar.handlers")

EXPORT_NAME: Final = "akhbar-sources.opml"
#: "/import" or "/import@bot" at the start of a caption or message.
IMPORT_COMMAND: Final = re.compile(r"^/import(?:@\w+)?(?:\s|$)", re.IGNORECASE)


# --------------------------------------------------------------------------- /sources


async def sources_view(svc: Services, lang: str, page: int) -> Rendered:
    """One page of the source list as the operator sees it."""
    return render_source_page(lang, await svc.sources.polled(), page, svc.clock())


@guarded
async def cmd_sources(update: Update, context: AnyContext) -> None:
    """Each polled source's name, kind, language, last success, last error and state
    (operators; one-shot inputs are not listed)."""
    chat = await operator_chat(update, context)
    if chat is None:
        return
    await send(context, chat.id, await sources_view(services(context), chat.language, 0))


def _button_message(update: Update) -> Message | None:
    """The message a button belongs to, if accessible."""
    query = update.callback_query
    if query is None or not isinstance(query.message, Message):
        return None
    return query.message


async def sources_page(
    update: Update, context: AnyContext, chat: Chat, data: CallbackData
) -> str | None:
    """Another page of /sources, edited in place (operators only)."""
    svc = services(context)
    if not is_operator(update, svc):
        return t(chat.language, "toast.not_allowed")
    rendered = await sources_view(svc, chat.language, data.int_arg(0))
    await edit_or_send(context, _button_message(update), rendered)
    return None


async def toggle_source(
    update: Update, context: AnyContext, chat: Chat, data: CallbackData
) -> str | None:
    """Pause or resume a source from /sources and redraw the page (operators only)."""
    svc = services(context)
    if not is_operator(update, svc):
        return t(chat.language, "toast.not_allowed")
    source_id, page = data.int_arg(0), data.int_arg(1)
    current = next((s for s in await svc.sources.polled() if s.id == source_id), None)
    if current is None:
        return t(chat.language, "toast.stale")
    changed = await svc.sources.set_paused(source_id, not current.paused)
    if changed is None:
        return t(chat.language, "toast.stale")
    await edit_or_send(
        context, _button_message(update), await sources_view(svc, chat.language, page)
    )
    key = "toast.source_paused" if changed.paused else "toast.source_resumed"
    return t(chat.language, key, id=source_id)


# --------------------------------------------------------------------------- /export


@guarded
async def cmd_export(update: Update, context: AnyContext) -> None:
    """Send every source as an OPML file (operators)."""
    chat = await operator_chat(update, context)
    if chat is None:
        return
    svc = services(context)
    sources = await svc.sources.polled()
    if not sources:
        await notice(context, chat, "export.empty")
        return
    data = await svc.sources.export_opml(svc.clock())
    await context.bot.send_document(
        chat.id,
        document=InputFile(data, filename=EXPORT_NAME),
        caption=tn(chat.language, "export.caption", len(sources)),
    )


# --------------------------------------------------------------------------- /import


def _import_document(message: Message | None) -> Document | None:
    """The file an /import refers to: the message's own document (captioned /import), or
    the document of the message it replies to."""
    if message is None:
        return None
    if message.document is not None:
        return message.document
    replied = message.reply_to_message
    if replied is not None and replied.document is not None:
        return replied.document
    return None


def asks_import(message: Message | None) -> bool:
    """Whether a message with a document asks for an import: captioned /import, or sent
    as a reply to a message saying /import."""
    if message is None or message.document is None:
        return False
    if IMPORT_COMMAND.match(message.caption or ""):
        return True
    replied = message.reply_to_message
    return replied is not None and bool(IMPORT_COMMAND.match(replied.text or ""))


async def _download(context: AnyContext, document: Document) -> bytes:
    """The document's bytes through the Bot API (getFile, then the file URL)."""
    file = await context.bot.get_file(document.file_id)
    if file.file_size is not None and file.file_size > MAX_FILE_BYTES:
        raise ValueError("too big")
    data = bytes(await file.download_as_bytearray())
    if len(data) > MAX_FILE_BYTES:
        raise ValueError("too big")
    return data


async def import_document(context: AnyContext, chat: Chat, document: Document) -> None:
    """Download, read and import one source file; report the outcome in the chat's language."""
    lang = chat.language
    if document.file_size is not None and document.file_size > MAX_FILE_BYTES:
        await notice(context, chat, "import.too_big", max=f"{MAX_FILE_BYTES // 1000:,} KB")
        return
    try:
        data = await _download(context, document)
    except ValueError:
        await notice(context, chat, "import.too_big", max=f"{MAX_FILE_BYTES // 1000:,} KB")
        return
    except (TelegramError, OSError, RuntimeError):
        log.warning("could not download an import file in chat %s", chat.id, exc_info=True)
        await notice(context, chat, "import.download_failed")
        return
    try:
        report = await services(context).sources.import_bytes(data)
    except SourceFileError as exc:
        await notice(context, chat, "import.unreadable", error=str(exc))
        return
    added = [(s.id, s.name) for s in report.added]
    parts = render_import_report(
        lang, added, len(report.present), report.rejected, report.truncated
    )
    await send_parts(context, chat.id, parts)


@guarded
async def cmd_import(update: Update, context: AnyContext) -> None:
    """/import as a reply to an OPML or TOML document imports it; alone, it says how (operators)."""
    chat = await operator_chat(update, context)
    if chat is None:
        return
    document = _import_document(update.effective_message)
    if document is None:
        await notice(context, chat, "import.usage")
        return
    await import_document(context, chat, document)


@guarded
async def on_import_document(update: Update, context: AnyContext) -> None:
    """A document captioned /import, or sent in reply to /import (operators)."""
    message = update.effective_message
    if not asks_import(message) or message is None or message.document is None:
        return
    chat = await operator_chat(update, context)
    if chat is None:
        return
    await import_document(context, chat, message.document)
