"""Sending one chat's claimed rows: chat state, quiet hours, folded messages, paced sends.

Quiet hours apply to article rows only (a digest comes at the time the user chose): HOLD
puts them back until the window ends without counting an attempt; DIGEST skips them with
reason ``quiet-digest`` (the digest then covers them). A message that fails is given the
outcome the pure `decide_outcome` picks (a plain-text retry after a 400, a retry, a park
or a block), written by `OutcomeWriter`. A multi-part digest interrupted between parts
resumes after the parts already sent when this process sends it again.

Forum topics: an article message goes into its rows' topic (`Delivery.thread_id`, copied
from the follow), a digest into the chat's digest topic. When Telegram answers that the
topic is closed or deleted, the message is sent again at once without the topic (into
the general topic: nothing is lost), the chat's follows and digest setting forget the
topic, and the group gets one notice about it after the message.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from datetime import datetime

from bot.delivery.claims import Job
from bot.delivery.marks import MarkBuffer
from bot.delivery.messages import DigestComposer, FirstCompose, Message, group_messages
from bot.delivery.outcomes import OutcomeWriter
from bot.delivery.pacing import Pacer
from bot.delivery.sender import Sender
from bot.domain import Chat, ChatType, Clock, Delivery, DeliveryKind, QuietMode
from bot.pipeline.outcomes import (
    Block,
    ComposeFailed,
    Outcome,
    Park,
    PlainFallback,
    Readdress,
    Retry,
    RetryPolicy,
    SendError,
    SendTransient,
    SendUnexpected,
    TopicFallback,
    decide_outcome,
    ends_chat,
)
from bot.pipeline.schedule import in_quiet_hours, quiet_ends_at
from bot.presentation.message import NO_PREVIEW, Keyboard, LinkPreview, Rendered
from bot.presentation.render import render_notice

log = logging.getLogger(__name__)

#: Interrupted digests whose sent parts are remembered (a row retried after its backoff
#: resumes after them); older ones are forgotten, and resend from the first part.
PROGRESS_MAX = 10_000


@dataclass(slots=True)
class WorkerResult:
    """Counts from one worker pass."""

    claimed: int = 0
    messages: int = 0
    sent: int = 0
    folded: int = 0
    retried: int = 0
    held: int = 0
    failed: int = 0
    skipped: int = 0
    released: int = 0
    plain_fallbacks: int = 0
    readdressed: int = 0
    topic_fallbacks: int = 0

    @property
    def progressed(self) -> bool:
        """Whether the pass settled any row (a pass that only gave rows back did not)."""
        settled = self.sent + self.folded + self.retried + self.held + self.failed
        return settled + self.skipped + self.readdressed > 0

    def add(self, other: WorkerResult) -> None:
        """Accumulate another result."""
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def unexpected(exc: Exception) -> SendError:
    """A sender's exception that is no `SendError`, as one (a counted, backed-off attempt)."""
    return SendUnexpected(f"{type(exc).__name__}: {exc}")


class ChatDone(Exception):
    """Stop working on one chat (blocked, or its rows were rescheduled)."""


class Again(enum.Enum):
    """How a failed part is sent once more."""

    PLAIN = "plain"  # as plain text (Telegram rejected the HTML)
    GENERAL = "general"  # into the general topic (the forum topic is closed or gone)


class ChatSender:
    """Delivers one chat's rows at a time (many run at once, one per chat)."""

    def __init__(
        self,
        sender: Sender,
        compose: FirstCompose,
        compose_digest: DigestComposer | None,
        *,
        pacer: Pacer,
        marks: MarkBuffer,
        outcomes: OutcomeWriter,
        retry: RetryPolicy,
        clock: Clock,
        stopping: asyncio.Event,
        send_timeout: float,
    ) -> None:
        """Send through `sender` (each send cut off after `send_timeout` s), pace with
        `pacer`, record with `marks` and `outcomes`."""
        self.sender = sender
        self.compose = compose
        self.compose_digest = compose_digest
        self.pacer = pacer
        self.marks = marks
        self.outcomes = outcomes
        self.retry = retry
        self.clock = clock
        self.stopping = stopping
        self.send_timeout = send_timeout
        self.progress: dict[int, int] = {}  # digest row id -> parts sent, oldest first
        self.gone_topics: set[tuple[int, int]] = set()  # (chat, topic) found closed or gone
        self.topic_notices: set[int] = set()  # chats owed the closed-topic notice

    async def deliver(self, job: Job, result: WorkerResult) -> None:
        """Apply chat state and quiet hours, fold bursts, and send each message in order;
        raises `ChatDone` when the chat's remaining rows were given an outcome early."""
        chat, rows = job.chat, job.rows
        if chat is None or chat.blocked or chat.paused:
            reason = (
                "chat gone" if chat is None else ("chat blocked" if chat.blocked else "chat paused")
            )
            await self.outcomes.skip([x.id for x in rows], reason)
            result.skipped += len(rows)
            return
        article_rows = [r for r in rows if r.kind == DeliveryKind.ARTICLE]
        now = self.clock()
        if article_rows and in_quiet_hours(now, chat.timezone, chat.quiet_start, chat.quiet_end):
            ids = [r.id for r in article_rows]
            if chat.quiet_mode == QuietMode.DIGEST:
                await self.outcomes.skip(ids, "quiet-digest")
                result.skipped += len(ids)
            else:
                until = quiet_ends_at(now, chat.timezone, chat.quiet_start, chat.quiet_end)
                await self.outcomes.hold(ids, until, "quiet-hours")
                result.held += len(ids)
            rows = [r for r in rows if r.kind != DeliveryKind.ARTICLE]
        messages = group_messages(rows, job.articles)
        for index, message in enumerate(messages):
            rest = [r for m in messages[index:] for r in m.rows]
            if self.stopping.is_set() or self.clock() >= job.deadline:
                self.marks.release(r.id for r in rest)
                result.released += len(rest)
                return
            await self._send_message(chat, message, rest, job.deadline, result)

    async def _send_message(
        self,
        chat: Chat,
        message: Message,
        rest: list[Delivery],
        deadline: datetime,
        result: WorkerResult,
    ) -> None:
        """Compose and send one message, then record the outcome of its rows."""
        primary = message.rows[0]
        is_digest = primary.kind == DeliveryKind.DIGEST
        try:
            parts = await self._compose(chat, message)
        except Exception as exc:  # a composer's bug or a failed read: an attempt, not a spin
            log.exception("chat %s: composing delivery %s failed", chat.id, primary.id)
            error = ComposeFailed(f"{type(exc).__name__}: {exc}")
            await self._failed(chat, message, rest, error, False, result)
            return
        if is_digest and not parts:
            await self.outcomes.skip([primary.id], "empty digest")
            result.skipped += 1
            return
        done = self.progress.get(primary.id, 0) if is_digest else 0
        thread = chat.digest_thread_id if is_digest else message.thread_id
        first_id: int | None = None
        for number, part in enumerate(parts):
            if number < done:
                continue
            preview = part.preview if number == 0 else NO_PREVIEW  # the first part only
            sent_id = await self._send_part(
                chat, message, part, rest, deadline, result, (thread, preview)
            )
            if sent_id is None:
                return
            first_id = sent_id if first_id is None else first_id
            if is_digest:
                self._progressed(primary.id, number + 1)
        self.progress.pop(primary.id, None)
        folded = message.ids[1:]
        self.marks.sent(primary.id, first_id, folded, self.clock())
        if self.marks.full:
            await self.marks.flush()
        result.messages += 1
        result.sent += 1
        result.folded += len(folded)
        if chat.id in self.topic_notices:
            await self._topic_notice(chat, deadline)

    def _topic(self, chat_id: int, thread: int | None) -> int | None:
        """The topic to send into: `thread`, unless it was found closed or gone."""
        return None if thread is None or (chat_id, thread) in self.gone_topics else thread

    async def _send_part(
        self,
        chat: Chat,
        message: Message,
        part: Rendered,
        rest: list[Delivery],
        deadline: datetime,
        result: WorkerResult,
        where: tuple[int | None, LinkPreview],
    ) -> int | None:
        """Send one part into its topic with its preview (`where`), once more as plain text
        if Telegram rejects the HTML and into the general topic if the topic is closed;
        None when the message did not go (its outcome is recorded; `ChatDone` when the
        chat is over)."""
        thread, preview = where
        plain = False
        while True:
            topic = self._topic(chat.id, thread)
            try:
                text = part.plain_text if plain else part.text
                return await self._paced_send(
                    chat, part, text, rest, deadline, result, plain, (topic, preview)
                )
            except SendError as exc:
                again = await self._failed(chat, message, rest, exc, plain, result, topic)
                if again is None:
                    return None
                plain = plain or again is Again.PLAIN

    async def _compose(self, chat: Chat, message: Message) -> list[Rendered]:
        """The parts of a message: a digest's (none when empty) or one push."""
        if message.rows[0].kind == DeliveryKind.DIGEST:
            if self.compose_digest is None:
                return []
            return list(await self.compose_digest(chat, message.rows[0]))
        return [await self.compose(chat, message)]

    async def _failed(
        self,
        chat: Chat,
        message: Message,
        rest: list[Delivery],
        error: SendError,
        plain: bool,
        result: WorkerResult,
        topic: int | None = None,
    ) -> Again | None:
        """Record the outcome of a failed message; how it is to be sent again (None: not
        now), `ChatDone` when the chat's later rows were covered too."""
        now = self.clock()
        attempts = message.rows[0].attempts
        outcome = decide_outcome(
            error, attempts, now, plain=plain, thread_id=topic, policy=self.retry
        )
        if isinstance(outcome, Readdress) and outcome.chat_id == chat.id:  # nowhere to move
            failure = SendUnexpected(f"told to move chat {chat.id} to itself")
            outcome = decide_outcome(failure, attempts, now, policy=self.retry)
        if isinstance(outcome, PlainFallback):
            log.warning("chat %s: bad HTML (%s); sending plain text once", chat.id, error)
            result.plain_fallbacks += 1
            return Again.PLAIN
        if isinstance(outcome, TopicFallback):
            await self._topic_gone(chat, outcome)
            result.topic_fallbacks += 1
            return Again.GENERAL
        covered = await self.outcomes.apply(outcome, chat.id, message.ids, [r.id for r in rest])
        self._count(outcome, covered, result)
        if not isinstance(outcome, Retry):  # parked, blocked or moved: never resumed here
            for row in rest if ends_chat(outcome) else message.rows:
                self.progress.pop(row.id, None)
        if ends_chat(outcome):
            raise ChatDone from error
        return None

    async def _topic_gone(self, chat: Chat, outcome: TopicFallback) -> None:
        """Send into the general topic from now on; the chat's follows and digest forget the
        topic, and the group is owed one notice when anything still pointed at it."""
        log.warning(
            "chat %s: topic %s (%s); sending to the general topic",
            chat.id,
            outcome.thread_id,
            outcome.reason,
        )
        if len(self.gone_topics) >= PROGRESS_MAX:
            self.gone_topics.clear()
        self.gone_topics.add((chat.id, outcome.thread_id))
        forgotten = await self.outcomes.forget_topic(chat.id, outcome.thread_id)
        if forgotten.changed:
            self.topic_notices.add(chat.id)

    async def _topic_notice(self, chat: Chat, deadline: datetime) -> None:
        """Tell the group (its admins) once, in the general topic, that a topic was closed or
        deleted and where its news goes now; a failure is logged, never retried."""
        self.topic_notices.discard(chat.id)
        notice = render_notice(chat.language, "topic.gone")
        if await self.pacer.begin(chat.id, chat.type != ChatType.PRIVATE, deadline) is not None:
            log.info("chat %s: no room for the closed-topic notice before the deadline", chat.id)
            return
        try:
            await self._bounded_send(chat.id, notice.text, (), NO_PREVIEW)
        except Exception as exc:  # a notice is best effort: the news itself went out
            log.warning("chat %s: the closed-topic notice failed (%r)", chat.id, exc)
        finally:
            self.pacer.settle()

    async def _bounded_send(
        self,
        chat_id: int,
        text: str,
        buttons: Keyboard,
        preview: LinkPreview | bool,
        *,
        html: bool = True,
        thread_id: int | None = None,
    ) -> int:
        """The sender's send, cut off after `send_timeout` s as a transient fault (whether
        Telegram got it is unknown, as with any timeout), so it ends while the claim holds."""
        try:
            async with asyncio.timeout(self.send_timeout):
                return await self.sender.send(
                    chat_id, text, buttons, preview, html=html, thread_id=thread_id
                )
        except TimeoutError as exc:
            raise SendTransient(f"send took over {self.send_timeout:g} s") from exc

    def _progressed(self, row_id: int, parts: int) -> None:
        """Remember a digest's sent parts; the oldest are forgotten past `PROGRESS_MAX`."""
        self.progress.pop(row_id, None)
        self.progress[row_id] = parts
        while len(self.progress) > PROGRESS_MAX:
            del self.progress[next(iter(self.progress))]

    @staticmethod
    def _count(outcome: Outcome, covered: int, result: WorkerResult) -> None:
        """Add an applied outcome's rows to the pass's counts."""
        if isinstance(outcome, Retry):
            result.retried += covered
        elif isinstance(outcome, Park):
            result.failed += covered
        elif isinstance(outcome, Block):
            result.skipped += covered
        elif isinstance(outcome, Readdress):
            result.readdressed += covered

    async def _paced_send(
        self,
        chat: Chat,
        part: Rendered,
        text: str,
        rest: list[Delivery],
        deadline: datetime,
        result: WorkerResult,
        plain: bool,
        where: tuple[int | None, LinkPreview],
    ) -> int:
        """Wait for room and the pace, send `text` with the part's buttons into topic and
        with preview `where`, and settle the send whatever the answer; raises the sender's
        errors, `ChatDone` when too late."""
        await self.marks.wait_for_room()
        retry_at = await self.pacer.begin(chat.id, chat.type != ChatType.PRIVATE, deadline)
        if retry_at is not None:
            await self.outcomes.hold([r.id for r in rest], retry_at, "rate limit")
            result.retried += len(rest)
            raise ChatDone
        try:
            topic, preview = where
            return await self._bounded_send(
                chat.id, text, part.buttons, preview, html=not plain, thread_id=topic
            )
        except SendError:
            raise
        except Exception as exc:  # a sender fault nothing classified: still an attempt
            log.warning("chat %s: send failed unexpectedly (%r)", chat.id, exc)
            raise unexpected(exc) from exc
        finally:
            self.pacer.settle()
