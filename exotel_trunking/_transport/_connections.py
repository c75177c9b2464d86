"""The SDK's default HTTP transport: keep-alive HTTP/1.1 connections, read whole responses.

httpcore's pool does work proportional to its size for every request it hands a connection
(encode/httpcore#1035), and its layers of streams, locks and cancel scopes cost more client
CPU per request than everything else the SDK does; at Exotel's 50 concurrent connections that
bookkeeping made a bulk run CPU-bound. The SDK only ever sends small requests with the whole
body in hand and reads every response whole, to one origin, without proxies. This transport
does that and nothing more: a list of idle connections per origin, requests encoded and
responses parsed by the small HTTP/1.1 codec of :mod:`._http11` (h11 cost several times as
much CPU per exchange), and the response read whole before it is returned. The bytes travel on
:mod:`._streams` (asyncio's own protocol on asyncio, anyio's stream on trio).

It is an ``httpx.AsyncBaseTransport``, so it sits under the same ``httpx.AsyncClient`` as any
other transport (``transport=`` and ``http_client=`` still replace it), and it raises httpx's own
exceptions (``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError``, ...), which the SDK's
retry rules classify.
"""

from __future__ import annotations

import functools
import math
import ssl
import time
from collections.abc import Callable
from datetime import timedelta

import anyio
import anyio.abc
import httpx

from ._http11 import (
    LocalProtocolError,
    RemoteProtocolError,
    ResponseReader,
    encode_request,
)
from ._streams import ByteStream, connect

__all__ = ["ConnectionPoolTransport"]

#: Idle connections older than this are closed rather than reused (httpx's default).
KEEPALIVE_EXPIRY = 5.0
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_Origin = tuple[bytes, str, int]
#: What a failing socket raises (``ssl.SSLError`` is an ``OSError``).
_SOCKET_ERRORS = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # One verified context for the process: building one loads the CA bundle (tens of ms).
    return httpx.create_ssl_context()


def _deadline(timeout: float | None) -> float:
    return math.inf if timeout is None else anyio.current_time() + timeout


class _Connection:
    """One HTTP/1.1 connection: a socket stream that carries one exchange at a time."""

    __slots__ = ("_idle_since", "_reusable", "closed", "stream")

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.closed = False
        self._reusable = False
        self._idle_since = 0.0

    def park(self, now: float) -> None:
        """Mark the connection idle from ``now`` (after a complete exchange)."""
        self._idle_since = now

    def usable(self, now: float) -> bool:
        """Whether an idle connection can carry another request.

        Not if it idled past the keep-alive expiry, or if anything arrived while no request was
        outstanding: the server closed it (EOF) or sent something unasked for.
        """
        return now - self._idle_since <= KEEPALIVE_EXPIRY and not self.stream.idle_news()

    async def exchange(
        self, request: httpx.Request, read: float | None, write: float | None
    ) -> httpx.Response:
        """Send ``request`` and read its whole response.

        One cancel scope times the whole exchange: its deadline is the write timeout while the
        request is written, then the read timeout, renewed after every read, as httpx's
        per-operation timeouts are.
        """
        self._reusable = False
        body = await request.aread()  # already in hand for every request the SDK builds
        method = request.method.encode()
        try:
            encoded = encode_request(method, request.url.raw_path, request.headers.raw, body)
        except LocalProtocolError as exc:  # e.g. a header value with a newline in it
            raise httpx.LocalProtocolError(str(exc)) from exc
        reading = False
        started = time.perf_counter()
        with anyio.CancelScope(deadline=_deadline(write)) as scope:
            try:
                await self.stream.send(encoded.data)
                reading = True
                scope.deadline = _deadline(read)
                reader = ResponseReader(method)
                while True:
                    chunk = await self.stream.receive()
                    scope.deadline = _deadline(read)
                    parsed = reader.feed(chunk) if chunk else reader.feed_eof()
                    if parsed is not None:
                        break
            except RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from exc
            except _SOCKET_ERRORS as exc:
                error = httpx.ReadError if reading else httpx.WriteError
                raise error(str(exc) or type(exc).__name__) from exc
            self._reusable = parsed.reusable and not encoded.closes
            response = httpx.Response(
                parsed.status,
                headers=parsed.headers,
                content=parsed.body,
                extensions={"http_version": parsed.http_version, "reason_phrase": parsed.reason},
            )
            # httpx times a response while it reads the body; this one comes read.
            response.elapsed = timedelta(seconds=time.perf_counter() - started)
            return response
        # Only reached when the deadline cancelled the scope.
        if reading:
            raise httpx.ReadTimeout("timed out reading the response")
        raise httpx.WriteTimeout("timed out sending the request")

    def reusable(self) -> bool:
        """Whether the connection can carry the next request after the exchange just made.

        Both sides kept it open, and nothing came after the response (a confused server or
        proxy, whose next bytes would be taken for the next response).
        """
        return self._reusable

    async def close(self) -> None:
        """Close the socket at once, whatever state the exchange is in."""
        self.closed = True
        await self.stream.aclose()


class ConnectionPoolTransport(httpx.AsyncBaseTransport):
    """At most ``max_connections`` keep-alive HTTP/1.1 connections, the most recently used first.

    Args:
        max_connections: Requests in flight (and connections open) at most; more wait for a
            free connection, up to the request's ``pool`` timeout.
        ssl_context: For ``https`` origins; by default a verified context built once per process.
        clock: A monotonic clock for keep-alive expiry (tests inject one).
    """

    def __init__(
        self,
        max_connections: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slots = anyio.Semaphore(max_connections, fast_acquire=True)
        self._max_connections = max_connections
        self._ssl_context = ssl_context
        self._clock = clock
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._open = 0
        self._closed = False

    @property
    def connections(self) -> int:
        """Connections open now, idle or busy."""
        return self._open

    @property
    def busy(self) -> int:
        """Connections carrying a request now."""
        return len(self._busy)

    @property
    def waiting(self) -> int:
        """Requests waiting for a free connection."""
        return self._slots.statistics().tasks_waiting

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on an idle connection to its origin, or a new one; read it whole."""
        timeouts = request.extensions.get("timeout", {})
        origin = self._origin(request.url)
        with anyio.move_on_after(timeouts.get("pool")) as waited:
            await self._slots.acquire()
        if waited.cancelled_caught:
            raise httpx.PoolTimeout("timed out waiting for a free connection")
        try:
            if self._closed:
                raise httpx.ConnectError("the connection pool is closed")
            connection = await self._checkout(origin, timeouts.get("connect"))
            self._busy.add(connection)
            try:
                response = await connection.exchange(
                    request, timeouts.get("read"), timeouts.get("write")
                )
            except BaseException:
                await self._discard(connection)
                raise
            if connection.reusable() and not self._closed:
                self._busy.discard(connection)
                connection.park(self._clock())
                self._idle.setdefault(origin, []).append(connection)
            else:
                await self._discard(connection)
        finally:
            self._slots.release()
        return response

    async def aclose(self) -> None:
        """Close every connection: idle ones, and those in use, whose requests then fail."""
        self._closed = True
        idle, self._idle = self._idle, {}
        with anyio.CancelScope(shield=True):  # a cancelled close must not leave sockets open
            for connection in [*self._busy, *(c for group in idle.values() for c in group)]:
                await self._discard(connection)

    def _origin(self, url: httpx.URL) -> _Origin:
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        return scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[scheme]

    async def _checkout(self, origin: _Origin, connect: float | None) -> _Connection:
        idle = self._idle.get(origin)
        if idle:
            now = self._clock()
            while idle:
                connection = idle.pop()
                if connection.usable(now):
                    return connection
                await self._discard(connection)
        if self._open >= self._max_connections:
            await self._close_one_idle()
        return await self._connect(origin, connect)

    async def _connect(self, origin: _Origin, limit: float | None) -> _Connection:
        scheme, host, port = origin
        tls = (self._ssl_context or _default_ssl_context()) if scheme == b"https" else None
        stream: ByteStream | None = None
        with anyio.move_on_after(limit):
            try:
                stream = await connect(host, port, tls)
            except (*_SOCKET_ERRORS, anyio.EndOfStream) as exc:  # EOF: in a TLS handshake
                raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        if stream is None:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}")
        if self._closed:  # closed while connecting: nothing was sent
            await stream.aclose()
            raise httpx.ConnectError("the connection pool is closed")
        self._open += 1
        return _Connection(stream)

    async def _close_one_idle(self) -> None:
        # Only reached with several origins: make room by closing another origin's idle one.
        for connections in self._idle.values():
            if connections:
                await self._discard(connections.pop(0))
                return

    async def _discard(self, connection: _Connection) -> None:
        self._busy.discard(connection)
        if not connection.closed:
            self._open -= 1
            await connection.close()
