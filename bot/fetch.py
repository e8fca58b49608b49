"""Polite, defensive HTTP fetching of sources: the only module that touches the network for them."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx

from bot.settings import Settings

USER_AGENT = "Akhbar/0.1 (+news bot)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.I)


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Timeouts, size cap, redirect limit and concurrency limits for fetching."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 20.0
    total_timeout_s: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    per_host: int = 2
    global_limit: int = 32
    dns_workers: int = 4
    dns_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one fetch; error is set instead of raising."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    retry_after_s: float | None = None
    max_age_s: float | None = None
    not_modified: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Tell whether the fetch succeeded (fresh body or not modified)."""
        return self.error is None


class FetchError(Exception):
    """A fetch failure with a message meant for the operator."""


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Return Retry-After as seconds from now (delta-seconds or HTTP-date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_max_age(cache_control: str | None) -> float | None:
    """Return the max-age of a Cache-Control header value in seconds."""
    if not cache_control:
        return None
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: v4 in the low 32 bits
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use translation
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _routable(ip: Address) -> bool:
    """Whether one address (as written, nothing embedded looked at) is globally routable."""
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: 6to4, Teredo (server and client), NAT64."""
    found: list[ipaddress.IPv4Address] = []
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public_address(address: str) -> bool:
    """Tell whether an IP address is globally routable (not private, loopback, reserved…).

    An IPv6 address that reaches an IPv4 one (mapped `::ffff:`, 6to4 `2002::/16`, Teredo
    `2001::/32`, NAT64 `64:ff9b::/96`) is public only if that IPv4 address is; site-local
    `fec0::/10` and local-use NAT64 never are. A NAT64 address to a public IPv4 address is
    allowed (IPv6-only hosts reach IPv4-only sites that way).
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _routable(ip)
    if ip.ipv4_mapped is not None:
        return _routable(ip.ipv4_mapped)
    if ip in _NAT64_LOCAL or ip.is_site_local:
        return False
    embedded = embedded_ipv4(ip)
    if not all(_routable(v4) for v4 in embedded):
        return False
    return ip in _NAT64 or _routable(ip)


Resolve = Callable[[str, int], Awaitable[Sequence[str]]]


class ThreadedResolver:
    """DNS lookups in their own small thread pool, each bounded in time.

    `loop.getaddrinfo` runs in the loop's default executor, which feed parsing and page
    extraction share: a slow resolver would hold those threads. Here a stuck lookup holds
    at most one of `workers` DNS threads, and the caller stops waiting after `timeout_s`.
    """

    def __init__(self, workers: int = 4, timeout_s: float = 10.0) -> None:
        """Create the pool (threads start on first use)."""
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dns")

    async def __call__(self, host: str, port: int) -> list[str]:
        """The addresses `host` resolves to for TCP (OSError on failure or timeout)."""
        loop = asyncio.get_running_loop()
        lookup = loop.run_in_executor(
            self._pool, socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM
        )
        try:
            async with asyncio.timeout(self.timeout_s):
                infos = await lookup
        except TimeoutError:
            raise OSError(f"DNS lookup timed out after {self.timeout_s:g}s") from None
        return [str(info[4][0]) for info in infos]

    def close(self) -> None:
        """Stop the pool without waiting for lookups still running."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Decoder:
    """Incremental gzip/deflate decoder that never inflates past a byte budget."""

    def __init__(self, encoding: str) -> None:
        """Pick the zlib mode for a Content-Encoding value."""
        self.encoding = encoding
        self._raw_deflate = False
        if encoding in ("gzip", "x-gzip"):
            self._obj = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._obj = zlib.decompressobj(wbits=zlib.MAX_WBITS)
        else:
            raise FetchError(f"unsupported content-encoding {encoding!r}")
        self._started = False

    def feed(self, chunk: bytes, budget: int) -> bytes:
        """Decompress a chunk, returning at most budget + 1 bytes (more means over the cap)."""
        if self.encoding == "deflate" and not self._started and chunk:
            self._started = True
            if (chunk[0] & 0x0F) != 8:
                self._obj = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
        out = bytearray()
        data = chunk
        while data or (self._obj.unconsumed_tail and len(out) <= budget):
            piece = self._obj.decompress(data, max(1, budget + 1 - len(out)))
            out += piece
            data = self._obj.unconsumed_tail
            if len(out) > budget or (not piece and not data):
                break
        return bytes(out)


class Fetcher:
    """An async fetcher around one shared httpx.AsyncClient with politeness limits."""

    def __init__(
        self,
        *,
        limits: FetchLimits | None = None,
        allow_private: bool = False,
        user_agent: str = USER_AGENT,
        client: httpx.AsyncClient | None = None,
        resolve: Resolve | None = None,
    ) -> None:
        """Create the fetcher; it owns the client and the resolver unless they are passed in."""
        self.limits = limits or FetchLimits()
        self.allow_private = allow_private
        self.user_agent = user_agent
        timeout = httpx.Timeout(
            connect=self.limits.connect_timeout_s,
            read=self.limits.read_timeout_s,
            write=self.limits.read_timeout_s,
            pool=self.limits.total_timeout_s,
        )
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self.limits.global_limit * 2),
            trust_env=False,
        )
        self._global = asyncio.Semaphore(self.limits.global_limit)
        self._hosts: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}  # gate, [users]
        self._resolver: ThreadedResolver | None = None
        if resolve is None:
            self._resolver = ThreadedResolver(self.limits.dns_workers, self.limits.dns_timeout_s)
            resolve = self._resolver
        self._resolve = resolve

    async def __aenter__(self) -> Fetcher:
        """Enter an async context."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the client on exit."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying client and resolver if this fetcher created them."""
        if self._owns_client:
            await self._client.aclose()
        if self._resolver is not None:
            self._resolver.close()

    @asynccontextmanager
    async def _host_slot(self, host: str) -> AsyncIterator[None]:
        """Hold one of a host's `per_host` slots; a host's gate is dropped when nobody uses it."""
        entry = self._hosts.get(host)
        if entry is None:
            entry = self._hosts[host] = (asyncio.Semaphore(self.limits.per_host), [0])
        gate, users = entry
        users[0] += 1
        try:
            async with gate:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._hosts[host]

    @property
    def hosts_tracked(self) -> int:
        """How many hosts have a concurrency gate now (only those with a fetch under way)."""
        return len(self._hosts)

    async def _check_target(self, url: str) -> str:
        """Validate scheme and resolved addresses of a URL, returning its host."""
        host, _address = await self._resolve_target(url)
        return host

    async def check_url(self, url: str) -> str:
        """Public form of the target check (raises FetchError), for validating new sources."""
        return await self._check_target(url)

    async def _resolve_target(self, url: str) -> tuple[str, str | None]:
        """Validate a URL; return its host and the checked address to connect to (None if private ok)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"scheme not allowed: {parts.scheme or '(none)'}")
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchError("URL has no host")
        if self.allow_private:
            return host, None
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchError(f"bad port: {exc}") from exc
        try:
            addresses = list(await self._resolve(host, port))
        except OSError as exc:
            raise FetchError(f"cannot resolve {host}: {exc}") from exc
        blocked = sorted({a for a in addresses if not is_public_address(a)})
        if not addresses or blocked:
            raise FetchError(f"refused non-public address for {host}: {', '.join(blocked)}")
        return host, addresses[0]

    def _headers(self, etag: str | None, last_modified: str | None) -> dict[str, str]:
        """Build request headers, including conditional ones."""
        headers = {
            "User-Agent": self.user_agent,
            "Accept-Encoding": "gzip, deflate",
            "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
            "application/xml;q=0.9, text/html;q=0.8, */*;q=0.5",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return headers

    async def _read_body(self, response: httpx.Response) -> bytes:
        """Stream and decompress the body, failing once it exceeds the cap."""
        cap = self.limits.max_bytes
        encoding = response.headers.get("content-encoding", "").strip().lower()
        decoder = _Decoder(encoding) if encoding not in ("", "identity") else None
        body = bytearray()
        raw_total = 0
        chunks: AsyncIterator[bytes] = response.aiter_raw()
        async for chunk in chunks:
            raw_total += len(chunk)
            if raw_total > cap:
                raise FetchError(f"body over {cap} bytes")
            data = decoder.feed(chunk, cap - len(body)) if decoder else chunk
            body += data
            if len(body) > cap:
                raise FetchError(f"body over {cap} bytes (decompressed)")
        return bytes(body)

    async def _fetch_once(
        self, url: str, headers: Mapping[str, str]
    ) -> tuple[httpx.Response, bytes]:
        """Send one GET (no redirects followed) under the host and global limits."""
        host, address = await self._resolve_target(url)
        async with self._host_slot(host), self._global:
            request = self._pinned_request(url, headers, address)
            response = await self._client.send(request, stream=True)
            try:
                body = b""
                if response.status_code == 200 or 200 <= response.status_code < 300:
                    body = await self._read_body(response)
                return response, body
            finally:
                await response.aclose()

    def _pinned_request(
        self, url: str, headers: Mapping[str, str], address: str | None
    ) -> httpx.Request:
        """A GET that connects to the checked address (Host header and TLS name unchanged)."""
        if address is None:
            return self._client.build_request("GET", url, headers=dict(headers))
        parts = urlsplit(url)
        literal = f"[{address}]" if ":" in address else address
        netloc = literal if parts.port is None else f"{literal}:{parts.port}"
        pinned = parts._replace(netloc=netloc).geturl()
        host_header = parts.netloc.rsplit("@", 1)[-1]
        extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
        return self._client.build_request(
            "GET", pinned, headers={**headers, "Host": host_header}, extensions=extensions
        )

    async def _follow(self, url: str, etag: str | None, last_modified: str | None) -> FetchResult:
        """Fetch url following at most max_redirects redirects, each re-checked."""
        headers = self._headers(etag, last_modified)
        current = url
        seen: set[str] = set()
        for _hop in range(self.limits.max_redirects + 1):
            seen.add(current)
            response, body = await self._fetch_once(current, headers)
            status = response.status_code
            if status in _REDIRECTS and "location" in response.headers:
                current = urljoin(current, response.headers["location"].strip())
                if current in seen:
                    raise FetchError(f"redirect loop at {current}")
                continue
            return self._result(url, current, response, body)
        raise FetchError(f"more than {self.limits.max_redirects} redirects")

    def _result(self, url: str, final: str, response: httpx.Response, body: bytes) -> FetchResult:
        """Turn a final response into a FetchResult."""
        headers = {k.lower(): v for k, v in response.headers.items()}
        status = response.status_code
        error = None
        if status != 304 and not 200 <= status < 300:
            error = f"HTTP {status}"
        return FetchResult(
            url=url,
            final_url=final,
            status=status,
            headers=headers,
            body=body if error is None else b"",
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            retry_after_s=parse_retry_after(headers.get("retry-after"), datetime.now(UTC)),
            max_age_s=parse_max_age(headers.get("cache-control")),
            not_modified=status == 304,
            error=error,
        )

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Fetch a URL politely; never raises for network or HTTP errors."""
        try:
            async with asyncio.timeout(self.limits.total_timeout_s):
                return await self._follow(url, etag, last_modified)
        except TimeoutError:
            message = f"timed out after {self.limits.total_timeout_s:g}s"
        except FetchError as exc:
            message = str(exc)
        except httpx.TimeoutException as exc:
            message = f"timeout: {type(exc).__name__}"
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError, zlib.error) as exc:
            message = f"{type(exc).__name__}: {exc}"
        return FetchResult(url=url, final_url=url, status=0, error=message)


def fetcher_for(settings: Settings) -> Fetcher:
    """The source fetcher configured from the settings (total time, body cap, private sources)."""
    limits = FetchLimits(
        read_timeout_s=min(FetchLimits().read_timeout_s, settings.fetch_timeout_seconds),
        total_timeout_s=settings.fetch_timeout_seconds,
        max_bytes=settings.max_feed_bytes,
    )
    return Fetcher(limits=limits, allow_private=settings.allow_private_sources)
