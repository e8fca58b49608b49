"""Composition root: builds the database, services, PTB application and jobs, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from dataclasses import dataclass, field
from datetime import timedelta

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot.chats import ChatService
from bot.delivery import DeliveryWorker, FanOut, TelegramSender
from bot.digests import DigestScheduler
from bot.fetch import Fetcher, fetcher_for
from bot.follows import FollowMatcher
from bot.ingest import IngestService
from bot.search import SearchService
from bot.services import Clock, Services, system_clock
from bot.settings import Settings
from bot.sources import SourceService
from bot.stories import StoryService
from bot.telegram_request import AiohttpRequest
from storage.db import Database
from storage.migrate import upgrade_async
from storage.repos.ops import CallbackTokenRepo, LeaseRepo

log = logging.getLogger("akhbar")

UPDATES_LEASE = "updates"
MAINTENANCE_SECONDS = 3600.0


def setup_logging(level: str) -> None:
    """Structured one-line logs; HTTP client chatter (which would print the token) stays quiet."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    for noisy in ("httpx", "httpcore", "aiohttp.access", "telegram.ext.Updater"):
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
        search=SearchService(db),
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
    from handlers.compose import build_digest, compose_push

    settings = services.settings
    digests = DigestScheduler(
        services.db, functools.partial(build_digest, services), clock=services.clock
    )
    worker = DeliveryWorker(
        services.db,
        TelegramSender(application.bot),
        functools.partial(compose_push, services),
        compose_digest=digests.compose,
        holder=services.instance,
        max_per_second=settings.max_messages_per_second,
        clock=services.clock,
        lease_seconds=settings.lease_seconds,
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
    )
    if fast_transport:
        builder = builder.request(AiohttpRequest(connection_pool_size=128)).get_updates_request(
            AiohttpRequest(connection_pool_size=2, read_timeout=40.0)
        )
    application = builder.build()
    install_services(application, services)
    register(application)
    return application


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


async def delivery_loop(engines: Engines, tick: float, stopping: asyncio.Event) -> None:
    """Send due deliveries continuously; sleep until woken or the next tick when idle."""
    while not stopping.is_set():
        try:
            result = await engines.worker.run_once()
            busy = result.claimed > 0
        except Exception:
            log.exception("delivery batch failed")
            busy = False
        if busy:
            continue
        engines.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(engines.wake.wait(), timeout=tick)


class UpdateReceiver:
    """Long polling by exactly one process at a time, chosen through a database lease."""

    def __init__(self, services: Services, application: Application) -> None:  # type: ignore[type-arg]
        """Bind to the application whose updater we start and stop."""
        self.services = services
        self.application = application
        self.polling = False
        self.warming = False

    async def step(self) -> None:
        """Renew or take the lease; poll only while we hold it (after one quiet step when new)."""
        ttl = timedelta(seconds=self.services.settings.lease_seconds)
        try:
            async with self.services.db.unit_of_work() as session:
                held = await LeaseRepo(session).acquire(
                    UPDATES_LEASE, self.services.instance, self.services.clock(), ttl
                )
        except Exception:
            log.exception("lease renewal failed")
            held = False
        updater = self.application.updater
        if updater is None:
            return
        if held and not self.polling:
            # A lease just taken over may still have its old holder polling until that
            # process notices; wait one step so two getUpdates calls rarely overlap.
            if not self.warming:
                self.warming = True
                return
            self.warming = False
            await updater.start_polling(allowed_updates=Update.ALL_TYPES)
            self.polling = True
            await self._set_menus()
            log.info("this process now receives updates")
        elif not held:
            self.warming = False
            if self.polling:
                await updater.stop()
                self.polling = False
                log.info("another process receives updates now")

    async def _set_menus(self) -> None:
        """Publish the command menus in both languages (once we are the receiver)."""
        from handlers.setup import set_command_menus

        try:
            await set_command_menus(self.application.bot, self.services.settings.admin_ids)
        except Exception:
            log.exception("setMyCommands failed")

    async def release(self) -> None:
        """Stop polling and give the lease up so another process can take over at once."""
        if self.polling and self.application.updater is not None:
            await self.application.updater.stop()
            self.polling = False
        async with self.services.db.unit_of_work() as session:
            await LeaseRepo(session).release(UPDATES_LEASE, self.services.instance)


def _install_signal_handlers(stopping: asyncio.Event) -> None:
    """SIGTERM and SIGINT ask for a clean stop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
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


async def run_bot(settings: Settings, *, webhook: bool = False) -> None:
    """Run one bot process until SIGTERM/SIGINT; every step is safe to repeat after a crash."""
    setup_logging(settings.log_level)
    await upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    services = await build_services(settings, db)
    application = build_application(settings, services)
    engines = build_engines(services, application)
    stopping = asyncio.Event()
    _install_signal_handlers(stopping)
    receiver = UpdateReceiver(services, application)
    await application.initialize()
    await application.start()
    _schedule_jobs(application, services, engines)
    sender_task = asyncio.create_task(delivery_loop(engines, settings.tick_seconds, stopping))
    log.info("akhbar running as %s", services.instance)
    try:
        if webhook:
            await _start_webhook(application, settings)
        while not stopping.is_set():
            if not webhook:
                await receiver.step()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stopping.wait(), timeout=max(1.0, settings.lease_seconds / 3)
                )
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
        await services.ingest.fetcher.aclose()
        await db.dispose()


async def _start_webhook(application: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    """Receive updates through PTB's webhook server with a secret token."""
    if application.updater is None or not settings.webhook_url:
        raise RuntimeError("webhook mode needs AKHBAR_WEBHOOK_URL")
    await application.updater.start_webhook(
        listen="0.0.0.0",
        port=settings.webhook_port,
        url_path="telegram",
        webhook_url=settings.webhook_url.rstrip("/") + "/telegram",
        secret_token=settings.webhook_secret,
        allowed_updates=Update.ALL_TYPES,
    )
