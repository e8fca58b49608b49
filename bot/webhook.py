"""Webhook mode, closed by default: a secret is always required, the listen address is set.

PTB's webhook server checks ``X-Telegram-Bot-Api-Secret-Token`` only when a secret is
given, so one always is: `AKHBAR_WEBHOOK_SECRET`, or else a random one generated once and
kept in the database (`app_state`), so every process and every restart registers and
expects the same value. The server listens on `AKHBAR_WEBHOOK_LISTEN` (127.0.0.1 unless
set: Telegram needs HTTPS, so a TLS proxy usually sits in front).
"""

from __future__ import annotations

import secrets
from typing import Any, Final

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.redact import register_secrets
from bot.settings import Settings
from bot.startup import StartupError
from storage.db import Database
from storage.repos.state import AppStateRepo

URL_PATH: Final = "telegram"
SECRET_STATE: Final = "webhook_secret"
SECRET_BYTES: Final = 32  # 43 URL-safe characters, within Telegram's 1-256 of [A-Za-z0-9_-]


class WebhookFailed(StartupError):
    """The webhook could not start: Telegram refused its URL, or the port cannot be served."""

    exit_code = 1


def new_secret() -> str:
    """A fresh random secret in Telegram's alphabet."""
    return secrets.token_urlsafe(SECRET_BYTES)


async def webhook_secret(db: Database, settings: Settings) -> str:
    """The configured secret, else the stored one (generated and stored on first use)."""
    if settings.webhook_secret:
        secret = settings.webhook_secret
    else:
        async with db.unit_of_work() as session:
            secret = await AppStateRepo(session).get_or_create(SECRET_STATE, new_secret())
    register_secrets([secret])
    return secret


def webhook_target(settings: Settings) -> str:
    """The public URL Telegram posts to (AKHBAR_WEBHOOK_URL plus the fixed path)."""
    if not settings.webhook_url:
        raise RuntimeError("webhook mode needs AKHBAR_WEBHOOK_URL")
    return settings.webhook_url.rstrip("/") + "/" + URL_PATH


async def start_webhook(
    application: Application[Any, Any, Any, Any, Any, Any], settings: Settings, secret: str
) -> None:
    """Register the webhook with Telegram and serve it; requests without the secret get 403."""
    if application.updater is None:
        raise RuntimeError("webhook mode needs the application's updater")
    if not secret:
        raise ValueError("a webhook secret is required")
    target = webhook_target(settings)
    try:
        await application.updater.start_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=URL_PATH,
            webhook_url=target,
            secret_token=secret,
            allowed_updates=Update.ALL_TYPES,
        )
    except (TelegramError, OSError) as exc:
        if application.updater.running:  # the server came up before setWebhook failed
            await application.updater.stop()
        raise WebhookFailed(webhook_failure_line(exc, settings, target)) from None


def webhook_failure_line(exc: BaseException, settings: Settings, target: str) -> str:
    """One line for the operator: what failed in starting the webhook, and what to check."""
    if isinstance(exc, TelegramError):
        return (
            f"Telegram refused the webhook {target}: {exc.message} "
            "(check AKHBAR_WEBHOOK_URL: a public HTTPS address that reaches this server)"
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return (
        f"cannot serve the webhook on {settings.webhook_listen}:{settings.webhook_port}: "
        f"{reason} (check AKHBAR_WEBHOOK_LISTEN and AKHBAR_WEBHOOK_PORT)"
    )
