"""The byte streams the SDK's connections run on: asyncio's own protocol, or anyio's stream.

A connection needs four things of its socket: send bytes, receive bytes (``b""`` at the end),
close at once, and say whether anything arrived while it sat idle (the server closed it, or
sent what nobody asked for), so that it is not reused.

* On asyncio, :class:`AsyncioStream` is an ``asyncio.Protocol``: the event loop hands it every
  byte as it arrives. anyio's stream pauses and resumes reading around every ``receive``,
  registering and unregistering the socket with the selector each time, which cost about a
  tenth of the client's CPU per request in a bulk run; here the socket stays registered, and
  the idle check reads a flag instead of polling the socket.
* Elsewhere (trio), :class:`AnyioStream` wraps ``anyio.connect_tcp``'s stream, and the idle
  check polls the socket without reading.

Both raise ``OSError``, ``ssl.SSLError`` or anyio's ``BrokenResourceError`` /
``ClosedResourceError`` when the connection fails; the transport maps them to httpx's errors.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - the asyncio-only stream, chosen at run time; see above
import ipaddress
import select
import socket
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

__all__ = ["ByteStream", "connect", "on_asyncio"]

_RECEIVE_SIZE = 65536
#: How long an address gets before the next one is tried as well (RFC 8305, and anyio's).
_HAPPY_EYEBALLS_DELAY = 0.25


class ByteStream(Protocol):
    """What a connection needs of its socket."""

    async def send(self, data: bytes) -> None:
        """Write ``data``, waiting while the socket's buffer is full."""

    async def receive(self) -> bytes:
        """The next bytes that arrived; ``b""`` once the server closed its side."""

    def idle_news(self) -> bool:
        """Whether anything (data, or the end) arrived while no request was outstanding."""

    async def aclose(self) -> None:
        """Close at once, whatever is in flight."""


async def connect(host: str, port: int, tls: ssl.SSLContext | None) -> ByteStream:
    """Open a TCP (and, with ``tls``, TLS) connection on the running event loop's best stream."""
    if on_asyncio():
        return await AsyncioStream.connect(host, port, tls)
    return await AnyioStream.connect(host, port, tls)


def on_asyncio() -> bool:
    """Whether the caller runs in an asyncio task (not in trio, even one hosted by asyncio)."""
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # no asyncio event loop running
        return False


class AsyncioStream(asyncio.Protocol):
    """A connection fed by asyncio's protocol callbacks."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._chunks: deque[bytes] = deque()
        self._ended = False
        self._closed = False
        self._error: BaseException | None = None
        self._arrival: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None

    @classmethod
    async def connect(cls, host: str, port: int, tls: ssl.SSLContext | None) -> AsyncioStream:
        """Open a connection to ``host:port``, racing its addresses as RFC 8305 says.

        asyncio's own ``happy_eyeballs_delay`` is not used: uvloop does not take it, and on
        CPython 3.11 its race leaks the connected socket when the connect is cancelled.
        """
        addresses = await _resolve(host, port)
        if len(addresses) == 1:
            return await cls._open(addresses[0], port, tls, host)
        return await _race(addresses, lambda address: cls._open(address, port, tls, host))

    @classmethod
    async def _open(
        cls, address: str, port: int, tls: ssl.SSLContext | None, host: str
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        _, stream = await loop.create_connection(
            cls, address, port, ssl=tls, server_hostname=host if tls is not None else None
        )
        return stream

    # -- asyncio's callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport (always a stream transport for a TCP connection)."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        """Queue what arrived and wake the reader."""
        self._chunks.append(data)
        _wake(self._arrival)

    def eof_received(self) -> bool:
        """The server closed its side: the reader gets ``b""``; close ours too."""
        self._ended = True
        _wake(self._arrival)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: wake the reader and a blocked writer."""
        self._ended = True
        self._error = exc
        _wake(self._arrival)
        _wake(self._writable)

    def pause_writing(self) -> None:
        """The transport's buffer is full: writers wait."""
        self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        """The buffer drained: writers go on."""
        _wake(self._writable)
        self._writable = None

    # -- ByteStream ------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        """Write ``data``, waiting while the transport's buffer is full."""
        transport = self._transport
        if self._closed:
            raise anyio.ClosedResourceError
        if self._ended or transport is None or transport.is_closing():
            # The server closed its side (a TLS transport may not say it is closing yet).
            raise anyio.BrokenResourceError from self._error
        transport.write(data)
        if self._writable is not None:
            await self._writable
            if self._ended:
                raise anyio.BrokenResourceError from self._error

    async def receive(self) -> bytes:
        """The bytes that arrived so far, waiting for some; ``b""`` at the end."""
        while not self._chunks:
            if self._closed:
                raise anyio.ClosedResourceError
            if self._ended:
                if self._error is not None:
                    raise anyio.BrokenResourceError from self._error
                return b""
            self._arrival = self._loop.create_future()
            try:
                await self._arrival
            finally:
                self._arrival = None
        if len(self._chunks) == 1:
            return self._chunks.popleft()
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data

    def idle_news(self) -> bool:
        """Whether bytes or the end arrived since the last exchange."""
        return bool(self._chunks) or self._ended

    async def aclose(self) -> None:
        """Abort the connection: unsent bytes are dropped, the socket is closed."""
        self._closed = True
        if self._transport is not None:
            self._transport.abort()
        _wake(self._arrival)


async def _resolve(host: str, port: int) -> list[str]:
    """The addresses to try for ``host``, in RFC 8305 order; an IP address is its own.

    An address needs no lookup (asyncio's ``create_connection`` skips it too): the resolver runs
    in a worker thread, and a pool opening 50 connections at once would queue 50 of them.
    """
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return _interleaved([(family, str(sockaddr[0])) for family, _, _, _, sockaddr in infos])


def _interleaved(infos: list[tuple[int, str]]) -> list[str]:
    """Addresses without repeats, alternating families, the resolver's first family first."""
    by_family: dict[int, list[str]] = {}
    for family, address in infos:
        if address not in by_family.setdefault(family, []):
            by_family[family].append(address)
    queues = list(by_family.values())
    ordered: list[str] = []
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered


async def _race(
    addresses: list[str], open_one: Callable[[str], Awaitable[AsyncioStream]]
) -> AsyncioStream:
    """The first connection made, trying each address after a delay or the last one's failure.

    Any other attempt that connected too is closed, also when the race itself is cancelled.
    """
    connected: list[AsyncioStream] = []
    errors: list[OSError] = []

    async def attempt(address: str, failed: anyio.Event, group: anyio.abc.TaskGroup) -> None:
        try:
            connected.append(await open_one(address))
        except OSError as error:
            errors.append(error)
            failed.set()
        else:
            group.cancel_scope.cancel()

    try:
        async with anyio.create_task_group() as group:
            for address in addresses:
                failed = anyio.Event()
                group.start_soon(attempt, address, failed, group)
                with anyio.move_on_after(_HAPPY_EYEBALLS_DELAY):
                    await failed.wait()
    except BaseException:
        for stream in connected:
            await stream.aclose()
        raise
    for extra in connected[1:]:
        await extra.aclose()
    if not connected:
        raise OSError(f"all connection attempts failed: {errors}")
    return connected[0]


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class AnyioStream:
    """A connection on anyio's socket stream (trio, or any backend anyio supports)."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream
        raw = stream.extra(SocketAttribute.raw_socket, None)  # noqa: S610 (anyio, not Django)
        self._fd = raw.fileno() if raw is not None else -1

    @classmethod
    async def connect(cls, host: str, port: int, tls: ssl.SSLContext | None) -> AnyioStream:
        """Open a connection to ``host:port``."""
        if tls is None:
            return cls(await anyio.connect_tcp(host, port))
        stream = await anyio.connect_tcp(
            host, port, ssl_context=tls, tls_hostname=host, tls_standard_compatible=False
        )
        return cls(stream)

    async def send(self, data: bytes) -> None:
        """Write ``data``."""
        await self._stream.send(data)

    async def receive(self) -> bytes:
        """The next bytes; ``b""`` at the end."""
        try:
            return await self._stream.receive(_RECEIVE_SIZE)
        except anyio.EndOfStream:
            return b""

    def idle_news(self) -> bool:
        """Whether the socket is readable (data or the end) without reading it."""
        if self._fd < 0:
            return True
        try:
            return _readable(self._fd)
        except (OSError, ValueError):
            return True

    async def aclose(self) -> None:
        """Close at once."""
        await anyio.aclose_forcefully(self._stream)


def _readable(fd: int) -> bool:
    """Whether a read on ``fd`` would return at once (data or EOF)."""
    if _poll is None:  # Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = _poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


_poll = getattr(select, "poll", None)
