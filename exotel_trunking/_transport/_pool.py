"""The transport a client and its derived clients send on, and the event loop it lives in.

The SDK builds every request itself (URL, headers, JSON body, timeouts) and hands it to an
``httpx.AsyncBaseTransport``: by default the SDK's own connection pool, or the ``transport=``
given. ``httpx.AsyncClient.send`` would wrap each request in a cookie jar, an auth flow, a
redirect loop and event hooks, none of which does anything for the SDK's requests, and that
wrapping cost about a quarter of the client's CPU per request in a bulk run. A user's own
``http_client=`` is the exception: it is reached through :class:`ClientTransport`, which sends
with the client, so that everything configured on it applies.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from anyio.lowlevel import current_token

__all__ = ["ClientTransport", "Pool"]


class ClientTransport(httpx.AsyncBaseTransport):
    """Sends requests with the user's own ``httpx.AsyncClient``.

    The client's default headers, cookies, auth, event hooks, proxies and transport apply; the
    request's own headers win over the defaults; redirects are never followed. Closing this
    transport leaves the client open: its lifecycle is the user's.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with the client, its timeouts included; return the read response."""
        extensions = dict(request.extensions)
        timeout = extensions.pop("timeout", None)
        built = self.client.build_request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.content,
            extensions=extensions,
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else httpx.Timeout(**timeout),
        )
        return await self.client.send(built, follow_redirects=False)

    async def aclose(self) -> None:
        """Leave the client open (the user closes it)."""


class Pool:
    """The transport to send on, rebuilt when the SDK made it and the event loop changed.

    Pooled connections belong to the event loop that opened them; a client used under a second
    ``asyncio.run`` would otherwise hand out a connection of a closed loop. A user's own
    ``http_client`` is left alone: its lifecycle is the user's.

    Args:
        transport: The transport in use.
        factory: How to build a fresh transport, if the SDK owns it; ``None`` if the user does
            (``transport`` is then a :class:`ClientTransport`).
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        factory: Callable[[], httpx.AsyncBaseTransport] | None,
    ) -> None:
        self._transport = transport
        self._factory = factory
        self._loop: object = None
        self._closed = False

    @classmethod
    def of_client(cls, client: httpx.AsyncClient) -> Pool:
        """A pool that sends with the user's ``client`` and never closes it."""
        return cls(ClientTransport(client), None)

    @property
    def is_closed(self) -> bool:
        """Whether the pool was closed (``aclose``), or the user closed their client."""
        transport = self._transport
        if isinstance(transport, ClientTransport):
            return transport.client.is_closed
        return self._closed

    @property
    def closed_reason(self) -> str:
        """Why requests stop once :attr:`is_closed`, for the error that says so."""
        if isinstance(self._transport, ClientTransport):
            return "the http_client given to the client has been closed"
        return "the client has been closed"

    def transport(self) -> httpx.AsyncBaseTransport:
        """The transport to send with from the running event loop."""
        loop = current_token().native_token
        if loop is not self._loop:
            if self._loop is not None and self._factory is not None and not self._closed:
                # The old transport's connections belong to a loop that is gone: they can be
                # neither used nor closed from here, so they are left to the garbage collector.
                self._transport = self._factory()
            self._loop = loop
        return self._transport

    async def aclose(self) -> None:
        """Close the transport, if the SDK made it; later requests fail."""
        if self._closed:
            return
        self._closed = True
        if self._factory is not None:
            await self._transport.aclose()
