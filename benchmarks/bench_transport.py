"""CPU ms per sendMessage and msgs/s: PTB's HTTPXRequest vs AiohttpRequest.

Three levels: ``bot`` (PTB's `Bot.send_message`), ``sender`` (the delivery worker's
`TelegramSender.send`, which posts through the request object with buttons and the preview
switch) and ``transport`` (`BaseRequest.post` with a prebuilt RequestData).

The fake Bot API runs in its own process (zero latency) so the client's CPU time is
measured alone. Run from the repository root::

    .venv/bin/python benchmarks/bench_transport.py [--messages 3000] [--concurrency 1 64]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Bot
from telegram.request import BaseRequest, HTTPXRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from bot.delivery import TelegramSender
from bot.telegram_request import AiohttpRequest
from tests.fakebotapi import ControlClient, spawn

TOKEN = "123456:BENCH"
BODY = "Dock workers stayed out as talks with the port authority stalled. " * 6


@dataclass(frozen=True)
class _Button:
    """A rendered callback button."""

    text: str
    data: str
    url: str | None = None


Factory = Callable[[int], BaseRequest]
TRANSPORTS: dict[str, Factory] = {
    "httpx": lambda pool: HTTPXRequest(connection_pool_size=pool, pool_timeout=30),
    "aiohttp": lambda pool: AiohttpRequest(connection_pool_size=pool, pool_timeout=30),
}


async def _run(
    send: Callable[[int], object], messages: int, concurrency: int
) -> tuple[float, float]:
    """Send ``messages`` with ``concurrency`` workers; return (cpu ms per msg, msgs/s)."""
    counter = iter(range(messages))

    async def worker() -> None:
        """Send until the shared counter runs out."""
        for i in counter:
            await send(i)  # type: ignore[misc]

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu * 1000 / messages, messages / wall


async def bench_bot(
    base_url: str, factory: Factory, messages: int, concurrency: int
) -> tuple[float, float]:
    """Full PTB path: Bot.send_message (serialising, parsing the Message)."""
    async with Bot(TOKEN, base_url=base_url, request=factory(concurrency)) as bot:
        await _run(lambda i: bot.send_message(1000 + i % 500, f"warm {i}"), 200, concurrency)
        return await _run(
            lambda i: bot.send_message(1000 + i % 500, f"news item {i}"), messages, concurrency
        )


async def bench_sender(
    base_url: str, factory: Factory, messages: int, concurrency: int
) -> tuple[float, float]:
    """The delivery worker's send: TelegramSender.send with one button row."""
    buttons = [[_Button("Follow", "fs:1"), _Button("Mute", "mu:1")]]
    async with Bot(TOKEN, base_url=base_url, request=factory(concurrency)) as bot:
        sender = TelegramSender(bot)

        def send(i: int) -> object:
            """One push-sized HTML message."""
            return sender.send(1000 + i % 500, f"<b>news item {i}</b> {BODY}", buttons, True)

        await _run(send, 200, concurrency)
        return await _run(send, messages, concurrency)


async def bench_transport(
    base_url: str, factory: Factory, messages: int, concurrency: int
) -> tuple[float, float]:
    """Transport only: BaseRequest.post with a prebuilt RequestData."""
    request = factory(concurrency)
    await request.initialize()
    url = f"{base_url}{TOKEN}/sendMessage"

    def send(i: int) -> object:
        """One sendMessage post."""
        data = RequestData(
            [
                RequestParameter("chat_id", 1000 + i % 500, None),
                RequestParameter("text", f"n{i}", None),
            ]
        )
        return request.post(url, data)

    try:
        await _run(send, 200, concurrency)
        return await _run(send, messages, concurrency)
    finally:
        await request.shutdown()


def main() -> None:
    """Run every (level, transport, concurrency) combination and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--transports", nargs="+", default=list(TRANSPORTS), choices=TRANSPORTS)
    args = parser.parse_args()
    with spawn() as control:
        print(f"{'level':<10}{'transport':<10}{'conc':>5}{'cpu ms/msg':>12}{'msgs/s':>10}")
        levels = (("bot", bench_bot), ("sender", bench_sender), ("transport", bench_transport))
        for level, bench in levels:
            for concurrency in args.concurrency:
                for name in args.transports:
                    factory = TRANSPORTS[name]
                    cpu_ms, rate = asyncio.run(
                        bench(control.base_url, factory, args.messages, concurrency)
                    )
                    print(f"{level:<10}{name:<10}{concurrency:>5}{cpu_ms:>12.3f}{rate:>10.0f}")
        _report(control)


def _report(control: ControlClient) -> None:
    """Sanity line: what the fake recorded."""
    stats = control.stats()
    print(f"fake recorded {stats['sent']} sends, {stats['count_429']} 429s")


if __name__ == "__main__":
    main()
