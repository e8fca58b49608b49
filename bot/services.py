"""The typed bundle of services that handlers and jobs use (built by `bot.app`)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.settings import Settings
from storage.db import Database

if TYPE_CHECKING:
    from bot.chats import ChatService
    from bot.follows import FollowMatcher
    from bot.ingest import IngestService
    from bot.search import SearchService
    from bot.sources import SourceService
    from bot.stories import StoryService

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current aware UTC time."""
    return datetime.now(UTC)


def instance_name() -> str:
    """A name for this process, unique across hosts and restarts (used for claims and leases)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Services:
    """Everything a handler or a job needs, built once per process."""

    settings: Settings
    db: Database
    chats: ChatService
    search: SearchService
    stories: StoryService
    sources: SourceService
    ingest: IngestService
    follows: FollowMatcher
    clock: Clock = system_clock
    instance: str = field(default_factory=instance_name)
