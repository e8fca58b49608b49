"""Fetcher behaviour against local servers on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.fetch import (
    USER_AGENT,
    Fetcher,
    FetchLimits,
    ThreadedResolver,
    is_public_address,
    parse_max_age,
    parse_retry_after,
)

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # ~64 KiB -> 64 MiB


class State:
    """Counters shared between handlers and tests."""

    active = 0
    peak = 0


async def feed(request: web.Request) -> web.Response:
    """Serve a feed with validators; answer 304 when they match."""
    assert request.headers["User-Agent"] == USER_AGENT
    if request.headers.get("If-None-Match") == '"v1"':
        return web.Response(status=304, headers={"ETag": '"v1"'})
    return web.Response(
        body=FEED,
        headers={
            "ETag": '"v1"',
            "Last-Modified": "Wed, 01 May 2024 10:00:00 GMT",
            "Cache-Control": "public, max-age=600",
            "Content-Type": "application/rss+xml",
        },
    )


async def bomb(request: web.Request) -> web.Response:
    """Serve a gzip bomb."""
    return web.Response(body=BOMB, headers={"Content-Encoding": "gzip"})


async def gz(request: web.Request) -> web.Response:
    """Serve a small gzip body."""
    return web.Response(body=gzip.compress(FEED), headers={"Content-Encoding": "gzip"})


async def slow(request: web.Request) -> web.StreamResponse:
    """Dribble one byte per second."""
    response = web.StreamResponse()
    await response.prepare(request)
    for _ in range(60):
        await response.write(b"x")
        await asyncio.sleep(1)
    return response


async def loop_redirect(request: web.Request) -> web.Response:
    """Redirect between two URLs forever."""
    target = "/loop-b" if request.path == "/loop-a" else "/loop-a"
    raise web.HTTPFound(target)


async def chain(request: web.Request) -> web.Response:
    """Redirect n times, then serve the feed."""
    n = int(request.match_info["n"])
    if n == 0:
        return web.Response(body=FEED)
    raise web.HTTPMovedPermanently(f"/chain/{n - 1}")


async def busy(request: web.Request) -> web.Response:
    """Answer 503 with Retry-After."""
    return web.Response(status=503, headers={"Retry-After": "120"})


async def counted(request: web.Request) -> web.Response:
    """Track how many requests run at once."""
    State.active += 1
    State.peak = max(State.peak, State.active)
    await asyncio.sleep(0.05)
    State.active -= 1
    return web.Response(body=b"ok")


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """Run the test server on an ephemeral 127.0.0.1 port."""
    app = web.Application()
    app.router.add_get("/feed", feed)
    app.router.add_get("/bomb", bomb)
    app.router.add_get("/gz", gz)
    app.router.add_get("/slow", slow)
    app.router.add_get("/loop-a", loop_redirect)
    app.router.add_get("/loop-b", loop_redirect)
    app.router.add_get("/chain/{n}", chain)
    app.router.add_get("/busy", busy)
    app.router.add_get("/counted", counted)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_conditional_get_304(server: str) -> None:
    """Validators come back; sending them yields not_modified."""
    async with Fetcher(allow_private=True) as fetcher:
        first = await fetcher.fetch(server + "/feed")
        assert first.ok and first.body == FEED and first.etag == '"v1"'
        assert first.max_age_s == 600 and first.headers["content-type"] == "application/rss+xml"
        second = await fetcher.fetch(
            server + "/feed", etag=first.etag, last_modified=first.last_modified
        )
    assert (
        second.not_modified and second.status == 304 and second.error is None and second.body == b""
    )


async def test_gzip_decoded(server: str) -> None:
    """Ordinary gzip bodies are decompressed."""
    async with Fetcher(allow_private=True) as fetcher:
        assert (await fetcher.fetch(server + "/gz")).body == FEED


async def test_gzip_bomb_cut_with_bounded_memory(server: str) -> None:
    """A 64 MiB gzip bomb is cut at a 1 MiB cap without inflating it into memory."""
    tracemalloc.start()
    async with Fetcher(allow_private=True, limits=FetchLimits(max_bytes=1024 * 1024)) as fetcher:
        result = await fetcher.fetch(server + "/bomb")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.error is not None and "over" in result.error and result.body == b""
    assert peak < 16 * 1024 * 1024


async def test_slow_server_timed_out(server: str) -> None:
    """A 1-byte-per-second server is cut by the total timeout."""
    limits = FetchLimits(total_timeout_s=1.5, read_timeout_s=5)
    async with Fetcher(allow_private=True, limits=limits) as fetcher:
        result = await fetcher.fetch(server + "/slow")
    assert result.error is not None and "timed out" in result.error


async def test_redirect_loop_stopped(server: str) -> None:
    """A redirect loop ends in an error, not a hang."""
    async with Fetcher(allow_private=True) as fetcher:
        result = await fetcher.fetch(server + "/loop-a")
    assert result.error is not None and "redirect" in result.error


async def test_redirect_limit(server: str) -> None:
    """Five redirects are followed; six are refused."""
    async with Fetcher(allow_private=True) as fetcher:
        ok = await fetcher.fetch(server + "/chain/5")
        too_many = await fetcher.fetch(server + "/chain/6")
    assert ok.ok and ok.body == FEED and ok.final_url.endswith("/chain/0")
    assert too_many.error is not None and "redirects" in too_many.error


async def test_private_address_refused(server: str) -> None:
    """Loopback targets (by IP or by name) are refused unless allowed."""
    port = server.rsplit(":", 1)[1]
    async with Fetcher() as fetcher:
        by_ip = await fetcher.fetch(server + "/feed")
        by_name = await fetcher.fetch(f"http://localhost:{port}/feed")
        bad_scheme = await fetcher.fetch("file:///etc/passwd")
    assert by_ip.error is not None and "refused" in by_ip.error
    assert by_name.error is not None and "refused" in by_name.error
    assert bad_scheme.error is not None and "scheme" in bad_scheme.error
    async with Fetcher(allow_private=True) as fetcher:
        assert (await fetcher.fetch(server + "/feed")).ok


async def test_retry_after_on_error(server: str) -> None:
    """A 503 is an error result carrying Retry-After seconds."""
    async with Fetcher(allow_private=True) as fetcher:
        result = await fetcher.fetch(server + "/busy")
    assert result.error == "HTTP 503" and result.retry_after_s == 120


async def test_per_host_concurrency(server: str) -> None:
    """No more than per_host requests run against one host at once."""
    State.active = State.peak = 0
    async with Fetcher(allow_private=True, limits=FetchLimits(per_host=2)) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(server + "/counted") for _ in range(8)))
    assert all(r.ok for r in results) and State.peak == 2


async def test_connection_refused_is_result() -> None:
    """A closed port gives an error result, never an exception."""
    async with Fetcher(allow_private=True) as fetcher:
        result = await fetcher.fetch("http://127.0.0.1:9/")
    assert result.error and result.status == 0


def test_header_parsers() -> None:
    """Retry-After (seconds and dates) and max-age parse; junk gives None."""
    from datetime import UTC, datetime

    now = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == 30
    assert parse_retry_after("Wed, 01 May 2024 10:05:00 GMT", now) == 300
    assert parse_retry_after("soon", now) is None
    assert parse_max_age("no-cache, max-age=60") == 60
    assert parse_max_age("no-store") is None


async def test_request_connects_to_the_checked_address(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The address that passed the check is the one connected to: no second DNS lookup."""
    import bot.fetch as fetch_module

    port = int(server.rsplit(":", 1)[1])
    lookups: list[str] = []

    async def resolve_once(host: str, port_: int) -> list[str]:
        """Answer like DNS for the first lookup only; a rebinding server would answer later."""
        lookups.append(host)
        if len(lookups) > 1:
            raise OSError("a second lookup happened")
        return ["127.0.0.1"]

    monkeypatch.setattr(fetch_module, "is_public_address", lambda _address: True)
    async with Fetcher(resolve=resolve_once) as fetcher:
        result = await fetcher.fetch(f"http://news.rebind.invalid:{port}/feed")
    assert result.ok, result.error
    assert lookups == ["news.rebind.invalid"]
    assert fetcher.hosts_tracked == 0  # no gate kept for a host nobody is fetching


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254 (cloud metadata)
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "fec0::1",  # site-local
        "fec0::8:8",
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
        "2001:0:a00:1:8000:63bf:f7f6:f7f6",  # Teredo, server 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::c0a8:101",  # NAT64 of 192.168.1.1
        "64:ff9b:1::808:808",  # local-use NAT64
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1%eth0",
        "fc00::1",
        "not an address",
    ],
)
def test_non_public_addresses_refused(address: str) -> None:
    """Private IPv4 reached through any IPv6 wrapping, and site-local IPv6, is not public."""
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700::1111", "2002:808:808::1", "64:ff9b::808:808"]
)
def test_public_addresses_allowed(address: str) -> None:
    """Public IPv4, public IPv6, 6to4 and NAT64 of a public IPv4 address pass."""
    assert is_public_address(address)


async def test_resolved_6to4_private_address_refused(server: str) -> None:
    """A name resolving to 6to4 of loopback is refused before any connection."""
    port = server.rsplit(":", 1)[1]

    async def to_6to4_loopback(host: str, port_: int) -> list[str]:
        """DNS that answers 2002:7f00:1::."""
        return ["2002:7f00:1::"]

    async with Fetcher(resolve=to_6to4_loopback) as fetcher:
        result = await fetcher.fetch(f"http://evil.invalid:{port}/feed")
    assert result.error is not None and "refused non-public" in result.error


async def test_dns_runs_in_its_own_bounded_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stuck lookups hold only the DNS pool's threads (never more than its size), give up at
    their timeout, and leave the loop's default executor (parsing) free."""
    release = threading.Event()
    running: set[str] = set()
    peak: list[int] = [0]

    def stuck(host: str, *args: object) -> list[object]:
        """A resolver that hangs until released, counting concurrent lookups."""
        running.add(threading.current_thread().name)
        peak[0] = max(peak[0], len(running))
        release.wait(5)
        return []

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    resolver = ThreadedResolver(workers=2, timeout_s=0.3)
    loop = asyncio.get_running_loop()
    try:
        outcomes = await asyncio.gather(
            *(resolver(f"slow{i}.invalid", 80) for i in range(6)), return_exceptions=True
        )
        assert all(isinstance(o, OSError) and "timed out" in str(o) for o in outcomes)
        assert await asyncio.wait_for(loop.run_in_executor(None, lambda: 42), 2) == 42
        assert peak[0] <= 2 and all(name.startswith("dns") for name in running)
    finally:
        release.set()
        resolver.close()
