"""Real servers on 127.0.0.1 for the HTTP-client tests, each started and stopped by a test.

Proxies, TLS, HTTP/2 and hostile answers happen below the layer a mock transport replaces,
so :mod:`.test_http_client` and :mod:`.test_bounds` talk to these over real sockets. They are
connection-level probes, not fakes of the API (that is the shipped emulator): they report what
arrived over the connection (TLS, the client's certificate, a proxy hop, raw headers), which the
emulator by design does not record, or send bytes no well-behaved server would. They are
written with anyio (so they run on asyncio and trio) and kept small rather than complete:

- :func:`serve_origin`: an HTTP/1.1 origin (plain or TLS, optionally requiring a client
  certificate or taking its time over the handshake) that answers the Exotel envelope and
  records every request;
- :func:`serve_proxy`: a forward proxy for absolute-form requests and ``CONNECT`` tunnels
  (or one that refuses every request, with ``407`` say);
- :func:`serve_h2`: hypercorn serving a tiny ASGI app over TLS with ALPN ``h2``;
- :func:`serve_dripping`, :func:`serve_declared_length`, :func:`serve_chunked`,
  :func:`serve_gzip_bomb`: hostile answers for the time and size bounds.
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
import attrs
import h11
import hypercorn.asyncio
import hypercorn.trio
import sniffio
from anyio.streams.tls import TLSAttribute, TLSStream
from hypercorn.config import Config as HypercornConfig

__all__ = [
    "ACCOUNT",
    "Hostile",
    "Origin",
    "Proxy",
    "Seen",
    "envelope",
    "gzip_bomb",
    "serve_chunked",
    "serve_declared_length",
    "serve_dripping",
    "serve_gzip_bomb",
    "serve_h2",
    "serve_origin",
    "serve_proxy",
]

ACCOUNT = "acme"
#: What a connection's end looks like from the server: the peer went away, however it did.
_GONE = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    h11.ProtocolError,
    ssl.SSLError,
    OSError,
)


def envelope(status: int = 200) -> bytes:
    """The JSON envelope of an empty list (``status`` 200), or of an error."""
    if status == 200:
        response: dict[str, Any] = {"code": 200, "status": "success", "data": []}
    else:
        message = {"code": 1000, "message": "unavailable", "description": "unavailable"}
        response = {"code": status, "status": "failure", "error_data": message}
    body = {"request_id": f"r{status}", "method": "GET", "http_code": status, "response": response}
    return json.dumps(body).encode()


@asynccontextmanager
async def _listening(
    handler: Callable[[anyio.abc.SocketStream], Awaitable[None]],
) -> AsyncIterator[int]:
    """Serve every connection to an ephemeral port of 127.0.0.1 with ``handler``; yield the port.

    The stream is closed after ``handler`` returns, and a peer that goes away is not an error.
    """

    async def connection(stream: anyio.abc.SocketStream) -> None:
        try:
            await handler(stream)
        except _GONE:
            pass
        finally:
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, connection, group)
        try:
            yield port
        finally:
            group.cancel_scope.cancel()


async def _read_head(stream: anyio.abc.ByteReceiveStream) -> tuple[bytes, bytes]:
    """Read an HTTP request's head (through the blank line); return it and any bytes after it.

    Raises:
        anyio.EndOfStream: the peer closed before sending a whole head.
    """
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


async def _until_hang_up(stream: anyio.abc.ByteReceiveStream) -> None:
    """Discard whatever the peer sends until it closes the connection."""
    with suppress(*_GONE):
        while True:
            await stream.receive()


# The origin.


@attrs.frozen
class Seen:
    """One request as the origin received it.

    Attributes:
        method: The request method.
        target: The request target as sent (origin-form: path and query).
        headers: The headers, names lower-cased.
        tls: Whether it came over TLS.
        client_cert: The subject of the certificate the client presented (e.g.
            ``{"commonName": "sdk-client", ...}``), or ``None``.
        peer_port: The port of the connection's other end (a proxy's, if it came through one).
    """

    method: str
    target: str
    headers: dict[str, str]
    tls: bool
    client_cert: dict[str, str] | None
    peer_port: int


class Origin:
    """An HTTP/1.1 origin answering the envelope; start it with :func:`serve_origin`.

    Attributes:
        port: The port it listens on (127.0.0.1).
        statuses: Statuses to answer first, one per request, in order; 200 afterwards.
        requests: Every request received, in order.
        connections: Connections accepted (including ones whose TLS handshake failed).
        handshake_failures: Why each failed TLS handshake failed.
        handshake_delay: Seconds to wait after accepting a TLS connection before the
            handshake: the client is still connecting all that time.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None,
        statuses: Iterable[int],
        handshake_delay: float = 0.0,
    ) -> None:
        self.ssl_context = ssl_context
        self.statuses = list(statuses)
        self.handshake_delay = handshake_delay
        self.port = 0
        self.requests: list[Seen] = []
        self.connections = 0
        self.handshake_failures: list[str] = []

    @property
    def base_url(self) -> str:
        scheme = "http" if self.ssl_context is None else "https"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def connection(self, tcp: anyio.abc.SocketStream) -> None:
        self.connections += 1
        peer_port = tcp.extra(anyio.abc.SocketAttribute.remote_port)
        stream: anyio.abc.ByteStream = tcp
        client_cert = None
        if self.ssl_context is not None:
            await anyio.sleep(self.handshake_delay)
            try:
                tls = await TLSStream.wrap(
                    tcp, server_side=True, ssl_context=self.ssl_context, standard_compatible=False
                )
            except _GONE as exc:
                self.handshake_failures.append(repr(exc.__cause__ or exc))
                return
            stream = tls
            peer = tls.extra(TLSAttribute.peer_certificate)
            if peer:
                subject: Any = peer["subject"]  # ((("commonName", "sdk-client"),), ...)
                client_cert = {name: value for rdn in subject for name, value in rdn}
        connection = h11.Connection(h11.SERVER)
        while True:
            request = await _next_request(stream, connection)
            if request is None:
                return
            self.requests.append(
                Seen(
                    method=request.method.decode(),
                    target=request.target.decode(),
                    headers={name.decode(): value.decode() for name, value in request.headers},
                    tls=self.ssl_context is not None,
                    client_cert=client_cert,
                    peer_port=peer_port,
                )
            )
            status = self.statuses.pop(0) if self.statuses else 200
            body = envelope(status)
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            await stream.send(connection.send(h11.Response(status_code=status, headers=headers)))
            await stream.send(connection.send(h11.Data(data=body)))
            await stream.send(connection.send(h11.EndOfMessage()))
            if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                return
            connection.start_next_cycle()


async def _next_request(
    stream: anyio.abc.ByteReceiveStream, connection: h11.Connection
) -> h11.Request | None:
    """The next complete request on ``connection`` (its body read and ignored), or ``None``."""
    head = None
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive()
            except anyio.EndOfStream:
                data = b""
            connection.receive_data(data)
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.EndOfMessage):
            return head
        elif not isinstance(event, h11.Data):  # ConnectionClosed, PAUSED
            return None


@asynccontextmanager
async def serve_origin(
    *,
    ssl_context: ssl.SSLContext | None = None,
    statuses: Iterable[int] = (),
    handshake_delay: float = 0.0,
) -> AsyncIterator[Origin]:
    """Run an :class:`Origin` (over TLS if ``ssl_context`` is given) for the block.

    ``handshake_delay`` holds back each TLS handshake that many seconds (see :class:`Origin`).
    """
    origin = Origin(ssl_context, statuses, handshake_delay)
    async with _listening(origin.connection) as port:
        origin.port = port
        yield origin


# The forward proxy.


class Proxy:
    """A forward proxy; start it with :func:`serve_proxy`.

    An absolute-form request (``GET http://host:port/path``) is rewritten to origin-form,
    given a ``Via: 1.1 test-proxy`` header and forwarded to ``host:port``; ``CONNECT
    host:port`` opens a tunnel. Either way, the rest of the connection is relayed as it is.

    Attributes:
        port: The port it listens on (127.0.0.1).
        connections: Connections accepted.
        requests: The first request line of each connection (``"CONNECT 127.0.0.1:5000"``).
        upstream_ports: The local ports of its connections to origins (an origin sees them
            as its peer's port).
        refuse: A status (``407``) to answer every request with, then hang up, connecting
            nowhere; ``None`` to proxy.
    """

    def __init__(self, refuse: int | None = None) -> None:
        self.refuse = refuse
        self.port = 0
        self.connections = 0
        self.requests: list[str] = []
        self.upstream_ports: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def connection(self, client: anyio.abc.SocketStream) -> None:
        self.connections += 1
        head, rest = await _read_head(client)
        request_line, _, header_lines = head.partition(b"\r\n")
        method, target, version = request_line.decode("ascii").split(" ")
        self.requests.append(f"{method} {target}")
        if self.refuse is not None:
            status = HTTPStatus(self.refuse)
            authenticate = 'Proxy-Authenticate: Basic realm="proxy"\r\n' if status == 407 else ""
            await client.send(
                f"HTTP/1.1 {status.value} {status.phrase}\r\n{authenticate}"
                "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            first = b""
            reply = b"HTTP/1.1 200 Connection established\r\n\r\n"
        else:
            url = urlsplit(target)
            host, port = url.hostname or "", str(url.port or 80)
            origin_form = url.path + (f"?{url.query}" if url.query else "")
            first = f"{method} {origin_form} {version}\r\nVia: 1.1 test-proxy\r\n".encode()
            first += header_lines + rest
            reply = b""
        async with await anyio.connect_tcp(host, int(port)) as upstream:
            self.upstream_ports.append(upstream.extra(anyio.abc.SocketAttribute.local_port))
            if reply:
                await client.send(reply)
            if first:
                await upstream.send(first)
            async with anyio.create_task_group() as group:
                group.start_soon(_relay, client, upstream)
                group.start_soon(_relay, upstream, client)


async def _relay(source: anyio.abc.SocketStream, sink: anyio.abc.SocketStream) -> None:
    """Copy ``source`` to ``sink`` until ``source`` ends, then half-close ``sink``."""
    with suppress(*_GONE):
        async for data in source:
            await sink.send(data)
    with suppress(*_GONE):
        await sink.send_eof()


@asynccontextmanager
async def serve_proxy(*, refuse: int | None = None) -> AsyncIterator[Proxy]:
    """Run a :class:`Proxy` for the block (one that answers ``refuse`` to all, if given)."""
    proxy = Proxy(refuse)
    async with _listening(proxy.connection) as port:
        proxy.port = port
        yield proxy


# Hostile servers: each reads one request per connection, then misbehaves.


class Hostile:
    """A server that answers every request with ``respond``; see the ``serve_*`` below.

    Attributes:
        port: The port it listens on (127.0.0.1).
        requests: Requests received (one per connection).
        sent: Bytes of the answers it managed to send, over all connections.
        completed: Answers whose script ran to its end (for the dripped and chunked bodies,
            every byte sent).
        closed: Set when a connection has ended (the client hung up, during the answer or
            after it).
    """

    def __init__(self, respond: Callable[[Hostile, anyio.abc.SocketStream], Awaitable[None]]):
        self.respond = respond
        self.port = 0
        self.requests = 0
        self.sent = 0
        self.completed = 0
        self.closed = anyio.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def send(self, stream: anyio.abc.SocketStream, data: bytes) -> None:
        await stream.send(data)
        self.sent += len(data)

    async def connection(self, stream: anyio.abc.SocketStream) -> None:
        await _read_head(stream)
        self.requests += 1
        try:
            with suppress(*_GONE):
                await self.respond(self, stream)
                self.completed += 1
                await _until_hang_up(stream)
        finally:
            self.closed.set()


@asynccontextmanager
async def _serve_hostile(
    respond: Callable[[Hostile, anyio.abc.SocketStream], Awaitable[None]],
) -> AsyncIterator[Hostile]:
    server = Hostile(respond)
    async with _listening(server.connection) as port:
        server.port = port
        yield server


def serve_dripping(
    interval: float = 0.05, size: int = 1000
) -> AbstractAsyncContextManager[Hostile]:
    """Answer 200 with valid headers, then the body one byte every ``interval`` seconds.

    A read timeout never fires (a byte arrives every ``interval``), so only a bound on the
    whole attempt ends it; the default ``size`` takes 50 s to drip.
    """
    body = envelope().ljust(size)

    async def respond(server: Hostile, stream: anyio.abc.SocketStream) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        )
        await server.send(stream, head.encode())
        for index in range(size):
            await server.send(stream, body[index : index + 1])
            await anyio.sleep(interval)

    return _serve_hostile(respond)


def serve_declared_length(declared: int = 104_857_600) -> AbstractAsyncContextManager[Hostile]:
    """Declare ``Content-Length: declared`` and send 1 KiB of it; then send nothing more.

    A client that tried to read the body would wait forever: only one that gives up on the
    declared length alone returns (and hangs up, which sets ``closed``).
    """

    async def respond(server: Hostile, stream: anyio.abc.SocketStream) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}"
        await server.send(stream, f"{head}\r\n\r\n".encode() + b" " * 1024)

    return _serve_hostile(respond)


def serve_chunked(
    total: int = 50_000_000, chunk: int = 65_536, *, content_length: int | None = None
) -> AbstractAsyncContextManager[Hostile]:
    """Stream a chunked body of ``total`` bytes until the client hangs up.

    No length is declared unless ``content_length`` is given: then the head also says
    ``Content-Length: content_length``, which chunked framing overrides (RFC 9112 6.3), so a
    client that trusted it would read all ``total`` bytes. One chunk is framed once and sent
    again and again, so the server itself allocates nothing per chunk (memory measurements see
    the client's).
    """
    framed = b"%x\r\n" % chunk + b" " * chunk + b"\r\n"
    declared = b"" if content_length is None else b"\r\nContent-Length: %d" % content_length

    async def respond(server: Hostile, stream: anyio.abc.SocketStream) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
        await server.send(stream, head + declared + b"\r\n\r\n")
        for _ in range(total // chunk):
            await server.send(stream, framed)
        await server.send(stream, b"0\r\n\r\n")

    return _serve_hostile(respond)


@functools.cache
def gzip_bomb(inflated: int = 100 * 2**20) -> bytes:
    """``inflated`` bytes of zeros, gzipped (100 MiB make about 100 KB); built once."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(2**20)
    parts = [compressor.compress(block) for _ in range(inflated // len(block))]
    parts.append(compressor.flush())
    return b"".join(parts)


def serve_gzip_bomb(inflated: int = 100 * 2**20) -> AbstractAsyncContextManager[Hostile]:
    """Answer a small ``Content-Encoding: gzip`` body that inflates to ``inflated`` bytes."""
    bomb = gzip_bomb(inflated)

    async def respond(server: Hostile, stream: anyio.abc.SocketStream) -> None:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            f"Content-Length: {len(bomb)}\r\n\r\n"
        )
        await server.send(stream, head.encode() + bomb)

    return _serve_hostile(respond)


# HTTP/2: hypercorn, in the test's own event loop.


class H2Server:
    """Hypercorn serving :meth:`app` over TLS (ALPN ``h2`` and ``http/1.1``).

    Attributes:
        port: The port it listens on (127.0.0.1).
        http_versions: ``scope["http_version"]`` of every request (``"2"``, ``"1.1"``).
    """

    def __init__(self) -> None:
        self.port = 0
        self.http_versions: list[str] = []

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        """A tiny ASGI app: the lifespan protocol, and the envelope for any request."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.http_versions.append(scope["http_version"])
        body = envelope()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def serve_h2(certfile: str, keyfile: str) -> AsyncIterator[H2Server]:
    """Run hypercorn with the certificate in ``certfile`` / ``keyfile`` for the block.

    The listening socket is bound here (to learn its port) and handed to hypercorn as
    ``fd://``; hypercorn runs on whichever of asyncio or trio the test runs on, and stops
    through its ``shutdown_trigger`` when the block ends. Close HTTP clients first: hypercorn
    waits up to ``graceful_timeout`` for open connections.
    """
    server = H2Server()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    server.port = sock.getsockname()[1]
    config = HypercornConfig()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) it from here
    config.certfile = certfile
    config.keyfile = keyfile
    config.errorlog = logging.getLogger("tests.h2server")
    config.graceful_timeout = 1.0
    serve: Callable[..., Coroutine[Any, Any, None]] = (
        hypercorn.trio.serve
        if sniffio.current_async_library() == "trio"
        else hypercorn.asyncio.serve
    )
    stopped = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(
            functools.partial(serve, server.app, config, shutdown_trigger=stopped.wait)
        )
        try:
            yield server
        finally:
            stopped.set()
