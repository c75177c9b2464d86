"""A real HTTP/1.1 server on 127.0.0.1 for the network tests (anyio + h11; asyncio and trio).

Pool, keep-alive, cancellation and streaming failures happen below the layer a mock transport
replaces, so these tests need real sockets. The server hands every request to a handler (a
:class:`~.fakeapi.FakeExotel`'s ``handle``) and carries out what it answers: a
:class:`~.fakeapi.Reply` (optionally delayed, or its body dripped a chunk at a time) or a
:class:`~.fakeapi.Drop` (close the connection without answering). It counts connections
(opened, open now, peak) and can close keep-alive connections that stay idle too long.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import h11

from .fakeapi import Drop, Refuse, Reply, Request

Handler = Callable[[Request], Awaitable[Reply | Drop | Refuse]]

_DISCONNECTED = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    h11.RemoteProtocolError,
    h11.LocalProtocolError,
    OSError,
)


class LoopbackServer:
    """Serves ``handler`` over HTTP/1.1; start it with :func:`serve`.

    Args:
        handler: Answers each request.
        idle_timeout: Close a keep-alive connection after this many idle seconds.

    Attributes:
        opened: Connections accepted so far.
        open_now: Connections open at the moment.
        peak_open: The most connections open at once.
        busy_now: Requests being handled at the moment.
        idle_closed: Keep-alive connections closed for being idle.
        received: Requests received (complete ones), in order.
        unanswered: Answers that could not be delivered (the client had gone).
    """

    def __init__(self, handler: Handler, *, idle_timeout: float | None = None) -> None:
        self.handler = handler
        self.idle_timeout = idle_timeout
        self.port = 0
        self.opened = 0
        self.open_now = 0
        self.peak_open = 0
        self.busy_now = 0
        self.idle_closed = 0
        self.received: list[Request] = []
        self.unanswered = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def connection(self, stream: anyio.abc.SocketStream) -> None:
        self.opened += 1
        self.open_now += 1
        self.peak_open = max(self.peak_open, self.open_now)
        connection = h11.Connection(h11.SERVER)
        try:
            await self._serve(stream, connection)
        except _DISCONNECTED:
            pass
        finally:
            self.open_now -= 1
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    async def _serve(self, stream: anyio.abc.SocketStream, connection: h11.Connection) -> None:
        while True:
            request = await self._read_request(stream, connection)
            if request is None:
                return
            self.received.append(request)
            self.busy_now += 1
            try:
                outcome = await self.handler(request)
                if isinstance(outcome, (Drop, Refuse)):
                    return
                try:
                    await self._answer(stream, connection, outcome)
                except _DISCONNECTED:
                    self.unanswered += 1
                    return
            finally:
                self.busy_now -= 1
            if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                return
            connection.start_next_cycle()

    async def _read_request(
        self, stream: anyio.abc.SocketStream, connection: h11.Connection
    ) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        waited_for_first_byte = True
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                idle_limit = self.idle_timeout if waited_for_first_byte else None
                with anyio.move_on_after(idle_limit):
                    try:
                        data = await stream.receive(65536)
                    except anyio.EndOfStream:
                        data = b""
                    connection.receive_data(data)
                    waited_for_first_byte = False
                    continue
                self.idle_closed += 1
                return None
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                target = head.target.decode("ascii")
                path, _, query = target.partition("?")
                pairs = (part.partition("=") for part in query.split("&") if part)
                params = {name: value for name, _, value in pairs}
                return Request(head.method.decode("ascii"), path, params, bytes(body))
            else:  # ConnectionClosed, or a protocol state we do not serve
                return None

    async def _answer(
        self, stream: anyio.abc.SocketStream, connection: h11.Connection, reply: Reply
    ) -> None:
        if reply.delay:
            await self._hold(stream, connection, reply.delay)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(reply.body))),
            *reply.headers,
        ]
        await stream.send(connection.send(h11.Response(status_code=reply.status, headers=headers)))
        if reply.drip is None:
            await stream.send(connection.send(h11.Data(data=reply.body)))
        else:
            for start in range(0, len(reply.body), reply.chunk):
                chunk = reply.body[start : start + reply.chunk]
                await stream.send(connection.send(h11.Data(data=chunk)))
                await anyio.sleep(reply.drip)
        await stream.send(connection.send(h11.EndOfMessage()))

    async def _hold(
        self, stream: anyio.abc.SocketStream, connection: h11.Connection, seconds: float
    ) -> None:
        """Wait ``seconds`` before answering, but notice a client that hangs up meanwhile."""
        with anyio.move_on_after(seconds):
            while True:
                data = await stream.receive(65536)  # EndOfStream: the client has gone
                connection.receive_data(data)


@asynccontextmanager
async def serve(
    handler: Handler, *, idle_timeout: float | None = None
) -> AsyncIterator[LoopbackServer]:
    """Run a :class:`LoopbackServer` on an ephemeral port of 127.0.0.1 for the block."""
    server = LoopbackServer(handler, idle_timeout=idle_timeout)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    server.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.connection, group)
        try:
            yield server
        finally:
            group.cancel_scope.cancel()
