"""The network front end: HTTP/1.1 with h11, on anyio (asyncio or trio).

Keep-alive connections with Content-Length bodies; a ``drop_*``, ``refuse`` or ``write_error``
fault really closes the socket (a served request has arrived whole before its fault is chosen,
so the client sees a dropped connection), a ``slow`` one really waits (and gives up as soon as
the client hangs up), a ``slow_body`` one sends the head and then the body a byte at a time;
idle keep-alive connections are closed after the ``idle_timeout`` knob; connections are counted in
``emulator.connections``.

anyio opens the listening sockets and carries every connection's bytes. Each connection is a
:class:`_Conversation`: h11 and the loop that reads a request, lets the emulator answer it and
writes the answer. Its reader task receives every byte as soon as it comes, so a client that
hangs up is noticed at once (even during a slow answer) and the conversation ends without
answering, as a real server's write would fail.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import anyio.abc
import h11
from anyio.abc import SocketAttribute

from ._messages import EmulatedRequest, EmulatedResponse, Exchange

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["base_url", "run_server", "serve"]

logger = logging.getLogger("exotel_trunking.emulator")

_MAX_BODY = 1 << 20
_READ_SIZE = 1 << 16
_SERVER_NAME = b"exotel-trunking-emulator"
_REASONS = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}
# h11's events are immutable: one will do for every answer.
_END_OF_MESSAGE = h11.EndOfMessage()
# Errors that mean the peer went away or the socket is unusable: the connection just ends.
_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class _BodyTooLargeError(Exception):
    pass


def base_url(host: str, port: int) -> str:
    """``http://host:port``, with brackets around an IPv6 host."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def run_server(
    emulator: Emulator,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[str], object] | None = None,
    task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``emulator`` over HTTP/1.1 until cancelled.

    Args:
        emulator: The emulator to serve.
        host: The address to listen on.
        port: The port; 0 picks a free one.
        on_ready: Called with the base URL once connections are accepted.
        task_status: For ``task_group.start(run_server, ...)``, which returns the base URL.
    """
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    async with listener:
        # anyio's typed attributes; ruff's S610 mistakes ``.extra`` for Django's.
        url = base_url(host, listener.extra(SocketAttribute.local_port))  # noqa: S610
        task_status.started(url)
        if on_ready is not None:
            on_ready(url)
        await listener.serve(functools.partial(_serve_stream, emulator))


@asynccontextmanager
async def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``emulator`` inside the caller's event loop while the block runs; yield its URL."""
    async with anyio.create_task_group() as task_group:
        url: str = await task_group.start(functools.partial(run_server, emulator, host, port))
        try:
            yield url
        finally:
            task_group.cancel_scope.cancel()


def _host(address: object) -> str | None:
    """The IP address of a socket address, if it is an IP one."""
    return str(address[0]) if isinstance(address, tuple) else None


@functools.lru_cache(maxsize=1)
def _http_date(second: int) -> bytes:
    """The ``Date`` header's value for ``second`` (formatted once a second, not per answer)."""
    return formatdate(second, usegmt=True).encode("ascii")


def _to_request(start: h11.Request, body: bytes, peer: str | None) -> EmulatedRequest:
    target = start.target.decode("ascii", "replace")
    if not target.startswith("/"):
        parts = urlsplit(target)  # absolute-form, as a proxy would send it
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    path, _, query = target.partition("?")
    return EmulatedRequest(
        method=start.method.decode("ascii", "replace"),
        path=path,
        query=query,
        # Raw names: EmulatedRequest lower-cases them itself (h11's own loop is slower).
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.headers.raw_items()],
        body=body,
        client=peer,
    )


class _Conversation:
    """One connection's HTTP/1.1 conversation: read a request, answer it, and again.

    A reader task (:meth:`_read`) feeds whatever the client sends to h11 as soon as it comes,
    and cancels the conversation when the client hangs up.
    """

    def __init__(self, emulator: Emulator, stream: anyio.abc.SocketStream) -> None:
        self._emulator = emulator
        self._stream = stream
        self._conn = h11.Connection(h11.SERVER)
        self._peer: str | None = None
        with suppress(anyio.TypedAttributeLookupError):
            self._peer = _host(stream.extra(SocketAttribute.remote_address))  # noqa: S610
        # When the first bytes of the request being read arrived (on the emulator's clock), if
        # any have: its latency counts from then, not from when this task got to them.
        self._received: float | None = None
        # Set (then forgotten) by the reader when bytes arrive for a waiting conversation.
        self._arrived: anyio.Event | None = None

    async def run(self) -> None:
        """Converse until either side ends the connection."""
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(self._read, task_group.cancel_scope)
            try:
                await self._converse()
            except _GONE:
                pass
            finally:
                task_group.cancel_scope.cancel()

    async def _read(self, conversation: anyio.CancelScope) -> None:
        """Feed whatever the client sends to h11; end the conversation when it hangs up."""
        try:
            while True:
                self._feed(await self._stream.receive(_READ_SIZE))
                if self._arrived is not None:
                    self._arrived.set()
                    self._arrived = None
        except _GONE:
            conversation.cancel()

    async def _send(self, data: bytes) -> None:
        """Write ``data`` to the client."""
        await self._stream.send(data)

    async def _more_data(self, idle_timeout: float | None) -> bool:
        """Wait until more bytes were fed to h11; ``False`` if none came for ``idle_timeout``."""
        arrived = self._arrived = anyio.Event()
        with anyio.move_on_after(idle_timeout):
            await arrived.wait()
            return True
        return False

    async def _converse(self) -> None:
        """Answer requests until either side ends the connection."""
        conn, emulator = self._conn, self._emulator
        while True:
            try:
                request = await self._next_request()
            except h11.RemoteProtocolError as error:
                await self._refuse(error.error_status_hint, "Malformed HTTP request")
                return
            except _BodyTooLargeError:
                await self._refuse(413, "Request body too large")
                return
            if request is None:
                return
            emulator.connections.requests += 1
            arrived, self._received = self._received, None
            exchange = await self._handle(request, arrived)
            if exchange.response is None:
                return  # a drop fault: close without answering
            head = request.method == "HEAD"
            if exchange.drip is not None and not head:
                await self._drip(exchange.response, exchange.drip)
            else:
                await self._send(self._serialize(exchange.response, head=head))
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # e.g. the client asked for "Connection: close"
            conn.start_next_cycle()

    async def _next_request(self) -> EmulatedRequest | None:
        """Read one whole request, or return ``None`` if the connection idles out."""
        conn = self._conn
        start: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if conn.they_are_waiting_for_100_continue:
                    # curl sends "Expect: 100-continue" before bodies over 1 KiB, then waits.
                    interim = h11.InformationalResponse(status_code=100, headers=[])
                    await self._send(conn.send(interim) or b"")
                    continue  # the body may have come in the meantime
                # The idle timeout only runs between requests, never inside one.
                idle = conn.their_state is h11.IDLE
                if not await self._more_data(self._emulator.knobs.idle_timeout if idle else None):
                    self._emulator.connections.idle_closed += 1
                    return None  # idle for too long: close the keep-alive connection
            # Exact types, as h11 checks its own (its events' base class is an ABC: slower).
            elif type(event) is h11.Request:
                start = event
            elif type(event) is h11.Data:
                body += event.data
                if len(body) > _MAX_BODY:
                    raise _BodyTooLargeError
            elif type(event) is h11.EndOfMessage and start is not None:
                return _to_request(start, bytes(body), self._peer)
            else:  # ConnectionClosed, or PAUSED (never reached: one request at a time)
                return None

    def _feed(self, data: bytes) -> None:
        """Hand bytes from the client to h11, noting when a request's first bytes came."""
        if self._received is None:
            self._received = self._emulator.clock()
        self._conn.receive_data(data)

    async def _handle(self, request: EmulatedRequest, arrived: float | None) -> Exchange:
        """Let the emulator answer (an emulator bug answers 500)."""
        try:
            return await self._emulator.handle(request, arrived=arrived)
        except Exception:
            logger.exception("emulator failed on %s %s", request.method, request.path)
            return Exchange(EmulatedResponse.json(500, {"error": "emulator failure"}))

    def _serialize(self, response: EmulatedResponse, *, head: bool = False) -> bytes:
        """The bytes of ``response``, with ``Server``, ``Date`` and ``Content-Length``."""
        conn = self._conn
        data = self._start(response)
        if response.body and not head:
            data += conn.send(h11.Data(data=response.body)) or b""
        return data + (conn.send(_END_OF_MESSAGE) or b"")

    async def _drip(self, response: EmulatedResponse, pause: float) -> None:
        """Send the head of ``response`` at once, then its body a byte every ``pause`` seconds."""
        conn = self._conn
        await self._send(self._start(response))
        for index in range(len(response.body)):
            await self._emulator.sleep(pause)
            await self._send(conn.send(h11.Data(data=response.body[index : index + 1])) or b"")
        await self._send(conn.send(_END_OF_MESSAGE) or b"")

    def _start(self, response: EmulatedResponse) -> bytes:
        """The status line and headers of ``response``, as h11 writes them."""
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers
        ]
        if response.header("server") is None:
            headers.append((b"server", _SERVER_NAME))
        if response.header("date") is None:  # a fault's headers may bring their own
            headers.append((b"date", _http_date(int(time.time()))))
        headers.append((b"content-length", b"%d" % len(response.body)))
        reason = _REASONS.get(response.status, b"")
        start = h11.Response(status_code=response.status, headers=headers, reason=reason)
        return self._conn.send(start) or b""

    async def _refuse(self, status: int, message: str) -> None:
        """Answer a request that could not be read, if the protocol state still allows it."""
        if self._conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        response = EmulatedResponse.json(status, {"error": message}, [("connection", "close")])
        try:
            data = self._serialize(response)
        except h11.LocalProtocolError:
            return
        await self._send(data)


# -- serving a connection ------------------------------------------------------------------


async def _serve_stream(emulator: Emulator, stream: anyio.abc.SocketStream) -> None:
    emulator.connections.connection_opened()
    try:
        await _Conversation(emulator, stream).run()
    except Exception:
        # One broken connection must never take the listener (and every other one) down.
        logger.exception("emulator connection failed")
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
        emulator.connections.connection_closed()
