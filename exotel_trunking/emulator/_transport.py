"""The in-process front end: an ``httpx2.AsyncBaseTransport`` answering from an emulator.

Faults surface as the exceptions a real network would raise through httpx2: a dropped
connection is ``httpx2.RemoteProtocolError``, a refused one ``httpx2.ConnectError``, one broken
while the request is sent ``httpx2.WriteError``, a ``slow``
answer longer than the request's read timeout is ``httpx2.ReadTimeout`` (raised after waiting
that timeout, like a real client), and a ``slow_body`` answer streams its body a byte at a time
(``httpx2.ReadTimeout`` when a pause outlasts the read timeout).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx2

from ._messages import EmulatedRequest

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["EmulatorTransport"]


def _read_timeout(request: httpx2.Request) -> float | None:
    timeouts = request.extensions.get("timeout") or {}
    value = timeouts.get("read")
    return float(value) if value is not None else None


class _DrippingBody(httpx2.AsyncByteStream):
    """A body handed out a byte at a time, ``pause`` seconds apart, on the emulator's sleep."""

    def __init__(
        self, emulator: Emulator, request: httpx2.Request, body: bytes, pause: float
    ) -> None:
        self._emulator = emulator
        self._request = request
        self._body = body
        self._pause = pause
        self._read_timeout = _read_timeout(request)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index in range(len(self._body)):
            if self._read_timeout is not None and self._pause > self._read_timeout:
                await self._emulator.sleep(self._read_timeout)
                raise httpx2.ReadTimeout("The read operation timed out", request=self._request)
            await self._emulator.sleep(self._pause)
            yield self._body[index : index + 1]


class EmulatorTransport(httpx2.AsyncBaseTransport):
    """Serves requests from an :class:`~exotel_trunking.emulator.Emulator`, for any host.

    Use with ``httpx2.AsyncClient(transport=emulator.transport(), base_url=...)``.
    """

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator

    def __repr__(self) -> str:
        return f"EmulatorTransport({self._emulator!r})"

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Answer ``request`` from the emulator (or raise the network error a fault causes).

        Raises:
            httpx2.ConnectError: The emulator refused the connection.
            httpx2.WriteError: The connection broke while the request was being sent.
            httpx2.RemoteProtocolError: The emulator dropped the connection.
            httpx2.ReadTimeout: A ``slow`` answer outlasted the request's read timeout.
        """
        body = await request.aread()
        path, _, query = request.url.raw_path.decode("ascii").partition("?")
        emulated = EmulatedRequest(
            method=request.method,
            path=path,
            query=query,
            headers=list(request.headers.items()),
            body=body,
        )
        exchange = await self._emulator.handle(emulated, read_timeout=_read_timeout(request))
        if exchange.timed_out:
            raise httpx2.ReadTimeout("The read operation timed out", request=request)
        response = exchange.response
        if response is None and exchange.failed_at == "connect":
            raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)
        if response is None and exchange.failed_at == "write":
            raise httpx2.WriteError("[Errno 104] Connection reset by peer", request=request)
        if response is None:
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        head = request.method == "HEAD"  # answered with headers only, as over the network
        if exchange.drip is not None and not head:
            stream = _DrippingBody(self._emulator, request, response.body, exchange.drip)
            length = ("content-length", str(len(response.body)))
            return httpx2.Response(
                status_code=response.status,
                headers=[*response.headers, length],
                stream=stream,
                extensions={
                    "http_version": b"HTTP/1.1",
                    "reason_phrase": response.reason.encode("ascii"),
                },
            )
        return httpx2.Response(
            status_code=response.status,
            headers=list(response.headers),
            content=b"" if head else response.body,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": response.reason.encode("ascii"),
            },
        )
