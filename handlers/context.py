"""Typed access to the per-process objects handlers need, kept in `application.bot_data`."""

from __future__ import annotations

from typing import Any, Final

from telegram.ext import Application, CallbackContext

from bot.services import Services
from handlers.flood import FloodGuard

SERVICES_KEY: Final = "akhbar.services"
FLOOD_KEY: Final = "akhbar.flood"

AnyContext = CallbackContext[Any, Any, Any, Any]
AnyApplication = Application[Any, Any, Any, Any, Any, Any]


def install_services(
    application: AnyApplication, services: Services, flood: FloodGuard | None = None
) -> None:
    """Store the services (and a flood guard) once, for every handler of this application."""
    application.bot_data[SERVICES_KEY] = services
    application.bot_data[FLOOD_KEY] = flood or FloodGuard()


def services(context: AnyContext) -> Services:
    """The process's services; fails loudly when `install_services` was not called."""
    found = context.bot_data.get(SERVICES_KEY)
    if not isinstance(found, Services):
        raise RuntimeError("services are not installed on this application")
    return found


def flood_guard(context: AnyContext) -> FloodGuard:
    """The per-chat command rate limiter of this application."""
    found = context.bot_data.get(FLOOD_KEY)
    if not isinstance(found, FloodGuard):
        found = FloodGuard()
        context.bot_data[FLOOD_KEY] = found
    return found
