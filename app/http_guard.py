"""The HTTP server's own defences against slow and piled-up connections (issue 14, docs/security.md).

uvicorn times out idle keep-alive connections only *between* requests, and not at all before a connection's first
request: a client that sends half a request line and then nothing holds a socket (and a file descriptor) forever,
and ~20,000 of them exhausted the process. `guarded_protocol` is uvicorn's httptools protocol with three additions:

- a **header deadline**: from connecting (or from the first byte of the next keep-alive request) the request line
  and headers must be complete within `HTTP_HEADER_TIMEOUT_SECONDS`, else the connection is closed;
- a **body idle deadline**: a body that stops arriving for `HTTP_BODY_IDLE_SECONDS` while the app waits for it
  closes the connection (a pause the app itself caused — flow control — does not count);
- a **header size cap**: a request line and headers over 64 KiB get 431 and the connection is closed;
- a **per-address cap**: one client address holds at most `HTTP_MAX_CONNECTIONS_PER_IP` open HTTP connections; a
  new one beyond that is closed at once. Trusted proxies are exempt (the proxy limits per client itself), and a
  connection leaves the count when it becomes a WebSocket, which has its own join and idle timeouts.

uvicorn's `limit_concurrency` (HTTP_MAX_CONNECTIONS) bounds the total: beyond it requests get 503 at once.

`ResourceLog` keeps an exhausted process from logging a traceback per failed `accept()`: one warning per interval
with the count.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.settings import Settings

log = logging.getLogger("hearing.http")

_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

MAX_HEADER_BYTES = 64 << 10
LINGER_SECONDS = 2.0  # how long a refused connection's remaining bytes are read and dropped before it is closed
"""A request line and headers together (httptools sets no bound; the proxy's is 4 x 16 KiB): more gets 431."""
_HEADERS_BODY = b'{"error": "headers_too_large", "message": "the request line and headers are over 64 KiB"}'
_TOO_LARGE_HEADERS = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                      b"content-length: " + str(len(_HEADERS_BODY)).encode() + b"\r\nconnection: close\r\n\r\n"
                      + _HEADERS_BODY)


def trusted_networks(settings: Settings) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in settings.trusted_proxies]


def is_trusted(host: str | None, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if not host or not networks:
        return False
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(addr in n for n in networks)


class ConnectionCounts:
    """Open HTTP connections per client address, shared by every connection of one server."""

    def __init__(self, limit: int, exempt: Callable[[str], bool]) -> None:
        self.limit = limit
        self.exempt = exempt
        self.open: Counter[str] = Counter()
        self.refused = 0

    def admit(self, host: str) -> bool:
        if self.exempt(host):
            return True
        if self.open[host] >= self.limit:
            self.refused += 1
            return False
        self.open[host] += 1
        return True

    def release(self, host: str) -> None:
        if host in self.open:
            self.open[host] -= 1
            if self.open[host] <= 0:
                del self.open[host]


def guarded_protocol(settings: Settings) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the header and body deadlines and the per-address cap of `settings`."""
    networks = trusted_networks(settings)
    counts = ConnectionCounts(settings.http_max_connections_per_ip, lambda host: is_trusted(host, networks))
    header_timeout = settings.http_header_timeout_seconds
    body_idle = settings.http_body_idle_seconds

    class GuardedHttpProtocol(HttpToolsProtocol):
        connection_counts = counts

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline: asyncio.TimerHandle | None = None
            self._body_deadline: asyncio.TimerHandle | None = None
            self._counted: str | None = None
            self._body_seen = 0.0
            self._header_bytes = 0
            self._lingering = False

        # -- connection ------------------------------------------------------------------------------
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            host = self.client[0] if self.client else ""
            if not counts.admit(host):
                transport.abort()  # no answer: a flood from one address gets nothing to read
                return
            self._counted = host if not counts.exempt(host) else None
            self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_timers()
            self._uncount()
            super().connection_lost(exc)

        def _uncount(self) -> None:
            if self._counted is not None:
                counts.release(self._counted)
                self._counted = None

        def _cancel_timers(self) -> None:
            for timer in (self._deadline, self._body_deadline):
                if timer is not None:
                    timer.cancel()
            self._deadline = self._body_deadline = None

        def handle_websocket_upgrade(self) -> None:
            self._cancel_timers()
            self._uncount()  # the WebSocket protocol owns the transport now; its own timeouts apply
            super().handle_websocket_upgrade()

        # -- header deadline -------------------------------------------------------------------------
        def _arm_header_deadline(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(header_timeout, self._too_slow)

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._header_bytes = 0
            self._arm_header_deadline()  # a keep-alive connection's next request: headers within the bound

        def _count_header(self, size: int) -> None:
            self._header_bytes += size
            if self._header_bytes > MAX_HEADER_BYTES and not self._lingering and not self.transport.is_closing():
                self._refuse_lingering(_TOO_LARGE_HEADERS)

        def _refuse_lingering(self, answer: bytes) -> None:
            """Answer, half-close and read-and-drop what the client is still sending for a moment before closing
            (a lingering close, as nginx does): closing at once with unread bytes makes the kernel send a reset,
            and the client loses the answer it has not read yet."""
            self._lingering = True
            self._cancel_timers()
            self.transport.write(answer)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self._end_linger)

        def _end_linger(self) -> None:
            if not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._lingering:
                return  # dropped: the answer is sent
            super().data_received(data)

        def on_url(self, url: bytes) -> None:
            self._count_header(len(url))
            if not self._lingering:
                super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_header(len(name) + len(value) + 4)
            if not self._lingering:
                super().on_header(name, value)

        def on_headers_complete(self) -> None:
            if self._lingering:
                return  # refused for its size: no request reaches the app
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            super().on_headers_complete()
            if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
                self._body_seen = time.monotonic()
                self._arm_body_deadline(body_idle)

        # -- body idle deadline ----------------------------------------------------------------------
        def _arm_body_deadline(self, delay: float) -> None:
            if self._body_deadline is not None:
                self._body_deadline.cancel()
            self._body_deadline = self.loop.call_later(delay, self._body_check)

        def _body_check(self) -> None:
            self._body_deadline = None
            cycle = self.cycle
            if cycle is None or not cycle.more_body or cycle.response_complete or self.transport.is_closing():
                return
            if self.flow.read_paused:  # the app is not reading (flow control): not the client's fault
                self._body_seen = time.monotonic()
                self._arm_body_deadline(body_idle)
                return
            idle = time.monotonic() - self._body_seen
            if idle >= body_idle:
                self.transport.close()
            else:
                self._arm_body_deadline(body_idle - idle)

        def on_body(self, body: bytes) -> None:
            self._body_seen = time.monotonic()
            super().on_body(body)

        def on_message_complete(self) -> None:
            if self._body_deadline is not None:
                self._body_deadline.cancel()
                self._body_deadline = None
            super().on_message_complete()

    return GuardedHttpProtocol


def server_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn.Config keyword arguments that carry the limits (the CLI and the live test server share them)."""
    return {
        "http": guarded_protocol(settings),
        "limit_concurrency": settings.http_max_connections,
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
        "server_header": False,
    }


class ResourceLog:
    """A loop exception handler: resource exhaustion (EMFILE on accept) is logged once per `interval` with the
    number of failures, without a traceback; everything else goes to the previous handler."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.suppressed = 0
        self.logged = 0
        self._last: float | None = None
        self._previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _EXHAUSTED:
            now = self.clock()
            if self._last is not None and now - self._last < self.interval:
                self.suppressed += 1
                return
            self._last = now
            self.logged += 1
            log.warning("out of system resources: %s (%s); %d more failures since the last warning",
                        context.get("message", "accept failed"), errno.errorcode.get(exc.errno or 0, exc.errno),
                        self.suppressed, extra={"errno": exc.errno, "suppressed": self.suppressed})
            self.suppressed = 0
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)


def raise_fd_limit(target: int = 65536) -> int:
    """Raise the soft open-files limit towards the hard one (the default soft 1024 is small for a server)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(target, hard) if hard != resource.RLIM_INFINITY else target
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft
