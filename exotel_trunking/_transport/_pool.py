"""The connection pool a client and its derived clients share, and the event loop it lives in."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from anyio.lowlevel import current_token

__all__ = ["Pool"]


class Pool:
    """Holds the ``httpx.AsyncClient`` and rebuilds it when the SDK made it and the loop changed.

    Pooled connections belong to the event loop that opened them; a client used under a second
    ``asyncio.run`` would otherwise hand out a connection of a closed loop. A pool built from
    the user's own ``http_client`` is left alone: its lifecycle is the user's.

    Args:
        client: The client in use.
        factory: How to build a fresh client, if the SDK owns it; ``None`` if the user does.
    """

    def __init__(
        self, client: httpx.AsyncClient, factory: Callable[[], httpx.AsyncClient] | None
    ) -> None:
        self._client = client
        self._factory = factory
        self._loop: object = None

    @property
    def is_closed(self) -> bool:
        """Whether the client was closed (``aclose``)."""
        return self._client.is_closed

    def client(self) -> httpx.AsyncClient:
        """The client to send with from the running event loop."""
        loop = current_token().native_token
        if loop is not self._loop:
            if self._loop is not None and self._factory is not None and not self.is_closed:
                # The old client's connections belong to a loop that is gone: they can be
                # neither used nor closed from here, so they are left to the garbage collector.
                self._client = self._factory()
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the client, if the SDK made it."""
        if self._factory is not None:
            await self._client.aclose()
