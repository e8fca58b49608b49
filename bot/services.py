"""The typed bundle of services that handlers and jobs use (built by `bot.app`).

Handlers reach the database only through these services (`views` for browsing, `chats`,
`search`, …); `db` is for the composition root and the background engines.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.digests import DigestBuilder
from bot.domain import Clock, utc_now
from bot.pushes import PushComposer
from bot.settings import Settings
from bot.views import ReadViews
from storage.db import Database

if TYPE_CHECKING:
    from bot.chats import ChatService
    from bot.follows import FollowMatcher
    from bot.ingest import IngestService
    from bot.search import SearchService
    from bot.sources import SourceService
    from bot.stories import StoryService

system_clock = utc_now


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
    views: ReadViews = field(init=False)
    pushes: PushComposer = field(init=False)
    digests: DigestBuilder = field(init=False)

    def __post_init__(self) -> None:
        """Build the read views and the composers over the same database and stories."""
        self.views = ReadViews(self.db, self.clock)
        self.pushes = PushComposer(self.db, self.stories)
        self.digests = DigestBuilder(self.db)
