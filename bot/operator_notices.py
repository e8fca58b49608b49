"""Operator notices (a paused source, repeated failures) sent to the operators' chats.

A periodic job, off the hot path: one process at a time (a short named lease), at most
`limit` notices per run coalesced into one message per operator (split only past 4096
characters), in each operator's language. Notices are marked seen only after at least
one operator got them; when every send fails (Telegram down, the operator never opened
the bot) they stay queued for the next run, so none is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode

from bot.domain import Clock
from bot.presentation.sources import render_notices
from bot.settings import Settings
from storage.db import Database
from storage.repos.chats import ChatRepo
from storage.repos.ops import LeaseRepo, NoticeRepo

log = logging.getLogger(__name__)

LEASE_NAME: Final = "operator-notices"
LEASE_TTL: Final = timedelta(seconds=120)
PER_RUN: Final = 20  # notices per run; more wait for the next run (the message says so)
INTERVAL_S: Final = 60.0  # the longest wait between runs


def notice_interval(tick_s: float) -> float:
    """How often the notice job runs: five scheduler ticks, between 1 and 60 seconds."""
    return min(INTERVAL_S, max(1.0, 5 * tick_s))


#: Sends one Telegram-HTML message to a chat; raises on failure.
SendHtml = Callable[[int, str], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class NoticeRun:
    """What one run did."""

    sent: int = 0  # notices delivered (and marked seen)
    kept: int = 0  # notices kept for the next run after failed sends


class OperatorNotices:
    """Sends unseen operator notices to the operators' private chats."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        send: SendHtml,
        clock: Clock,
        holder: str,
        limit: int = PER_RUN,
    ) -> None:
        """Wire the job; `send` delivers one HTML message; `holder` names this process."""
        self.db = db
        self.settings = settings
        self.send = send
        self.clock = clock
        self.holder = holder
        self.limit = max(1, limit)

    async def _language(self, chat_id: int) -> str:
        """An operator's interface language (their chat's, else the default)."""
        async with self.db.unit_of_work() as session:
            chat = await ChatRepo(session).get(chat_id)
        return chat.language if chat is not None else self.settings.default_language

    async def _deliver(self, operator: int, texts: list[str]) -> bool:
        """Send the parts to one operator; False (logged) when a send fails."""
        try:
            for text in texts:
                await self.send(operator, text)
        except Exception as exc:
            log.warning("could not send operator notices to %s: %s", operator, exc)
            return False
        return True

    async def run_once(self) -> NoticeRun:
        """Send the oldest unseen notices to every operator; mark them seen once delivered."""
        operators = sorted(self.settings.admin_ids)
        if not operators:
            return NoticeRun()
        now = self.clock()
        async with self.db.unit_of_work() as session:
            if not await LeaseRepo(session).acquire(LEASE_NAME, self.holder, now, LEASE_TTL):
                return NoticeRun()  # another process is sending them
        try:
            async with self.db.unit_of_work() as session:
                repo = NoticeRepo(session)
                notices = await repo.unseen(self.limit)
                waiting = await repo.count_unseen() - len(notices)
            if not notices:
                return NoticeRun()
            delivered = False
            for operator in operators:
                texts = render_notices(await self._language(operator), notices, now, waiting)
                delivered = await self._deliver(operator, texts) or delivered
            if not delivered:
                return NoticeRun(kept=len(notices))
            async with self.db.unit_of_work() as session:
                await NoticeRepo(session).mark_seen([n.id for n in notices])
            return NoticeRun(sent=len(notices))
        finally:
            async with self.db.unit_of_work() as session:
                await LeaseRepo(session).release(LEASE_NAME, self.holder)


def bot_sender(bot: Bot) -> SendHtml:
    """A SendHtml over a PTB bot: HTML, no link previews."""

    async def send(chat_id: int, text: str) -> object:
        """Send one notice message."""
        return await bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    return send


def notices_for(
    bot: Bot, db: Database, settings: Settings, clock: Clock, holder: str
) -> OperatorNotices:
    """The notice job of one process, sending through `bot`."""
    return OperatorNotices(db, settings, bot_sender(bot), clock, holder)
