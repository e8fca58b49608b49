"""Operations surface of one bot process: loop-lag monitor, `/healthz` and `/metrics`.

`Operations` starts the loop-lag monitor, publishes its figures to the database every
`publish_s` (so `akhbar status` shows them), and, when `AKHBAR_OPS_PORT` is set, serves on
`AKHBAR_OPS_LISTEN` (127.0.0.1 by default):

* ``GET /healthz`` — JSON: database reachable, loop lag, last successful poll, outbox
  depth; 200 while the database answers, 503 when it does not.
* ``GET /metrics`` — Prometheus text format (`bot.metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from bot import metrics
from bot.looplag import LagStats, LoopLagMonitor, publication, state_name
from bot.redact import redact
from storage.db import Database
from storage.repos.health import HealthRepo
from storage.repos.state import AppStateRepo

log = logging.getLogger("akhbar.ops")

PUBLISH_S: Final = 15.0
DB_TIMEOUT_S: Final = 2.0
ERROR_CHARS: Final = 300


@dataclass(frozen=True, slots=True)
class Health:
    """What /healthz reports."""

    database: bool
    loop: LagStats
    last_successful_poll: datetime | None = None
    outbox: dict[str, int] | None = None
    sources: dict[str, int] | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON body of /healthz."""
        return {
            "status": "ok" if self.database else "unavailable",
            "database": "ok" if self.database else f"unreachable: {self.error}",
            "loop_lag_ms": {
                "p50": round(self.loop.p50_ms, 1),
                "p99": round(self.loop.p99_ms, 1),
                "max": round(self.loop.max_ms, 1),
                "stalls": self.loop.stalls,
            },
            "last_successful_poll": (
                self.last_successful_poll.isoformat() if self.last_successful_poll else None
            ),
            "outbox": self.outbox,
            "sources": self.sources,
        }


class Operations:
    """The monitor, the publisher and the optional ops HTTP server of one process."""

    def __init__(
        self,
        db: Database,
        instance: str,
        *,
        port: int | None = None,
        listen: str = "127.0.0.1",
        monitor: LoopLagMonitor | None = None,
        publish_s: float = PUBLISH_S,
    ) -> None:
        """Configure; nothing runs before `start`. `port` None: no HTTP server."""
        self.db = db
        self.instance = instance
        self.port = port
        self.listen = listen
        self.monitor = monitor or LoopLagMonitor()
        self.publish_s = publish_s
        self._collector = metrics.LoopLagCollector(self.monitor)
        self._runner: web.AppRunner | None = None
        self._publisher: asyncio.Task[None] | None = None
        self.bound_port: int | None = None

    async def health(self) -> Health:
        """Read every figure; a database failure is reported, never raised."""
        loop = self.monitor.stats()
        try:
            async with asyncio.timeout(DB_TIMEOUT_S), self.db.unit_of_work() as session:
                repo = HealthRepo(session)
                await repo.ping()
                outbox = await repo.outbox()
                sources = await repo.source_health()
                last = await repo.last_successful_poll()
        except Exception as exc:
            reason = redact(f"{type(exc).__name__}: {exc}")[:ERROR_CHARS]
            return Health(database=False, loop=loop, error=reason)
        metrics.set_database_figures(outbox, sources, last)
        return Health(True, loop, last, outbox, sources)

    async def _healthz(self, _request: web.Request) -> web.Response:
        """GET /healthz."""
        health = await self.health()
        return web.json_response(health.to_json(), status=200 if health.database else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        """GET /metrics (database figures refreshed first)."""
        await self.health()
        return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})

    async def publish(self) -> None:
        """Store this process's loop-lag figures for `akhbar status`."""
        async with self.db.unit_of_work() as session:
            await AppStateRepo(session).put(
                state_name(self.instance), publication(self.monitor.stats())
            )

    async def _publish_forever(self) -> None:
        """Publish every `publish_s`; a failure is logged and retried next time."""
        while True:
            await asyncio.sleep(self.publish_s)
            try:
                await self.publish()
            except Exception as exc:
                log.warning("could not publish loop lag: %s", exc)

    async def start(self) -> None:
        """Start the monitor, the publisher and (with a port) the HTTP server."""
        self.monitor.start()
        with contextlib.suppress(ValueError):  # already registered by an earlier start
            metrics.REGISTRY.register(self._collector)
        self._publisher = asyncio.create_task(self._publish_forever(), name="looplag-publish")
        if self.port is None:
            return
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.listen, self.port)
        await site.start()
        addresses = self._runner.addresses
        self.bound_port = int(addresses[0][1]) if addresses else self.port
        log.info("ops endpoints on http://%s:%d (/healthz, /metrics)", self.listen, self.bound_port)

    async def stop(self) -> None:
        """Stop everything `start` began."""
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._publisher = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        with contextlib.suppress(KeyError):
            metrics.REGISTRY.unregister(self._collector)
        await self.monitor.stop()
