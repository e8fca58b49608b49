"""Webhook mode over real HTTP: no secret and a wrong secret are refused, the right one runs.

The bot's real handlers answer; an operator's /addsource posted without the secret must not
add a source (before, the secret was optional and the server listened on 0.0.0.0).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from telegram.ext import Application, ApplicationBuilder

from bot.app import build_services
from bot.demo import DEMO_TOKEN, LocalBotApi, UpdateFactory
from bot.fetch import Fetcher
from bot.redact import redact
from bot.services import Services
from bot.settings import Settings
from bot.webhook import URL_PATH, WebhookFailed, start_webhook, webhook_secret
from handlers.context import install_services
from handlers.flood import FloodGuard
from handlers.setup import register
from storage.db import Database
from tests.bot_harness import ADMIN_ID, FakeClock

HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """A bot serving its webhook on 127.0.0.1."""

    app: Application[Any, Any, Any, Any, Any, Any]
    api: LocalBotApi
    url: str
    secret: str
    services: Services


@pytest.fixture
async def served(db: Database) -> AsyncIterator[Served]:
    """The real application and handlers behind PTB's webhook server, secret generated."""
    settings = Settings(
        database_url="sqlite+aiosqlite:///unused.db",
        admin_ids=frozenset({ADMIN_ID}),
        allow_private_sources=True,
        webhook_url="https://bot.example.org/hook",
        webhook_listen="127.0.0.1",
        webhook_port=free_port(),
    )
    services = await build_services(settings, db, fetcher=Fetcher(), clock=FakeClock())
    api = LocalBotApi()
    app = ApplicationBuilder().token(DEMO_TOKEN).request(api).get_updates_request(api).build()
    install_services(app, services, FloodGuard(limit=1000))
    register(app)
    secret = await webhook_secret(db, settings)
    await app.initialize()
    await app.start()
    await start_webhook(app, settings, secret)
    try:
        url = f"http://127.0.0.1:{settings.webhook_port}/{URL_PATH}"
        yield Served(app=app, api=api, url=url, secret=secret, services=services)
    finally:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def post(url: str, update: dict[str, Any], secret: str | None) -> int:
    """POST one update as Telegram would; return the HTTP status."""
    headers = {HEADER: secret} if secret is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=update, headers=headers) as response,
    ):
        return response.status


def sent_texts(api: LocalBotApi) -> list[str]:
    """Texts of every sendMessage so far."""
    return [str(c.params.get("text")) for c in api.calls if c.method == "sendMessage"]


async def until_sent(api: LocalBotApi, count: int, timeout_s: float = 20.0) -> list[str]:
    """Wait (bounded) until at least `count` messages were sent; return their texts."""
    async with asyncio.timeout(timeout_s):
        while len(sent_texts(api)) < count:
            await asyncio.sleep(0.02)
    return sent_texts(api)


async def test_secret_required_and_checked(served: Served) -> None:
    """No header and a wrong header get 403 and run nothing; the right secret runs /addsource."""
    updates = UpdateFactory()
    command = "/addsource http://127.0.0.1:9/feed.xml"

    def update() -> dict[str, Any]:
        """A fresh operator message (a new update id each time)."""
        return updates.message(command, chat_id=ADMIN_ID, user_id=ADMIN_ID)

    assert await post(served.url, update(), None) == 403
    assert await post(served.url, update(), "wrong-secret") == 403
    assert await post(served.url, update(), served.secret[:-1]) == 403
    assert await post(served.url, update(), served.secret) == 200
    sent = await until_sent(served.api, 1)
    assert await post(served.url, {"update_id": 10**6, "message": "junk"}, "nope") == 403
    # Only the one update with the secret ran: one answer, one source (a refused update
    # run anyway would have added the source first or answered "already listed").
    assert len(sent) == 1 and "Added source" in sent[0], sent
    sources = await served.services.sources.list()
    assert [s.url for s in sources] == ["http://127.0.0.1:9/feed.xml"]
    set_webhook = [c for c in served.api.calls if c.method == "setWebhook"]
    assert set_webhook and set_webhook[-1].params["secret_token"] == served.secret
    assert set_webhook[-1].params["url"] == "https://bot.example.org/hook/telegram"


async def test_generated_secret_is_stored_shared_and_redacted(db: Database) -> None:
    """Unset, a secret is generated once and stored: every process gets the same one."""
    settings = Settings(webhook_url="https://bot.example.org/hook")
    first = await webhook_secret(db, settings)
    second = await webhook_secret(db, settings)
    assert first == second and len(first) >= 32
    assert first not in redact(f"header {first}")
    configured = Settings(webhook_url="https://x.example", webhook_secret="Configured_secret-1")
    assert await webhook_secret(db, configured) == "Configured_secret-1"


def test_secret_setting_validated() -> None:
    """A configured secret must be in Telegram's alphabet; the listen address defaults to loopback."""
    with pytest.raises(ValueError, match="A-Z"):
        Settings(webhook_secret="has spaces")
    assert Settings().webhook_listen == "127.0.0.1"


class RefusingBotApi(LocalBotApi):
    """A local Bot API that refuses every webhook URL, as Telegram does a plain-HTTP one."""

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """setWebhook answers 400; everything else as LocalBotApi."""
        if url.endswith("/setWebhook"):
            return 400, (
                b'{"ok":false,"error_code":400,"description":'
                b'"Bad Request: bad webhook: HTTPS url must be provided for webhook"}'
            )
        return await super().do_request(url, method, *args, **kwargs)


async def test_refused_webhook_is_one_line_and_frees_the_port() -> None:
    """setWebhook refused: a WebhookFailed line naming the reason; the server is stopped."""
    port = free_port()
    settings = Settings(webhook_url="http://bot.example.org/hook", webhook_port=port)
    app = ApplicationBuilder().token(DEMO_TOKEN).request(RefusingBotApi()).build()
    await app.initialize()
    try:
        with pytest.raises(WebhookFailed) as failed:
            await start_webhook(app, settings, "Secret_1")
        line = str(failed.value)
        assert "\n" not in line and failed.value.exit_code == 1
        assert "Telegram refused the webhook http://bot.example.org/hook/telegram" in line
        assert "https url must be provided" in line.lower()
        assert app.updater is not None and not app.updater.running
        with socket.socket() as probe:  # nothing listens there any more
            probe.bind(("127.0.0.1", port))
    finally:
        await app.shutdown()


async def test_port_in_use_is_one_line() -> None:
    """The listen port is taken: a WebhookFailed line naming the address and the settings."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(webhook_url="https://bot.example.org/hook", webhook_port=port)
        app = ApplicationBuilder().token(DEMO_TOKEN).request(LocalBotApi()).build()
        await app.initialize()
        try:
            with pytest.raises(WebhookFailed) as failed:
                await start_webhook(app, settings, "Secret_1")
        finally:
            await app.shutdown()
    line = str(failed.value)
    assert f"cannot serve the webhook on 127.0.0.1:{port}" in line
    assert "AKHBAR_WEBHOOK_PORT" in line and "\n" not in line
