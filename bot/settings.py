"""One typed settings object, read once from environment variables and an optional `.env`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
ENV_FILE = Path(".env")  # read from the working directory, below the environment
TELEGRAM_BULK_PER_SECOND = 30.0  # Telegram's documented limit for bulk notifications
DEFAULT_MESSAGES_PER_SECOND = 29.0  # the default budget: a margin under Telegram's limit
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class SettingsError(Exception):
    """A setting has a bad value; the message is one line naming the variable."""


def parse_hhmm(value: str) -> time:
    """Parse 'HH:MM' (24-hour) into a time, raising ValueError otherwise."""
    match = _TIME_RE.match(value.strip())
    if not match:
        raise ValueError(f"expected HH:MM (24-hour), got {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


class Settings(BaseSettings):
    """Every knob of Akhbar; env var names are given by `validation_alias`."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    telegram_bot_token: str | None = Field(
        default=None, repr=False, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN")
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org/bot", validation_alias=AliasChoices("TELEGRAM_API_URL")
    )
    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR / 'akhbar.db'}",
        validation_alias=AliasChoices("DATABASE_URL"),
    )
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), validation_alias=AliasChoices("AKHBAR_ADMIN_IDS")
    )
    poll_seconds: int = Field(
        default=300, ge=1, validation_alias=AliasChoices("AKHBAR_POLL_SECONDS")
    )
    allow_private_sources: bool = Field(
        default=False, validation_alias=AliasChoices("AKHBAR_ALLOW_PRIVATE_SOURCES")
    )
    default_language: str = Field(
        default="en", validation_alias=AliasChoices("AKHBAR_DEFAULT_LANGUAGE")
    )
    default_timezone: str = Field(
        default="UTC", validation_alias=AliasChoices("AKHBAR_DEFAULT_TIMEZONE")
    )
    digest_time: Annotated[time, NoDecode] = Field(
        default=time(8, 0), validation_alias=AliasChoices("AKHBAR_DIGEST_TIME")
    )
    # The send budget is the bot's, and exact: the sending processes split it evenly and
    # send at their share, evenly spaced. Telegram's documented bulk limit is 30 messages
    # per second and the bot cannot know exactly how Telegram counts (its clock, its window
    # edges, answers still on their way), so the default sits a little under it (29, about
    # 3 % below) instead of the limiter shrinking every budget; no 1 s window as Telegram
    # sees it ever holds more than 30, or budget x 30/29 for a budget raised past 30 (paid
    # broadcasts: set 970 for Telegram's 1,000).
    max_messages_per_second: float = Field(
        default=DEFAULT_MESSAGES_PER_SECOND,
        gt=0,
        le=10000,
        validation_alias=AliasChoices("AKHBAR_MAX_MESSAGES_PER_SECOND"),
    )
    max_feed_bytes: int = Field(
        default=5_000_000, ge=1024, validation_alias=AliasChoices("AKHBAR_MAX_FEED_BYTES")
    )
    fetch_timeout_seconds: float = Field(
        default=20.0, gt=0, validation_alias=AliasChoices("AKHBAR_FETCH_TIMEOUT")
    )
    pause_after_failures: int = Field(
        default=20, ge=1, validation_alias=AliasChoices("AKHBAR_PAUSE_AFTER_FAILURES")
    )
    tick_seconds: float = Field(
        default=2.0, gt=0, le=3600, validation_alias=AliasChoices("AKHBAR_TICK_SECONDS")
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, validation_alias=AliasChoices("AKHBAR_LEASE_SECONDS")
    )
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("AKHBAR_LOG_LEVEL"))
    # Start-up waits for the Telegram Bot API: unset retries for ever; N gives up after N
    # retries. Waits double from 1 s up to the cap.
    startup_retries: int | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("AKHBAR_STARTUP_RETRIES")
    )
    startup_max_backoff: float = Field(
        default=30.0, gt=0, le=3600, validation_alias=AliasChoices("AKHBAR_STARTUP_MAX_BACKOFF")
    )
    webhook_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AKHBAR_WEBHOOK_URL")
    )
    webhook_secret: str | None = Field(
        default=None, validation_alias=AliasChoices("AKHBAR_WEBHOOK_SECRET")
    )
    webhook_port: int = Field(
        default=8443, ge=1, le=65535, validation_alias=AliasChoices("AKHBAR_WEBHOOK_PORT")
    )
    webhook_listen: str = Field(
        default="127.0.0.1", min_length=1, validation_alias=AliasChoices("AKHBAR_WEBHOOK_LISTEN")
    )
    ops_port: int | None = Field(
        default=None, ge=0, le=65535, validation_alias=AliasChoices("AKHBAR_OPS_PORT")
    )
    ops_listen: str = Field(
        default="127.0.0.1", min_length=1, validation_alias=AliasChoices("AKHBAR_OPS_LISTEN")
    )
    encoder: str = Field(
        default="use-m3", min_length=1, validation_alias=AliasChoices("AKHBAR_ENCODER")
    )  # the sentence encoder of cross-language linking; "off": lexical features only
    link_batch: int = Field(
        default=64, ge=1, le=1024, validation_alias=AliasChoices("AKHBAR_LINK_BATCH")
    )  # articles the linker embeds per batch
    search_index_dir: str = Field(
        default="auto",
        min_length=1,
        validation_alias=AliasChoices("AKHBAR_SEARCH_INDEX_DIR"),
    )  # the search index's folder; auto: beside a SQLite file, else data/search-index; off

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        """Accept '1, 2,3' as well as a list of ints."""
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError:
                raise ValueError("expected comma-separated integer user ids") from None
        return value

    @field_validator("digest_time", mode="before")
    @classmethod
    def _parse_digest_time(cls, value: object) -> object:
        """Accept 'HH:MM'."""
        if isinstance(value, str):
            return parse_hhmm(value)
        return value

    @field_validator("default_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        """Require an IANA timezone name."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r} (use an IANA name like Asia/Riyadh)"
            ) from None
        return value

    @field_validator("default_language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        """Only the two interface languages are allowed."""
        if value not in ("en", "ar"):
            raise ValueError("expected 'en' or 'ar'")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        """Only async SQLite and PostgreSQL drivers are supported."""
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("expected sqlite+aiosqlite://... or postgresql+asyncpg://...")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: str | None) -> str | None:
        """Telegram's secret_token: 1-256 of A-Z a-z 0-9 _ - (empty means: generate one)."""
        if not value:
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("expected 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        """The Bot API base URL must be http(s)."""
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL such as https://api.telegram.org/bot")
        return value

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite."""
        return self.database_url.startswith("sqlite")


_ENV_NAMES = {
    name: (
        field.validation_alias.choices[0]
        if isinstance(field.validation_alias, AliasChoices)
        else name
    )
    for name, field in Settings.model_fields.items()
}


def env_name(field: str) -> str:
    """The environment variable that sets a settings field."""
    return str(_ENV_NAMES.get(field, field.upper()))


def setting_sources(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """Where each field's value comes from: 'environment', '.env' or 'default'.

    Mirrors pydantic-settings' order (environment over `.env` over defaults) and its
    case-insensitive variable names.
    """
    environ = os.environ if environ is None else environ
    path = ENV_FILE if env_file is None else env_file
    in_env = {key.upper() for key in environ}
    in_file = {key.upper() for key in dotenv_values(path)} if path.is_file() else set()
    sources: dict[str, str] = {}
    for field in Settings.model_fields:
        name = env_name(field).upper()
        if name in in_env:
            sources[field] = "environment"
        elif name in in_file:
            sources[field] = ".env"
        else:
            sources[field] = "default"
    return sources


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning any validation error into one clear SettingsError line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = str(err["loc"][0]) if err["loc"] else "?"
        name = _ENV_NAMES.get(loc, loc)
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"invalid setting {name}: {msg}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
