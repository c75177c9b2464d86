"""The network front end: HTTP/1.1 with h11 over anyio sockets, on asyncio or trio.

Keep-alive connections with Content-Length bodies; a ``drop_*`` fault really closes the
socket, a ``slow`` one really waits (and gives up as soon as the client hangs up); idle
keep-alive connections are closed after the ``idle_timeout`` knob; connections are counted in
``emulator.connections``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from email.utils import formatdate
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
_SERVER_NAME = b"exotel-trunking-emulator"
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
        await listener.serve(functools.partial(_serve_connection, emulator))


@asynccontextmanager
async def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``emulator`` inside the caller's event loop while the block runs; yield its URL."""
    async with anyio.create_task_group() as task_group:
        url: str = await task_group.start(functools.partial(run_server, emulator, host, port))
        try:
            yield url
        finally:
            task_group.cancel_scope.cancel()


def _peer(stream: anyio.abc.SocketStream) -> str | None:
    try:
        address = stream.extra(SocketAttribute.remote_address)  # noqa: S610
    except anyio.TypedAttributeLookupError:
        return None
    return str(address[0]) if isinstance(address, tuple) else None


async def _serve_connection(emulator: Emulator, stream: anyio.abc.SocketStream) -> None:
    emulator.connections.connection_opened()
    try:
        await _converse(emulator, h11.Connection(h11.SERVER), stream, _peer(stream))
    except _GONE:
        pass
    except Exception:
        # One broken connection must never take the listener (and every other one) down.
        logger.exception("emulator connection failed")
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
        emulator.connections.connection_closed()


async def _converse(
    emulator: Emulator, conn: h11.Connection, stream: anyio.abc.SocketStream, peer: str | None
) -> None:
    """Answer requests on one connection until either side ends it."""
    while True:
        try:
            request = await _read_request(conn, stream, peer, emulator.knobs.idle_timeout)
        except h11.RemoteProtocolError as error:
            await _refuse(conn, stream, error.error_status_hint, "Malformed HTTP request")
            return
        except _BodyTooLargeError:
            await _refuse(conn, stream, 413, "Request body too large")
            return
        if request is None:
            return
        emulator.connections.requests += 1
        exchange = await _handle_watching(emulator, conn, stream, request)
        if exchange is None or exchange.response is None:
            return  # the client left, or a drop fault: close without answering
        await _send(conn, stream, exchange.response, head=request.method == "HEAD")
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return  # e.g. the client asked for "Connection: close"
        conn.start_next_cycle()


async def _read_request(
    conn: h11.Connection,
    stream: anyio.abc.SocketStream,
    peer: str | None,
    idle_timeout: float | None,
) -> EmulatedRequest | None:
    """Read one whole request, or return ``None`` if the connection ends or idles out."""
    start: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue:
                # curl sends "Expect: 100-continue" before bodies over 1 KiB, then waits.
                await stream.send(
                    conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
                )
            # The idle timeout only runs between requests, never inside one.
            waiting = idle_timeout if conn.their_state is h11.IDLE else None
            with anyio.move_on_after(waiting):
                try:
                    data = await stream.receive()
                except anyio.EndOfStream:
                    return None
                conn.receive_data(data)
                continue
            return None  # idle for too long: close the keep-alive connection
        if isinstance(event, h11.Request):
            start = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > _MAX_BODY:
                raise _BodyTooLargeError
        elif isinstance(event, h11.EndOfMessage) and start is not None:
            return _to_request(start, bytes(body), peer)
        else:  # ConnectionClosed, or PAUSED (never reached: one request at a time)
            return None


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
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.headers],
        body=body,
        client=peer,
    )


async def _handle_watching(
    emulator: Emulator,
    conn: h11.Connection,
    stream: anyio.abc.SocketStream,
    request: EmulatedRequest,
) -> Exchange | None:
    """Let the emulator answer, unless the client hangs up first (then return ``None``)."""
    exchange: Exchange | None = None
    async with anyio.create_task_group() as task_group:

        async def watch() -> None:
            # A client that gave up (read timeout) closes its socket; noticing it ends a slow
            # answer early, as a real server's write would fail.
            try:
                while True:
                    conn.receive_data(await stream.receive())
            except _GONE:
                task_group.cancel_scope.cancel()

        task_group.start_soon(watch)
        try:
            exchange = await emulator.handle(request)
        except Exception:
            logger.exception("emulator failed on %s %s", request.method, request.path)
            exchange = Exchange(EmulatedResponse.json(500, {"error": "emulator failure"}))
        task_group.cancel_scope.cancel()
    return exchange


async def _send(
    conn: h11.Connection,
    stream: anyio.abc.SocketStream,
    response: EmulatedResponse,
    *,
    head: bool = False,
) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers
    ]
    if response.header("server") is None:
        headers.append((b"server", _SERVER_NAME))
    headers.append((b"date", formatdate(usegmt=True).encode("ascii")))
    headers.append((b"content-length", str(len(response.body)).encode("ascii")))
    start = h11.Response(
        status_code=response.status, headers=headers, reason=response.reason.encode("ascii")
    )
    data = conn.send(start) or b""
    if response.body and not head:
        data += conn.send(h11.Data(data=response.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send(data)


async def _refuse(
    conn: h11.Connection, stream: anyio.abc.SocketStream, status: int, message: str
) -> None:
    """Answer a request that could not be read, if the protocol state still allows it."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    response = EmulatedResponse.json(status, {"error": message}, [("connection", "close")])
    with suppress(h11.LocalProtocolError):
        await _send(conn, stream, response)
