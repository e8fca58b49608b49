"""Composition root: builds the database, services, PTB application and jobs, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot.allocator import ARENA_MAX, TRIM_SECONDS, cap_malloc_arenas, trim_malloc
from bot.chats import ChatService
from bot.delivery import DeliveryWorker, FanOut, TelegramSender, WorkerTuning
from bot.digests import DigestScheduler
from bot.domain import Clock
from bot.fetch import Fetcher, fetcher_for
from bot.follows import FollowMatcher
from bot.ingest import IngestService
from bot.linker import LinkerTuning, LinkingService
from bot.looplag import settle_startup_heap
from bot.metrics import INGEST_SECONDS, observe_api
from bot.operator_notices import notice_interval, notices_for
from bot.ops_http import Operations
from bot.redact import install_log_redaction, register_secrets
from bot.search import SearchService
from bot.search_index import SearchIndex
from bot.services import Services, system_clock
from bot.settings import Settings
from bot.sources import SourceService
from bot.startup import (
    BotApiReachability,
    PollingErrorLog,
    migrate,
    quiet_network_tracebacks,
    token_origin,
    wait_for_bot_api,
)
from bot.stories import StoryService
from bot.telegram_request import AiohttpRequest
from bot.webhook import start_webhook, webhook_secret
from storage.db import Database
from storage.repos.ops import CallbackTokenRepo, LeaseRepo

log = logging.getLogger("akhbar")

UPDATES_LEASE = "updates"
MAINTENANCE_SECONDS = 3600.0
CHANNEL_CHECK_TICKS = 10  # ticks between re-checks of channels that refused a send (403)


def setup_logging(level: str) -> None:
    """Structured one-line logs; HTTP client chatter (which would print the token) stays quiet."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    install_log_redaction()  # the token (and webhook secret) never reach a log line
    for noisy in (
        "httpx",
        "httpcore",
        "aiohttp.access",
        "telegram.ext.Updater",
        "alembic.runtime.plugins",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: still running" is expected


async def build_services(
    settings: Settings,
    db: Database,
    *,
    fetcher: Fetcher | None = None,
    clock: Clock = system_clock,
) -> Services:
    """Create every service over one database and load their in-memory state."""
    fetcher = fetcher or fetcher_for(settings)
    stories = StoryService(db, now=clock)
    follows = FollowMatcher(db)
    services = Services(
        settings=settings,
        db=db,
        chats=ChatService(db, settings, clock),
        search=SearchService(db, index=SearchIndex(db, settings.search_index_dir)),
        stories=stories,
        sources=SourceService(db, fetcher, settings),
        ingest=IngestService(db, fetcher, stories, settings, clock),
        follows=follows,
        clock=clock,
    )
    await stories.load()
    await follows.reload()
    return services


@dataclass
class Engines:
    """The background machinery of one process: fan-out, sending and digests."""

    fanout: FanOut
    worker: DeliveryWorker
    digests: DigestScheduler
    wake: asyncio.Event = field(default_factory=asyncio.Event)


def build_engines(services: Services, application: Application) -> Engines:  # type: ignore[type-arg]
    """Wire fan-out, the delivery worker and the digest scheduler to the Telegram bot."""
    settings = services.settings
    digests = DigestScheduler(
        services.db,
        services.digests.build,
        build_many=services.digests.build_many,
        clock=services.clock,
    )
    worker = DeliveryWorker(
        services.db,
        TelegramSender(application.bot),
        services.pushes.compose,
        compose_digest=digests.compose,
        prepare=services.pushes.prepare,
        holder=services.instance,
        max_per_second=settings.max_messages_per_second,
        clock=services.clock,
        tuning=WorkerTuning(lease_seconds=settings.lease_seconds),
    )
    fanout = FanOut(services.db, services.follows.match, holder=services.instance)
    return Engines(fanout=fanout, worker=worker, digests=digests)


def build_application(
    settings: Settings, services: Services, *, fast_transport: bool = True
) -> Application:  # type: ignore[type-arg]
    """The PTB application with our handlers, pointed at TELEGRAM_API_URL."""
    from handlers.context import install_services
    from handlers.setup import register

    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token or "")
        .base_url(settings.telegram_api_url)
        .base_file_url(file_url_for(settings.telegram_api_url))
    )
    if fast_transport:
        reachability = BotApiReachability(settings.telegram_api_url)

        def observe(method: str, outcome: str) -> None:
            """Count the call and note whether the Bot API could be reached."""
            observe_api(method, outcome)
            reachability(method, outcome)

        builder = builder.request(
            AiohttpRequest(connection_pool_size=128, on_response=observe)
        ).get_updates_request(
            AiohttpRequest(connection_pool_size=2, read_timeout=40.0, on_response=observe)
        )
    application = builder.build()
    install_services(application, services)
    register(application)
    return application


def file_url_for(api_url: str) -> str:
    """The file download base beside a Bot API base: ".../bot" → ".../file/bot"."""
    if api_url.endswith("/bot"):
        return api_url[: -len("/bot")] + "/file/bot"
    return "https://api.telegram.org/file/bot"


async def _refresh_follows(services: Services) -> None:
    """Pick up keyword follows made by other processes."""
    await services.follows.refresh()


async def ingest_tick(services: Services, engines: Engines) -> None:
    """Poll due sources, then fan out new articles and enqueue due digests."""
    try:
        report = await services.ingest.poll_due(services.instance)
        if report.new:
            log.info(
                "ingested new=%d updated=%d failed=%d", report.new, report.updated, report.failed
            )
        await _refresh_follows(services)
        fanned = await engines.fanout.run_until_idle()
        queued = await engines.digests.run_until_idle()
        if fanned.enqueued or queued.enqueued:
            engines.wake.set()
    except Exception:
        log.exception("scheduler tick failed")


async def maintenance(services: Services) -> None:
    """Close quiet stories and forget old button tokens."""
    try:
        await services.stories.close_quiet()
        async with services.db.unit_of_work() as session:
            await CallbackTokenRepo(session).prune(services.clock() - timedelta(days=30))
    except Exception:
        log.exception("maintenance failed")


DELIVERY_BACKOFF_CAP = 30.0  # seconds between passes after repeated failures (database down)


def failure_backoff(failures: int, tick: float, cap: float = DELIVERY_BACKOFF_CAP) -> float:
    """Seconds to wait after `failures` passes in a row failed: the tick, doubling, capped."""
    return float(min(cap, tick * 2 ** max(0, failures - 1)))


async def delivery_loop(engines: Engines, tick: float, stopping: asyncio.Event) -> None:
    """Send due deliveries continuously; sleep until woken or the next tick when a pass
    settled no row (idle, or every claimed row was given back), so it never spins; after
    failed passes (the database unreachable) wait longer each time, whatever wakes it."""
    failures = 0
    while not stopping.is_set():
        try:
            result = await engines.worker.run_once()
        except Exception as exc:
            failures += 1
            wait = failure_backoff(failures, tick)
            log.warning("delivery pass failed (%d in a row); next try in %.1f s", failures, wait)
            if failures == 1:
                log.error("delivery pass failed", exc_info=exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=wait)
            continue
        if failures:
            log.info("delivery resumed after %d failed passes", failures)
            failures = 0
        if result.progressed:
            continue
        engines.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(engines.wake.wait(), timeout=tick)


class ReceiverAction(StrEnum):
    """What the update receiver does after looking at its lease."""

    START = "start"  # begin long polling (the lease was already ours one step ago)
    WARM = "warm"  # the lease is newly ours: wait one step before polling
    KEEP = "keep"  # go on as we are
    STOP = "stop"  # stop long polling: the lease is another's, or ours may have expired
    IDLE = "idle"  # not ours: do nothing


def receiver_action(
    held: bool | None, polling: bool, warming: bool, now: float, valid_until: float
) -> ReceiverAction:
    """Decide the receiver's next move; `held` None means the renewal has not answered.

    A lease counts only up to `valid_until`, even when a renewal said it is ours: a renewal
    that answered late may have written an expiry that has passed already.
    """
    if polling:
        if held is False or now >= valid_until:
            return ReceiverAction.STOP
        return ReceiverAction.KEEP
    if held and now < valid_until:
        return ReceiverAction.START if warming else ReceiverAction.WARM
    return ReceiverAction.IDLE


def lease_margin(ttl: float) -> float:
    """How long before the lease's expiry an unrenewed holder stops polling."""
    return min(ttl / 4, 5.0)


def receiver_interval(ttl: float) -> float:
    """Seconds between lease renewals (three tries per lease)."""
    return max(1.0, ttl / 3)


class UpdateReceiver:
    """Long polling by exactly one process at a time, chosen through a database lease.

    The holder renews the lease every `receiver_interval`; a renewal that fails or does not
    answer in time (a stalled database or a starved connection pool) does not stop polling
    at once, but polling stops as soon as the lease may have run out by this process's own
    clock (`lease_margin` before its expiry), so a process that took the lease over never
    polls while the old holder still does. A newly taken lease waits one step before
    polling, leaving the old holder time to confirm the updates it fetched.
    """

    def __init__(
        self,
        services: Services,
        application: Application,  # type: ignore[type-arg]
        *,
        monotonic: Callable[[], float] = time.monotonic,
        polling_errors: Callable[[TelegramError], None] | None = None,
    ) -> None:
        """Bind to the application whose updater we start and stop."""
        self.services = services
        self.application = application
        self.monotonic = monotonic
        self.ttl = services.settings.lease_seconds
        self.interval = receiver_interval(self.ttl)
        self.polling = False
        self.warming = False
        self.valid_until = 0.0  # monotonic time up to which our lease is surely ours
        self._renewal: tuple[float, asyncio.Task[bool]] | None = None
        self.polling_errors = polling_errors  # PTB's error callback while long polling

    async def _acquire(self) -> bool:
        """Take or renew the updates lease in its own unit of work."""
        ttl = timedelta(seconds=self.ttl)
        async with self.services.db.unit_of_work() as session:
            return await LeaseRepo(session).acquire(
                UPDATES_LEASE, self.services.instance, self.services.clock(), ttl
            )

    async def _renew(self) -> bool | None:
        """Wait a little for the current renewal (started if none runs); None: no answer yet."""
        if self._renewal is None:
            self._renewal = (self.monotonic(), asyncio.create_task(self._acquire()))
        started, task = self._renewal
        patience = self.interval / 2
        if self.polling:  # never past the moment our lease may run out
            patience = min(patience, max(0.0, self.valid_until - self.monotonic()))
        await asyncio.wait({task}, timeout=patience)
        if not task.done():
            log.warning("lease renewal has not answered for %.1f s", self.monotonic() - started)
            return None
        self._renewal = None
        if task.exception() is not None:
            log.error("lease renewal failed", exc_info=task.exception())
            return None
        held = task.result()
        if held:
            self.valid_until = started + self.ttl - lease_margin(self.ttl)
        return held

    async def step(self) -> None:
        """Renew or take the lease, then start or stop polling as `receiver_action` says."""
        held = await self._renew()
        action = receiver_action(
            held, self.polling, self.warming, self.monotonic(), self.valid_until
        )
        try:
            await self._apply(action)
        except Exception:
            log.exception("update receiver step failed (%s)", action)

    async def _apply(self, action: ReceiverAction) -> None:
        """Carry out one decision."""
        updater = self.application.updater
        self.warming = action is ReceiverAction.WARM
        if updater is None:
            return
        if action is ReceiverAction.START:
            if not updater.running:
                await updater.start_polling(
                    allowed_updates=Update.ALL_TYPES, error_callback=self.polling_errors
                )
            self.polling = True
            await self._set_menus()
            log.info("this process now receives updates")
        elif action is ReceiverAction.STOP:
            self.polling = False
            if updater.running:
                await updater.stop()
            log.info("this process stopped receiving updates")

    def next_wait(self) -> float:
        """Seconds until the next step: the interval, or sooner when our lease runs out."""
        if not self.polling:
            return self.interval
        return max(0.05, min(self.interval, self.valid_until - self.monotonic()))

    async def _set_menus(self) -> None:
        """Publish the command menus in both languages (once we are the receiver)."""
        from handlers.setup import set_command_menus

        try:
            await set_command_menus(self.application.bot, self.services.settings.admin_ids)
        except Exception:
            log.exception("setMyCommands failed")

    async def release(self) -> None:
        """Stop polling and give the lease up so another process can take over at once."""
        updater = self.application.updater
        if self.polling and updater is not None and updater.running:
            await updater.stop()
        self.polling = False
        if self._renewal is not None:  # a late renewal must not re-take the lease
            task = self._renewal[1]
            await asyncio.wait({task}, timeout=self.interval)
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            self._renewal = None
        async with self.services.db.unit_of_work() as session:
            await LeaseRepo(session).release(UPDATES_LEASE, self.services.instance)


def _install_signal_handlers(stopping: asyncio.Event) -> None:
    """SIGTERM and SIGINT ask for a clean stop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Event loops without signal support (Windows' proactor, or a loop outside the main
        # thread) raise here; such a process stops on KeyboardInterrupt/cancellation instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)


def _schedule_jobs(application: Application, services: Services, engines: Engines) -> None:  # type: ignore[type-arg]
    """Register the repeating jobs with PTB's JobQueue (APScheduler)."""
    queue = application.job_queue
    if queue is None:
        raise RuntimeError("python-telegram-bot was installed without the job-queue extra")
    tick = services.settings.tick_seconds

    async def on_tick(_: ContextTypes.DEFAULT_TYPE) -> None:
        """One scheduler tick."""
        with INGEST_SECONDS.time():
            await ingest_tick(services, engines)

    async def on_maintenance(_: ContextTypes.DEFAULT_TYPE) -> None:
        """Hourly housekeeping."""
        await maintenance(services)

    queue.run_repeating(
        on_tick,
        interval=tick,
        first=0.0,
        name="tick",
        job_kwargs={"max_instances": 1, "coalesce": True},
    )
    queue.run_repeating(
        on_maintenance, interval=MAINTENANCE_SECONDS, first=60.0, name="maintenance"
    )

    async def on_trim(_: ContextTypes.DEFAULT_TYPE) -> None:
        """Hand memory freed in malloc's arenas back to the system (bot.allocator)."""
        await asyncio.to_thread(trim_malloc)

    queue.run_repeating(on_trim, interval=TRIM_SECONDS, first=TRIM_SECONDS, name="malloc-trim")
    notices = notices_for(
        application.bot, services.db, services.settings, services.clock, services.instance
    )

    async def on_notices(_: ContextTypes.DEFAULT_TYPE) -> None:
        """Send unseen operator notices to the operators (coalesced, kept on failure)."""
        try:
            await notices.run_once()
        except Exception:
            log.exception("operator notices failed")

    every = notice_interval(tick)
    queue.run_repeating(on_notices, interval=every, first=every, name="notices")

    async def on_channels(_: ContextTypes.DEFAULT_TYPE) -> None:
        """Connected channels that refused a send (403): re-check, disconnect, tell admins."""
        from handlers.channels import sweep_lost_channels

        try:
            await sweep_lost_channels(application.bot, services)
        except Exception:
            log.exception("channel check failed")

    every = CHANNEL_CHECK_TICKS * tick
    queue.run_repeating(on_channels, interval=every, first=every, name="channels")


async def _reach_bot_api(
    application: Application,  # type: ignore[type-arg]
    services: Services,
    engines: Engines,
    stopping: asyncio.Event,
) -> bool:
    """Wait for the Bot API, polling sources meanwhile; on any way out but success, close all."""
    settings = services.settings
    reached = False
    try:
        reached = await wait_for_bot_api(
            application.bot,
            api_url=settings.telegram_api_url,
            token_origin=token_origin(),
            stopping=stopping,
            retries=settings.startup_retries,
            max_backoff=settings.startup_max_backoff,
            while_waiting=functools.partial(ingest_tick, services, engines),
            work_every=settings.tick_seconds,
        )
    finally:
        if not reached:
            await application.bot.shutdown()
            await services.ingest.fetcher.aclose()
            await services.db.dispose()
    if not reached:
        log.info("stopped before the Telegram Bot API answered")
    return reached


async def run_bot(settings: Settings, *, webhook: bool = False) -> None:
    """Run one bot process until SIGTERM/SIGINT; every step is safe to repeat after a crash."""
    setup_logging(settings.log_level)
    if cap_malloc_arenas():  # before the threads: memory freed in them returns (bot.allocator)
        log.debug("malloc arenas capped at %d", ARENA_MAX)
    quiet_network_tracebacks()  # PTB's own logs of an unreachable Bot API: one line each
    register_secrets([settings.telegram_bot_token, settings.webhook_secret])
    await migrate(settings.database_url)  # one line, not a traceback, if it cannot be opened
    db = Database(settings.database_url)
    services = await build_services(settings, db)
    application = build_application(settings, services)
    engines = build_engines(services, application)
    log.info("start-up heap frozen (%d objects)", settle_startup_heap())
    stopping = asyncio.Event()
    _install_signal_handlers(stopping)
    receiver = UpdateReceiver(
        services, application, polling_errors=PollingErrorLog(settings.telegram_api_url)
    )
    if not await _reach_bot_api(application, services, engines, stopping):
        return
    await application.initialize()
    await application.start()
    _schedule_jobs(application, services, engines)
    linking = LinkingService(
        db,
        settings.encoder,
        clock=services.clock,
        tuning=LinkerTuning(batch=settings.link_batch),
        holder=services.instance,
    )
    linking.start()  # the encoder loads in its worker process; the bot answers meanwhile
    services.search.start()  # the database answers searches until the index has caught up
    sender_task = asyncio.create_task(delivery_loop(engines, settings.tick_seconds, stopping))
    log.info("akhbar running as %s", services.instance)
    ops = Operations(db, services.instance, port=settings.ops_port, listen=settings.ops_listen)
    try:
        await ops.start()
        if webhook:
            await start_webhook(application, settings, await webhook_secret(db, settings))
        while not stopping.is_set():
            wait = receiver.interval
            if not webhook:
                await receiver.step()
                wait = receiver.next_wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=wait)
    finally:
        log.info("stopping")
        stopping.set()
        engines.wake.set()
        with contextlib.suppress(Exception):
            await receiver.release()
        if webhook and application.updater is not None and application.updater.running:
            await application.updater.stop()
        await engines.worker.stop()
        sender_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender_task
        await application.stop()
        await application.shutdown()
        await ops.stop()
        await linking.close()
        await services.search.close()
        await services.ingest.fetcher.aclose()
        await db.dispose()
