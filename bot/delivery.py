"""Delivery: fan-out of new articles into the outbox, and the worker that sends it.

`FanOut` turns each new article (claimed through `articles.fanned_out` in one
transaction) into at most one outbox row per chat. `DeliveryWorker` claims due rows with a
lease, folds a chat's burst of one story into one message, paces sends with
`bot.pipeline.limits.RateLimiter`, honours quiet hours, and maps Telegram faults into
retries, plain-text fallbacks, blocked chats and parked failures.

Design choices:
- Digest-only follows create no instant row: the digest builder reads the chat's follows
  over the last 24 h. A chat with an instant follow and a digest-only follow matching the
  same article gets the instant push.
- Muted follows and paused or blocked chats create no row.
- A syndicated copy (``duplicate_of`` set) is enqueued as SKIPPED ("duplicate") for chats
  that already got the original; for chats whose original is still pending it is enqueued
  with the original's story, so the worker sends both in one message and the composer
  renders "also: Source B". Chats that never got the original get the copy as a push.
- Quiet hours (article rows only; a digest comes at the time the user chose): HOLD puts the
  row back until the window ends, without counting an attempt; DIGEST skips it with reason
  ``quiet-digest`` (the digest then covers it).

Outcome writes are batched: the SENT/FOLDED marks of concurrent sends (and the rows given
back at a lease deadline) are collected in memory and written in one transaction every
``flush_interval`` seconds, or as soon as ``flush_rows`` sent messages are waiting, and
always at the end of each pass and on `DeliveryWorker.stop`. One commit per flush instead
of one per message keeps SQLite's single writer free at 1,000 msg/s.

Repeat bound after ``kill -9``: only a message that Telegram accepted but whose mark had
not committed can be sent again, after its lease (``lease_seconds``) expires and another
pass retakes the row. A send only starts while fewer than ``flush_rows`` sent messages are
unrecorded, and at most ``max_in_flight`` sends run at once, so one killed process repeats
at most ``max_in_flight + flush_rows`` messages (`DeliveryWorker.repeat_bound`; 64 + 100 =
164 with the defaults), plus, for a multi-part digest interrupted between parts, the parts
already sent.

Claims are sized from the measured send rate: each claim takes about what the worker
achieved per second times ``batch_seconds`` (at most the budget allows and ``batch``), so
rows are rarely claimed only to be released at the lease deadline. No send begins after
the deadline (a quarter lease, at most 10 s, before the lease ends; checked right before
each send): the chat's remaining rows go back to pending a second later, and outcome writes
only touch rows the worker still holds, so a worker that stalls past its lease can neither
send a row another claim took nor undo that claim's outcome. A pass runs ``max_in_flight``
senders over a queue of chats and claims the next batch when about ``refill_seconds`` of
sends are left, so sending never stops between batches. Every claim first refreshes this
process's share of the budget (the budget is split among the live sending processes).

Sending goes straight to the Bot API's sendMessage through the bot's request object
(`TelegramSender`), with PTB's own answer handling, so the hot path builds no PTB objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple, Protocol

from bot.domain import (
    Article,
    Chat,
    ChatType,
    Delivery,
    DeliveryKind,
    DeliveryMode,
    DeliveryState,
    Follow,
    FollowKind,
    QuietMode,
)
from bot.pipeline.limits import RateLimiter
from bot.pipeline.schedule import in_quiet_hours, quiet_ends_at
from bot.settings import DEFAULT_MESSAGES_PER_SECOND, TELEGRAM_BULK_PER_SECOND
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo, NewDelivery
from storage.repos.ops import LeaseRepo

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.request import RequestData

log = logging.getLogger(__name__)

WARMED_MAX = 4096  # composer warm-up keys remembered within one pass
# The wait reported when a send may no longer begin (the claim's deadline has passed or
# the worker is stopping): the chat's rows go back to pending this far ahead.
TOO_LATE_WAIT = 1.0
# Each sending process keeps a lease named SENDER_LEASE + its holder; the budget is split
# evenly among the live ones, renewed and re-counted at claims, at most every SHARE_EVERY_S.
SENDER_LEASE = "sender:"
SHARE_EVERY_S = 5.0


# ---------------------------------------------------------------- sending protocol


class ButtonLike(Protocol):
    """An inline button as rendering produces it (e.g. handlers.render.Button)."""

    @property
    def text(self) -> str:
        """The label."""
        ...

    @property
    def data(self) -> str | None:
        """Callback data, if a callback button."""
        ...

    @property
    def url(self) -> str | None:
        """The link, if a URL button."""
        ...


Buttons = Sequence[Sequence[ButtonLike]]


class Outgoing(NamedTuple):
    """One message to send: HTML text, its plain-text fallback, buttons and the preview switch."""

    html_text: str
    plain_text: str
    buttons: Buttons = ()
    disable_preview: bool = True


class SendError(Exception):
    """Base of the typed send failures a `Sender` raises."""


class SendRetryAfter(SendError):
    """429: wait `seconds`, for this chat or (`is_global`) for every chat."""

    def __init__(self, seconds: float, is_global: bool = False) -> None:
        """Keep the wait and its scope."""
        super().__init__(f"retry after {seconds}s ({'global' if is_global else 'chat'})")
        self.seconds = float(seconds)
        self.is_global = is_global


class SendForbidden(SendError):
    """403 or chat gone: the bot was blocked or kicked, or the chat does not exist."""


class SendBadContent(SendError):
    """400 the message itself is bad (e.g. "can't parse entities")."""


class SendTransient(SendError):
    """Timeouts, network errors, 5xx: worth retrying later."""


class Sender(Protocol):
    """Sends one message and returns its Telegram message id, raising `SendError` subclasses."""

    async def send(
        self,
        chat_id: int,
        text: str,
        buttons: Buttons,
        disable_preview: bool,
        *,
        html: bool = True,
    ) -> int:
        """Send `text` (Telegram HTML when `html`, else plain) to a chat."""
        ...


Composer = Callable[[Chat, Sequence[Delivery], Sequence[Article]], Awaitable[Outgoing]]
DigestComposer = Callable[[Chat, Delivery], Awaitable[Sequence[Outgoing]]]
KeywordMatcher = Callable[[Article], Iterable[int]]
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def loop_time() -> float:
    """Monotonic seconds of the running event loop (for rate measurement)."""
    return asyncio.get_running_loop().time()


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


_TAG_RE = re.compile(r"<[^>]*>")


def strip_tags(text: str) -> str:
    """Telegram HTML → plain text (tags dropped, entities decoded)."""
    return html.unescape(_TAG_RE.sub("", text))


class TelegramSender:
    """A `Sender` over a python-telegram-bot `Bot`, mapping its errors to `SendError`s.

    The hot path posts sendMessage through the bot's request object (`BaseRequest.post`)
    with the parameters built here, skipping `Bot.send_message`'s defaults, object
    building and `Message` parsing; status codes still go through PTB's own error mapping,
    so 429/403/400/timeouts raise the same PTB errors as before.
    """

    def __init__(self, bot: Bot, *, retry_after_is_global: bool = False) -> None:
        """Wrap a bot; Telegram does not say whether a 429 is global, so choose here."""
        self.bot = bot
        self.retry_after_is_global = retry_after_is_global

    async def send(
        self,
        chat_id: int,
        text: str,
        buttons: Buttons,
        disable_preview: bool,
        *,
        html: bool = True,
    ) -> int:
        """Send one message (sendMessage) and return its id."""
        from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

        try:
            answer = await self.bot.request.post(
                f"{self.bot.base_url}/sendMessage",
                send_message_data(chat_id, text, buttons, disable_preview, html=html),
            )
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            raise SendRetryAfter(seconds, self.retry_after_is_global) from exc
        except Forbidden as exc:
            raise SendForbidden(str(exc)) from exc
        except BadRequest as exc:
            lowered = str(exc).lower()
            if "chat not found" in lowered or "kicked" in lowered or "deactivated" in lowered:
                raise SendForbidden(str(exc)) from exc
            raise SendBadContent(str(exc)) from exc
        except (TimedOut, NetworkError) as exc:
            raise SendTransient(str(exc)) from exc
        if not isinstance(answer, dict) or "message_id" not in answer:
            raise SendTransient(f"unexpected sendMessage answer: {answer!r}"[:300])
        return int(answer["message_id"])


def keyboard_markup(buttons: Buttons) -> dict[str, object] | None:
    """Rendered buttons → Telegram's InlineKeyboardMarkup as JSON data (None when empty)."""
    rows = [
        [
            {"text": b.text, "url": b.url}
            if b.url
            else {"text": b.text, "callback_data": b.data or ""}
            for b in row
        ]
        for row in buttons
        if row
    ]
    return {"inline_keyboard": rows} if rows else None


def send_message_data(
    chat_id: int, text: str, buttons: Buttons, disable_preview: bool, *, html: bool
) -> RequestData:
    """The sendMessage parameters, as `Bot.send_message` would send them."""
    # RequestParameter is PTB's own parameter encoding, from a private module: PTB is
    # pinned below 23 and tests/test_delivery_sender.py checks the parameters match what
    # Bot.send_message sends.
    from telegram.request import RequestData
    from telegram.request._requestparameter import RequestParameter

    params = [RequestParameter("chat_id", chat_id, None), RequestParameter("text", text, None)]
    if html:
        params.append(RequestParameter("parse_mode", "HTML", None))
    markup = keyboard_markup(buttons)
    if markup is not None:
        params.append(RequestParameter("reply_markup", markup, None))
    params.append(RequestParameter("link_preview_options", {"is_disabled": disable_preview}, None))
    return RequestData(params)


# ---------------------------------------------------------------- fan-out


@dataclass(frozen=True, slots=True)
class FanOutResult:
    """What one fan-out pass did."""

    articles: int = 0
    enqueued: int = 0


def _chosen_follow(follows: Sequence[Follow]) -> Follow | None:
    """The follow a push is attributed to: an instant story follow first, else any instant one."""
    instant = [f for f in follows if f.mode == DeliveryMode.INSTANT and not f.muted]
    instant.sort(key=lambda f: (f.kind != FollowKind.STORY, f.id))
    return instant[0] if instant else None


class FanOut:
    """Enqueues the deliveries owed for new articles, exactly once per chat and article."""

    def __init__(
        self,
        db: Database,
        match_keywords: KeywordMatcher | None = None,
        *,
        holder: str = "fanout",
        batch: int = 50,
        clock: Clock = utc_now,
    ) -> None:
        """Use `db`; `match_keywords(article)` returns the ids of keyword follows it matches."""
        self.db = db
        self.match_keywords = match_keywords
        self.holder = holder
        self.batch = batch
        self.clock = clock

    async def run_once(self) -> FanOutResult:
        """Fan out one batch of new articles in one transaction (a crash redoes it whole)."""
        async with self.db.unit_of_work() as session:
            repo = DeliveryRepo(session)
            articles = await repo.claim_fanout(self.batch, self.holder)
            enqueued = 0
            for article in articles:
                enqueued += await self._fan_out(repo, FollowRepo(session), article)
            await repo.mark_fanned_out([a.id for a in articles])
        if articles:
            log.info("fan-out: %d articles, %d deliveries", len(articles), enqueued)
        return FanOutResult(len(articles), enqueued)

    async def run_until_idle(self, max_batches: int = 1000) -> FanOutResult:
        """Repeat `run_once` until nothing is left (or `max_batches`)."""
        total_a = total_e = 0
        for _ in range(max_batches):
            result = await self.run_once()
            total_a += result.articles
            total_e += result.enqueued
            if result.articles == 0:
                break
        return FanOutResult(total_a, total_e)

    async def _follows_for(
        self, repo: DeliveryRepo, follows: FollowRepo, article: Article
    ) -> list[Follow]:
        """Unmuted story and keyword follows that match an article."""
        found: list[Follow] = []
        if article.story_id is not None:
            found.extend(await follows.story_followers(article.story_id))
        if self.match_keywords is not None:
            ids = set(self.match_keywords(article))
            if ids:
                found.extend(f for f in await repo.follows_by_ids(ids) if not f.muted)
        return found

    async def _fan_out(self, repo: DeliveryRepo, follows: FollowRepo, article: Article) -> int:
        """Enqueue one article for every chat that should get it."""
        by_chat: dict[int, list[Follow]] = {}
        muted: set[int] = set()
        if article.story_id is not None:
            muted = await follows.muted_story_chats(article.story_id)
        for follow in await self._follows_for(repo, follows, article):
            if follow.chat_id not in muted:
                by_chat.setdefault(follow.chat_id, []).append(follow)
        chosen = {c: f for c, fs in by_chat.items() if (f := _chosen_follow(fs)) is not None}
        if not chosen:
            return 0
        chats = await repo.chats_by_ids(chosen)
        live = [c for c in chosen if c in chats and not chats[c].paused and not chats[c].blocked]
        originals: dict[int, tuple[DeliveryState, int | None]] = {}
        if article.duplicate_of is not None and live:
            originals = await repo.states_for_article(article.duplicate_of, live)
        rows = [self._row(article, chosen[c], originals.get(c)) for c in live]
        return await repo.enqueue_many(rows, self.clock())

    @staticmethod
    def _row(
        article: Article, follow: Follow, original: tuple[DeliveryState, int | None] | None
    ) -> NewDelivery:
        """The outbox row for one chat (a copy of something already delivered is skipped)."""
        story_id = article.story_id
        state, note = DeliveryState.PENDING, None
        if original is not None:
            orig_state, orig_story = original
            if orig_state in (DeliveryState.PENDING, DeliveryState.CLAIMED):
                story_id = orig_story if orig_story is not None else story_id
            else:
                state, note = DeliveryState.SKIPPED, "duplicate"
        return NewDelivery(
            chat_id=follow.chat_id,
            kind=DeliveryKind.ARTICLE,
            article_id=article.id,
            story_id=story_id,
            follow_id=follow.id,
            state=state,
            note=note,
        )


# ---------------------------------------------------------------- worker


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

    def add(self, other: WorkerResult) -> None:
        """Accumulate another result."""
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class _Message:
    """One message to send for a chat: its rows (first = the one recorded as sent)."""

    rows: list[Delivery]
    articles: list[Article] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        """All row ids."""
        return [r.id for r in self.rows]


@dataclass(slots=True)
class _Marks:
    """Outcomes waiting for the next flush."""

    sent: list[tuple[int, int | None, datetime]] = field(default_factory=list)
    folded: list[tuple[int, int, datetime]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        """Whether anything is waiting."""
        return bool(self.sent or self.folded or self.released)

    def merge(self, other: _Marks) -> None:
        """Put back marks whose flush failed (they are retried at the next flush)."""
        self.sent.extend(other.sent)
        self.folded.extend(other.folded)
        self.released.extend(other.released)

    async def write(self, repo: DeliveryRepo, holder: str) -> None:
        """Write every mark in the caller's transaction."""
        await repo.mark_sent_many(self.sent)
        await repo.mark_folded_many(self.folded)
        if self.released:
            await repo.release(holder, self.released)


def window_ceiling(max_per_second: float) -> float:
    """The most sends any 1 s window at Telegram may hold: the budget plus the default's room.

    The default budget (29) sits 1/29 under Telegram's bulk limit (30) and its windows are
    capped at exactly that limit; a raised budget (paid broadcasts) gets the same relative
    room (1,000 → 1,034). Sends stay evenly spaced at the budget while their answers are on
    the way (the cap only binds once answers take longer than about 1/29 s), and a budget
    set like the default, 1/30 under what Telegram allows, never overfills Telegram's window.
    """
    with_room = max_per_second * TELEGRAM_BULK_PER_SECOND / DEFAULT_MESSAGES_PER_SECOND
    return max(TELEGRAM_BULK_PER_SECOND, with_room)


class _ChatDone(Exception):
    """Stop working on one chat (blocked, or its rows were rescheduled)."""


@dataclass(slots=True)
class _Job:
    """One chat's claimed rows, with what sending them needs."""

    chat: Chat | None
    chat_id: int
    rows: list[Delivery]
    articles: dict[int, Article]
    deadline: datetime


ClaimJobs = Callable[[], Awaitable[tuple[int, int, list[_Job]]]]


class _Refill:
    """Claims the next batch into a pass's queue while its senders are still busy."""

    def __init__(
        self,
        claim: ClaimJobs,
        queue: deque[_Job],
        low_water: int,
        result: WorkerResult,
        stopping: asyncio.Event,
    ) -> None:
        """Refill `queue` through `claim` whenever it holds `low_water` chats or fewer."""
        self.claim = claim
        self.queue = queue
        self.low_water = low_water
        self.result = result
        self.stopping = stopping
        self.exhausted = False  # a claim found nothing (or failed): no more this pass
        self.task: asyncio.Task[None] | None = None

    def maybe_start(self) -> None:
        """Start a claim if the queue is low and none is running."""
        if self.task is not None or self.exhausted or len(self.queue) > self.low_water:
            return
        if self.stopping.is_set():
            self.exhausted = True
            return
        self.task = asyncio.create_task(self._claim())

    async def _claim(self) -> None:
        """Claim one batch and queue its chats; nothing found ends the refills."""
        try:
            claimed, _, jobs = await self.claim()
        except Exception:
            log.exception("claiming more deliveries failed; finishing the pass")
            claimed, jobs = 0, []
        self.result.claimed += claimed
        self.queue.extend(jobs)
        self.exhausted = self.exhausted or not jobs
        self.task = None

    async def wait(self) -> bool:
        """With the queue empty: wait for (or start) a claim; False when nothing more comes."""
        self.maybe_start()
        task = self.task
        if task is None:
            return bool(self.queue)
        await asyncio.shield(task)
        return True

    async def finish(self) -> None:
        """Wait for a claim still running (its rows are then queued but unsent: released)."""
        self.exhausted = True
        if self.task is not None:
            await asyncio.shield(self.task)


class DeliveryWorker:
    """Claims due outbox rows and sends them, many chats at once, within Telegram's limits."""

    def __init__(
        self,
        db: Database,
        sender: Sender,
        compose: Composer,
        *,
        compose_digest: DigestComposer | None = None,
        holder: str = "worker",
        max_per_second: float = DEFAULT_MESSAGES_PER_SECOND,
        limiter: RateLimiter | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        lease_seconds: float = 60.0,
        batch: int = 1000,
        max_in_flight: int = 64,
        max_attempts: int = 5,
        backoff_base: float = 2.0,
        backoff_cap: float = 900.0,
        flush_interval: float = 0.05,
        flush_rows: int = 100,
        batch_seconds: float = 5.0,
        refill_seconds: float = 1.0,
    ) -> None:
        """Wire the sender, composers, limits and clock (all injectable for tests)."""
        self.db = db
        self.sender = sender
        self.compose = compose
        self.compose_digest = compose_digest
        self.holder = holder
        self.limiter = limiter or RateLimiter(
            max_per_second, ceiling=window_ceiling(max_per_second)
        )
        self.max_per_second = max_per_second
        self.share = max_per_second  # this process's part of the budget (see _share_budget)
        self._shared_at: datetime | None = None
        self.clock = clock
        self.sleep = sleep
        self.lease = timedelta(seconds=lease_seconds)
        self.batch = batch
        self.max_in_flight = max_in_flight
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self._gate = asyncio.Lock()  # one sender at a time waits for the global pace
        self._stopping = asyncio.Event()
        self._digest_progress: dict[int, int] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.flush_interval = flush_interval
        self.flush_rows = max(1, flush_rows)
        self.batch_seconds = batch_seconds
        self.refill_seconds = refill_seconds
        self._marks = _Marks()
        self._flushing = 0  # sent messages inside the flush now committing
        self._flush_lock = asyncio.Lock()
        self._flushed = asyncio.Event()  # set (and replaced) when a flush ends
        self._warm: dict[tuple[int, ...], asyncio.Lock] = {}
        self._warmed: set[tuple[int, ...]] = set()
        self._live: set[int] = set()  # ids of rows in this process's unfinished jobs
        self._rate: float | None = None  # measured messages per second (moving average)

    @property
    def repeat_bound(self) -> int:
        """Most messages one ``kill -9`` of this worker's process can make repeat."""
        return self.max_in_flight + self.flush_rows

    def claim_size(self) -> int:
        """Rows to claim next: the measured rate over one batch horizon, within the budget."""
        horizon = min(self.lease.total_seconds() / 2, self.batch_seconds)
        cap = max(1, min(self.batch, int(self.share * horizon)))
        if self._rate is None:
            return cap  # nothing measured yet: assume the budget is reachable
        return max(1, min(cap, max(self.max_in_flight, int(self._rate * horizon))))

    def _measure(self, claimed: int, limit: int, messages: int, seconds: float) -> None:
        """Fold one pass's rate into the estimate (only full passes tell the achievable rate)."""
        if claimed < limit or messages == 0 or seconds <= 0:
            return
        rate = messages / seconds
        self._rate = rate if self._rate is None else (self._rate + rate) / 2

    # -- public

    async def run_once(self) -> WorkerResult:
        """Claim due rows and deliver them, claiming more while sending; returns what happened.

        A pass runs `max_in_flight` senders over a queue of chats. When the queue runs low
        (about `refill_seconds` of sends left) the next batch is claimed while the senders
        go on, so sending does not pause between batches; the pass ends when a claim finds
        nothing due and the queue is empty, or when the worker stops.
        """
        result = WorkerResult()
        if self._stopping.is_set():
            return result
        self._idle.clear()
        try:
            claimed, limit, jobs = await self._claim_jobs()
            result.claimed = claimed
            if not jobs:
                return result
            started = loop_time()
            queue = deque(jobs)
            refill = _Refill(self._claim_jobs, queue, self._low_water(), result, self._stopping)
            done = asyncio.Event()
            flusher = asyncio.create_task(self._flush_periodically(done))
            try:
                # Every sender from the start: refills may bring far more chats than the
                # first claim did (an idle sender waits on the refill, then stops).
                senders = self.max_in_flight
                await asyncio.gather(
                    *(self._run_jobs(queue, refill, result) for _ in range(senders))
                )
            finally:
                await refill.finish()
                for job in queue:  # left when a sender failed or was cancelled: give back
                    self._marks.released.extend(r.id for r in job.rows)
                    self._live.difference_update(r.id for r in job.rows)
                done.set()
                await flusher
                await self._flush()
            self._warm.clear()
            self._warmed.clear()
            self._measure(claimed, limit, result.messages, loop_time() - started)
            return result
        finally:
            self._idle.set()

    async def _share_budget(self) -> None:
        """Keep this process's sender lease and send at its share of the budget.

        The budget (`AKHBAR_MAX_MESSAGES_PER_SECOND`) is for the whole bot: with several
        processes on one database each one sends at budget / live senders, so together
        they stay within what Telegram allows. A dead process's lease expires after one
        lease period, and the others take back its share.
        """
        now = self.clock()
        every = min(timedelta(seconds=SHARE_EVERY_S), self.lease / 4)
        if self._shared_at is not None and now - self._shared_at < every:
            return
        self._shared_at = now
        async with self.db.unit_of_work() as session:
            leases = LeaseRepo(session)
            await leases.acquire(SENDER_LEASE + self.holder, self.holder, now, self.lease)
            live = max(1, await leases.count_live(SENDER_LEASE, now))
        share = self.max_per_second / live
        if share != self.share:
            log.info("sending at %.4g msg/s: 1/%d of the budget", share, live)
            self.share = share
            self.limiter.retune(share, window_ceiling(self.max_per_second) / live)

    def _low_water(self) -> int:
        """Queued chats below which the next batch is claimed (about `refill_seconds` of sends)."""
        return max(self.max_in_flight, int(self.share * self.refill_seconds))

    async def _claim_jobs(self) -> tuple[int, int, list[_Job]]:
        """Claim due rows and group them by chat: (rows claimed, rows asked for, jobs).

        Every claim (the first of a pass and each refill) first refreshes this process's
        share of the budget, so a long pass adapts when processes come and go.
        """
        await self._share_budget()
        now = self.clock()
        limit = self.claim_size()
        async with self.db.unit_of_work() as session:
            claimed = await DeliveryRepo(session).claim(now, self.holder, now + self.lease, limit)
        if not claimed:
            return 0, limit, []
        deadline = now + self.lease - min(self.lease / 4, timedelta(seconds=10))
        by_chat: dict[int, list[Delivery]] = {}
        for row in claimed:
            if row.id in self._live:
                # Still in one of this process's jobs (its claim ran out while queued):
                # that job sends it or gives it back; a second job could send it twice.
                continue
            by_chat.setdefault(row.chat_id, []).append(row)
        if not by_chat:
            return 0, limit, []
        async with self.db.unit_of_work() as session:
            chats = await DeliveryRepo(session).chats_by_ids(by_chat)
            article_ids = [r.article_id for r in claimed if r.article_id is not None]
            articles = {a.id: a for a in await ArticleRepo(session).get_many(article_ids)}
        if len(self._warmed) > WARMED_MAX:
            self._warmed.clear()
            self._warm = {k: lock for k, lock in self._warm.items() if lock.locked()}
        jobs = [_Job(chats.get(c), c, rows, articles, deadline) for c, rows in by_chat.items()]
        queued = [r.id for rows in by_chat.values() for r in rows]
        self._live.update(queued)  # only once the jobs exist: a failed read leaves none
        return len(queued), limit, jobs

    async def _run_jobs(self, queue: deque[_Job], refill: _Refill, result: WorkerResult) -> None:
        """One sender: deliver queued chats one at a time until the queue stays empty."""
        while True:
            if not queue:
                if not await refill.wait():
                    return
                continue
            job = queue.popleft()
            refill.maybe_start()
            try:
                result.add(
                    await self._guarded(job.chat, job.chat_id, job.rows, job.articles, job.deadline)
                )
            finally:
                self._live.difference_update(r.id for r in job.rows)

    async def _flush_periodically(self, done: asyncio.Event) -> None:
        """Flush the waiting marks every `flush_interval` seconds until `done`."""
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=self.flush_interval)
            try:
                await self._flush()
            except Exception:
                log.exception("flushing delivery outcomes failed; retrying at the next flush")

    async def _flush(self) -> None:
        """Write every waiting mark in one transaction (kept for the next flush on failure)."""
        async with self._flush_lock:
            marks, self._marks = self._marks, _Marks()
            if not marks:
                return
            self._flushing = len(marks.sent)
            try:
                async with self.db.unit_of_work() as session:
                    await marks.write(DeliveryRepo(session), self.holder)
            except BaseException:
                marks.merge(self._marks)
                self._marks = marks
                raise
            finally:
                self._flushing = 0
                ended, self._flushed = self._flushed, asyncio.Event()
                ended.set()

    async def _wait_for_room(self) -> None:
        """Hold a new send while `flush_rows` sent messages are unrecorded (the repeat bound)."""
        while len(self._marks.sent) + self._flushing >= self.flush_rows:
            if self._flush_lock.locked():
                await self._flushed.wait()  # one flush for every waiting sender
            else:
                await self._flush()

    async def run_until_idle(self, max_batches: int = 1000) -> WorkerResult:
        """Repeat `run_once` until a pass claims nothing (or `max_batches`)."""
        total = WorkerResult()
        for _ in range(max_batches):
            result = await self.run_once()
            total.add(result)
            if result.claimed == 0:
                break
        return total

    async def stop(self) -> int:
        """Stop sending new messages, wait for in-flight sends, and release unsent claims."""
        self._stopping.set()
        await self._idle.wait()
        await self._flush()
        async with self.db.unit_of_work() as session:
            released = await DeliveryRepo(session).release(self.holder)
            await LeaseRepo(session).release(SENDER_LEASE + self.holder, self.holder)
        log.info("delivery worker %s stopped; released %d rows", self.holder, released)
        return released

    # -- per chat

    async def _guarded(
        self,
        chat: Chat | None,
        chat_id: int,
        rows: list[Delivery],
        articles: dict[int, Article],
        deadline: datetime,
    ) -> WorkerResult:
        """Deliver one chat's rows under the in-flight semaphore; never raises."""
        result = WorkerResult()
        async with self._semaphore:
            try:
                await self._deliver_chat(chat, chat_id, rows, articles, deadline, result)
            except _ChatDone:
                pass
            except Exception:
                log.exception("delivery to chat failed unexpectedly; releasing its rows")
                # Released at the next flush, after the marks of anything already sent
                # (release only touches rows still claimed).
                self._marks.released.extend(r.id for r in rows)
        return result

    async def _deliver_chat(
        self,
        chat: Chat | None,
        chat_id: int,
        rows: list[Delivery],
        articles: dict[int, Article],
        deadline: datetime,
        result: WorkerResult,
    ) -> None:
        """Apply chat state and quiet hours, fold bursts, and send each message in order."""
        holder = self.holder
        if chat is None or chat.blocked or chat.paused:
            reason = (
                "chat gone" if chat is None else ("chat blocked" if chat.blocked else "chat paused")
            )
            await self._write(lambda r: r.skip_many([x.id for x in rows], reason, holder=holder))
            result.skipped += len(rows)
            return
        article_rows = [r for r in rows if r.kind == DeliveryKind.ARTICLE]
        now = self.clock()
        if article_rows and in_quiet_hours(now, chat.timezone, chat.quiet_start, chat.quiet_end):
            ids = [r.id for r in article_rows]
            if chat.quiet_mode == QuietMode.DIGEST:
                await self._write(lambda r: r.skip_many(ids, "quiet-digest", holder=holder))
                result.skipped += len(ids)
            else:
                until = quiet_ends_at(now, chat.timezone, chat.quiet_start, chat.quiet_end)
                await self._write(
                    lambda r: r.retry_many(ids, until, "quiet-hours", count=False, holder=holder)
                )
                result.held += len(ids)
            rows = [r for r in rows if r.kind != DeliveryKind.ARTICLE]
        messages = _group(rows, articles)
        for index, message in enumerate(messages):
            rest = [r for m in messages[index:] for r in m.rows]
            if self._stopping.is_set() or self.clock() >= deadline:
                await self._release(rest)
                result.released += len(rest)
                return
            await self._send_message(chat, message, rest, deadline, result)

    async def _send_message(
        self,
        chat: Chat,
        message: _Message,
        rest: list[Delivery],
        deadline: datetime,
        result: WorkerResult,
    ) -> None:
        """Compose and send one message, then record the outcome of its rows."""
        primary = message.rows[0]
        if primary.kind == DeliveryKind.DIGEST:
            parts = list(await self.compose_digest(chat, primary)) if self.compose_digest else []
            if not parts:
                await self._write(lambda r: r.skip(primary.id, "empty digest", holder=self.holder))
                result.skipped += 1
                return
        else:
            parts = [await self._compose(chat, message)]
        done = (
            self._digest_progress.get(primary.id, 0) if primary.kind == DeliveryKind.DIGEST else 0
        )
        first_id: int | None = None
        for number, part in enumerate(parts):
            if number < done:
                continue
            sent_id = await self._send_part(chat, message, part, rest, deadline, result)
            if sent_id is None:
                return
            first_id = sent_id if first_id is None else first_id
            if primary.kind == DeliveryKind.DIGEST:
                self._digest_progress[primary.id] = number + 1
        self._digest_progress.pop(primary.id, None)
        when = self.clock()
        folded = message.ids[1:]
        self._marks.sent.append((primary.id, first_id, when))
        self._marks.folded.extend((row_id, primary.id, when) for row_id in folded)
        if len(self._marks.sent) >= self.flush_rows and not self._flush_lock.locked():
            await self._flush()
        result.messages += 1
        result.sent += 1
        result.folded += len(folded)

    async def _compose(self, chat: Chat, message: _Message) -> Outgoing:
        """Compose a push; the first one for a set of articles goes alone.

        Composers cache per article (story, related items), so letting one task fill the
        cache before the other chats of the batch compose the same articles saves each of
        them the same database reads.
        """
        key = tuple(sorted(a.id for a in message.articles))
        if key in self._warmed:
            return await self.compose(chat, message.rows, message.articles)
        async with self._warm.setdefault(key, asyncio.Lock()):
            outgoing = await self.compose(chat, message.rows, message.articles)
            self._warmed.add(key)
            return outgoing

    async def _send_part(
        self,
        chat: Chat,
        message: _Message,
        part: Outgoing,
        rest: list[Delivery],
        deadline: datetime,
        result: WorkerResult,
    ) -> int | None:
        """Send one part with pacing and fault handling; None when the message did not go."""
        try:
            return await self._paced_send(chat, part, part.html_text, rest, deadline, result)
        except SendBadContent as exc:
            log.warning("chat %s: bad HTML (%s); sending plain text once", chat.id, exc)
            return await self._send_plain(chat, message, part, rest, deadline, result)
        except SendError as exc:
            await self._on_error(chat, message, rest, exc, result)
            return None

    async def _send_plain(
        self,
        chat: Chat,
        message: _Message,
        part: Outgoing,
        rest: list[Delivery],
        deadline: datetime,
        result: WorkerResult,
    ) -> int | None:
        """The single plain-text retry after a 400; a second 400 parks the message."""
        plain = part.plain_text or strip_tags(part.html_text)
        result.plain_fallbacks += 1
        try:
            return await self._paced_send(chat, part, plain, rest, deadline, result, html=False)
        except SendBadContent as exc:
            error = f"bad content: {exc}"
            await self._write(
                lambda r: r.park_many(message.ids, error, self.clock(), holder=self.holder)
            )
            result.failed += len(message.rows)
            return None
        except SendError as exc:
            await self._on_error(chat, message, rest, exc, result)
            return None

    async def _paced_send(
        self,
        chat: Chat,
        part: Outgoing,
        text: str,
        rest: list[Delivery],
        deadline: datetime,
        result: WorkerResult,
        *,
        html: bool = True,
    ) -> int:
        """Wait for room and the rate limiter, send `text` with the part's buttons, and
        settle the send in the limiter whatever the answer; raises the sender's errors."""
        await self._wait_for_room()
        await self._pace(chat, rest, deadline, result)
        try:
            return await self.sender.send(
                chat.id, text, part.buttons, part.disable_preview, html=html
            )
        finally:
            self.limiter.settle(self.clock().timestamp())

    async def _pace(
        self, chat: Chat, rest: list[Delivery], deadline: datetime, result: WorkerResult
    ) -> None:
        """Wait for the rate limiter; reschedule the chat's rows if the wait outlasts the lease.

        Per-chat waits are slept alone; the global pace is waited for behind `_gate`, one
        sender at a time in arrival order, so each send costs one timed wait instead of
        every sender waking for every free slot.
        """
        is_group = chat.type != ChatType.PRIVATE
        while True:
            now = self.clock()
            wait = self.limiter.chat_wait(chat.id, is_group, now.timestamp())
            if wait <= 0:
                async with self._gate:
                    now, wait = await self._begin_in_turn(chat.id, is_group, deadline)
                if wait <= 0:
                    return
            if now + timedelta(seconds=wait) >= deadline or self._stopping.is_set():
                await self._reschedule(rest, now + timedelta(seconds=wait), "rate limit")
                result.retried += len(rest)
                raise _ChatDone
            await self.sleep(wait)

    async def _begin_in_turn(
        self, chat_id: int, is_group: bool, deadline: datetime
    ) -> tuple[datetime, float]:
        """Holding the gate: wait out global limits and begin the send; (now, 0.0) when begun.

        Returns the wait instead when a per-chat limit binds (slept outside the gate) or
        when it would outlast the deadline or the worker is stopping.
        """
        while True:
            now = self.clock()
            if now >= deadline or self._stopping.is_set():
                # Checked here, right before a send begins: the claim may run out while a
                # sender waits for the gate, and a row must not go out once another claim
                # may have taken it.
                return now, TOO_LATE_WAIT
            stamp = now.timestamp()
            wait = self.limiter.begin(chat_id, is_group, stamp)
            if wait <= 0:
                return now, 0.0
            if self.limiter.chat_wait(chat_id, is_group, stamp) > 0:
                return now, wait
            if now + timedelta(seconds=wait) >= deadline or self._stopping.is_set():
                return now, wait
            await self.sleep(wait)

    async def _release(self, rows: list[Delivery]) -> None:
        """Give rows back as pending at the next flush (stopping, or the lease runs out)."""
        self._marks.released.extend(r.id for r in rows)

    async def _reschedule(self, rows: list[Delivery], at: datetime, reason: str) -> None:
        """Put rows back to pending until `at` without counting an attempt."""
        ids = [r.id for r in rows]
        await self._write(lambda r: r.retry_many(ids, at, reason, count=False, holder=self.holder))

    async def _on_error(
        self,
        chat: Chat,
        message: _Message,
        rest: list[Delivery],
        exc: SendError,
        result: WorkerResult,
    ) -> None:
        """Map a send failure to its outcome; raises `_ChatDone` when the chat must stop."""
        now = self.clock()
        if isinstance(exc, SendRetryAfter):
            until = now + timedelta(seconds=max(exc.seconds, 0.0))
            if exc.is_global:
                self.limiter.block_global(until.timestamp())
            else:
                self.limiter.block_chat(chat.id, until.timestamp())
            ids = [r.id for r in rest]
            await self._write(
                lambda r: r.retry_many(ids, until, str(exc), count=False, holder=self.holder)
            )
            result.retried += len(ids)
            raise _ChatDone
        if isinstance(exc, SendForbidden):
            log.info("chat %s blocked the bot or is gone; stopping its deliveries", chat.id)

            async def block(repo: DeliveryRepo) -> None:
                """Mark the chat blocked and skip everything it is still owed."""
                await ChatRepo(repo.session).update(chat.id, blocked=True)
                await repo.skip_chat(chat.id, f"blocked: {exc}")

            await self._write(block)
            result.skipped += len(rest)
            raise _ChatDone
        attempts = message.rows[0].attempts + 1
        if attempts >= self.max_attempts:
            await self._write(
                lambda r: r.park_many(message.ids, f"transient: {exc}", now, holder=self.holder)
            )
            result.failed += len(message.rows)
            return
        delay = min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1))
        at = now + timedelta(seconds=delay)
        await self._write(
            lambda r: r.retry_many(message.ids, at, f"transient: {exc}", holder=self.holder)
        )
        result.retried += len(message.rows)

    async def _write(self, action: Callable[[DeliveryRepo], Awaitable[object]]) -> None:
        """Run one repository write in its own transaction."""
        async with self.db.unit_of_work() as session:
            await action(DeliveryRepo(session))


def _group(rows: Sequence[Delivery], articles: dict[int, Article]) -> list[_Message]:
    """Fold a chat's article rows by story into one message each; digests stay alone."""
    messages: list[_Message] = []
    by_story: dict[int, _Message] = {}
    for row in sorted(rows, key=lambda r: r.id):
        if row.kind == DeliveryKind.DIGEST:
            messages.append(_Message([row]))
            continue
        article = articles.get(row.article_id) if row.article_id is not None else None
        if row.story_id is not None and row.story_id in by_story:
            target = by_story[row.story_id]
            target.rows.append(row)
        else:
            target = _Message([row])
            messages.append(target)
            if row.story_id is not None:
                by_story[row.story_id] = target
        if article is not None:
            target.articles.append(article)
    return messages
