"""Test helpers: the real Application and services over a test database, with a recording
in-process Bot API (`bot.demo.LocalBotApi`) and real `Update` objects."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder

from bot.app import build_engines, build_services
from bot.demo import DEMO_TOKEN, ApiCall, LocalBotApi, UpdateFactory, keyboard_buttons
from bot.fetch import Fetcher
from bot.services import Services
from bot.settings import Settings
from handlers.context import install_services
from handlers.flood import FloodGuard
from handlers.setup import register
from storage.db import Database

ADMIN_ID = 7
USER_ID = 100


@dataclass
class FakeClock:
    """A settable clock returning aware UTC times."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        """The current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += timedelta(seconds=seconds)


@dataclass
class Harness:
    """An application wired to a test database and a recording Bot API."""

    app: Application[Any, Any, Any, Any, Any, Any]
    api: LocalBotApi
    services: Services
    clock: FakeClock
    updates: UpdateFactory = field(default_factory=UpdateFactory)
    engines: Any = None

    async def process(self, payload: Mapping[str, Any]) -> list[ApiCall]:
        """Feed one update; return the Bot API calls it caused."""
        start = len(self.api.calls)
        await self.app.process_update(Update.de_json(dict(payload), self.app.bot))
        return self.api.calls[start:]

    async def command(
        self,
        text: str,
        *,
        chat_id: int = USER_ID,
        user_id: int | None = USER_ID,
        lang: str | None = "en",
        chat_type: str = "private",
        sender_chat_id: int | None = None,
        channel: bool = False,
    ) -> list[ApiCall]:
        """Send a text message (a command) as a user."""
        self.api.chat_types[chat_id] = chat_type
        payload = self.updates.message(
            text,
            chat_id=chat_id,
            user_id=user_id,
            chat_type=chat_type,
            language_code=lang,
            sender_chat_id=sender_chat_id,
            channel=channel,
        )
        return await self.process(payload)

    async def press(
        self,
        data: str,
        message: Mapping[str, Any] | None = None,
        *,
        chat_id: int = USER_ID,
        user_id: int = USER_ID,
        lang: str | None = "en",
    ) -> list[ApiCall]:
        """Press a button with this callback data on a bot message (the newest by default)."""
        target = dict(message) if message is not None else self.last_message(chat_id)
        payload = self.updates.callback(data, message=target, user_id=user_id, language_code=lang)
        return await self.process(payload)

    def last_message(self, chat_id: int = USER_ID) -> dict[str, Any]:
        """The newest message the bot sent or edited in a chat."""
        mine = [m for (c, _), m in self.api.messages.items() if c == chat_id]
        if mine:
            return dict(mine[-1])
        return {
            "message_id": 1,
            "date": int(self.clock().timestamp()),
            "chat": self.api.chat(chat_id),
        }

    def find_button(self, calls: Iterable[ApiCall], prefix: str) -> tuple[dict[str, Any], str]:
        """The first message among these calls with a button whose data starts with `prefix`."""
        for call in calls:
            if isinstance(call.result, dict):
                for _label, data in keyboard_buttons(call.result):
                    if data.startswith(prefix):
                        return call.result, data
        raise AssertionError(f"no button {prefix!r} in {[texts([c]) for c in calls]}")

    async def add_articles(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Ingest JSONL-style records (title, text, source, lang, url, published)."""
        await self.services.ingest.ingest_records(list(records))

    async def deliver(self) -> None:
        """Fan out new articles and run the delivery worker until idle."""
        await self.services.follows.refresh()
        await self.engines.fanout.run_until_idle()
        self.clock.now = max(self.clock.now, datetime.now(UTC)) + timedelta(seconds=1)
        await self.engines.worker.run_until_idle()


def texts(calls: Iterable[ApiCall]) -> list[str]:
    """Texts of sendMessage/editMessageText calls and toasts (answerCallbackQuery)."""
    found = []
    for call in calls:
        if call.method in ("sendMessage", "editMessageText"):
            found.append(str(call.params.get("text", "")))
        elif call.method == "answerCallbackQuery":
            found.append(str(call.params.get("text") or ""))
    return found


def joined(calls: Iterable[ApiCall]) -> str:
    """All texts of these calls in one string."""
    return "\n".join(texts(calls))


@asynccontextmanager
async def make_harness(
    db: Database,
    *,
    admin_ids: Iterable[int] = (ADMIN_ID,),
    clock: FakeClock | None = None,
    flood: FloodGuard | None = None,
) -> AsyncIterator[Harness]:
    """A harness over `db` (already migrated)."""
    clock = clock or FakeClock()
    settings = Settings(
        database_url="sqlite+aiosqlite:///unused.db",
        admin_ids=frozenset(admin_ids),
        telegram_bot_token=None,
        allow_private_sources=True,
    )
    services = await build_services(settings, db, fetcher=Fetcher(), clock=clock)
    api = LocalBotApi()
    app = (
        ApplicationBuilder()
        .token(DEMO_TOKEN)
        .request(api)
        .get_updates_request(api)
        .updater(None)
        .build()
    )
    install_services(app, services, flood or FloodGuard(limit=1000))
    register(app)
    await app.initialize()
    harness = Harness(app=app, api=api, services=services, clock=clock)
    harness.engines = build_engines(services, app)
    try:
        yield harness
    finally:
        await app.shutdown()
