"""Which ``httpx2.AsyncClient`` a request is sent with: the user's, or the SDK's own.

Every attempt goes through an ``httpx2.AsyncClient``'s ``send``. When the user passes
``http_client=``, that client is used as it is and never closed by the SDK. Otherwise the SDK
builds its own, and builds it again when the running event loop changes: pooled connections
belong to the loop that opened them, so a client used under a second ``asyncio.run`` would
otherwise be handed a connection of a closed loop (httpx2 then fails with "Event loop is
closed").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import suppress
from types import TracebackType

import anyio
import httpx2
from anyio.lowlevel import current_token

__all__ = ["AttemptScope", "ClientProvider"]


class AttemptScope:
    """A cancel scope that is listed among a provider's attempts while it is entered."""

    def __init__(self, scope: anyio.CancelScope, attempts: set[anyio.CancelScope]) -> None:
        self._scope = scope
        self._attempts = attempts

    def __enter__(self) -> anyio.CancelScope:
        self._attempts.add(self._scope)
        return self._scope.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._attempts.discard(self._scope)
        return self._scope.__exit__(exc_type, exc, tb)


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
        self._attempts: set[anyio.CancelScope] = set()
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
        """Whether the SDK's client was closed (``aclose``), or the user closed theirs."""
        return self._closed or (self._factory is None and self._client.is_closed)

    @property
    def closed_reason(self) -> str:
        """Why requests stop once :attr:`is_closed`, for the error that says so."""
        if self._closed:
            return "the client has been closed"
        return "the http_client given to the client has been closed"

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

    def attempt(self, timeout: float | None) -> AttemptScope:
        """The scope of one attempt: cancelled after ``timeout`` seconds, or by :meth:`aclose`.

        Whoever leaves it with ``cancelled_caught`` tells the two apart with :attr:`is_closed`.
        """
        deadline = math.inf if timeout is None else anyio.current_time() + timeout
        return AttemptScope(anyio.CancelScope(deadline=deadline), self._attempts)

    async def aclose(self) -> None:
        """Stop the attempts under way and close the SDK's own client (never the user's).

        An attempt still connecting sends nothing afterwards; later requests fail.
        """
        if self._closed:
            return
        self._closed = True
        for scope in list(self._attempts):
            scope.cancel()
        if self._factory is None:
            return
        if self._loop is None or current_token().native_token is self._loop:
            await self._client.aclose()
            return
        # Its connections belong to an event loop that is gone (see client()) and cannot be
        # closed from here; the transport is still told (an AiohttpTransport marks its
        # session closed), and what it says of the dead loop is no news.
        with suppress(RuntimeError):
            await self._client.aclose()
