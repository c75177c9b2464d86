"""The in-process front end: an ``httpx2.AsyncBaseTransport`` answering from an emulator.

Faults surface as the exceptions a real network would raise through httpx2: a dropped
connection is ``httpx2.RemoteProtocolError``, a ``slow`` answer longer than the request's read
timeout is ``httpx2.ReadTimeout`` (raised after waiting that timeout, like a real client).
"""

from __future__ import annotations

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
        if response is None:
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx2.Response(
            status_code=response.status,
            headers=list(response.headers),
            content=response.body,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": response.reason.encode("ascii"),
            },
        )
