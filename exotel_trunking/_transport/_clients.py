"""Which ``httpx2.AsyncClient`` a request is sent with: the user's, or the SDK's own.

Every attempt goes through an ``httpx2.AsyncClient``'s ``send``. When the user passes
``http_client=``, that client is used as it is and never closed by the SDK. Otherwise the SDK
builds its own, and builds it again when the running event loop changes: pooled connections
belong to the loop that opened them, so a client used under a second ``asyncio.run`` would
otherwise be handed a connection of a closed loop (httpx2 then fails with "Event loop is
closed").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx2
from anyio.lowlevel import current_token

__all__ = ["ClientProvider"]


class ClientProvider:
    """Hands out the ``httpx2.AsyncClient`` to send with from the running event loop.

    Build it with :meth:`owned` (the SDK builds, rebuilds and closes the client) or
    :meth:`borrowed` (the user's client, used as it is).

    Attributes:
        request_headers: The headers each request carries itself: ``None`` for the SDK's own
            client, which has the SDK's headers as its defaults (merging them into every
            request would cost more than the rest of building it); the SDK's headers for a
            user's client, where they win over its defaults.
    """

    def __init__(
        self,
        client: httpx2.AsyncClient,
        factory: Callable[[], httpx2.AsyncClient] | None,
        request_headers: Mapping[str, str] | None,
    ) -> None:
        self._client = client
        self._factory = factory
        self._loop: object = None
        self._closed = False
        self.request_headers = request_headers

    @classmethod
    def owned(cls, factory: Callable[[], httpx2.AsyncClient]) -> ClientProvider:
        """A provider of the SDK's own clients, made by ``factory`` (once per event loop).

        ``factory`` gives each client the SDK's headers as its default headers.
        """
        return cls(factory(), factory, None)

    @classmethod
    def borrowed(cls, client: httpx2.AsyncClient, headers: Mapping[str, str]) -> ClientProvider:
        """A provider of the user's ``client``, which it never rebuilds or closes.

        ``headers`` (the SDK's) go with every request, over the client's defaults.
        """
        return cls(client, None, dict(headers))

    @property
    def is_closed(self) -> bool:
        """Whether the SDK closed its client (``aclose``), or the user closed theirs."""
        if self._factory is None:
            return self._client.is_closed
        return self._closed

    @property
    def closed_reason(self) -> str:
        """Why requests stop once :attr:`is_closed`, for the error that says so."""
        if self._factory is None:
            return "the http_client given to the client has been closed"
        return "the client has been closed"

    def client(self) -> httpx2.AsyncClient:
        """The client to send with from the running event loop."""
        loop = current_token().native_token
        if loop is not self._loop:
            if self._loop is not None and self._factory is not None and not self._closed:
                # The old client's connections belong to a loop that is gone: they can be
                # neither used nor closed from here, so they are left to the garbage collector.
                self._client = self._factory()
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the SDK's own client; later requests fail. The user's is left open."""
        if self._closed:
            return
        self._closed = True
        if self._factory is not None:
            await self._client.aclose()
