"""A what-if, not part of the SDK: one client's connections split over several small pools.

httpcore's connection pool does work proportional to its size on every request it assigns
(every idle connection's socket is polled, and a keep-alive count walks the whole list), and
at high concurrency requests are often handed an idle connection another request was just
given, then re-queued. With 50 connections that costs more client CPU than everything else
in a request. Ten pools of five connections, each request going to the least busy one, keep
every pool small. The bulk case runs this through the public ``transport=`` argument to show
what the SDK would gain by doing the same inside its own transport.
"""

from __future__ import annotations

import httpx


class ShardedTransport(httpx.AsyncBaseTransport):
    """``shards`` httpx transports of ``connections`` each; a request goes to the least busy."""

    def __init__(self, shards: int = 10, connections: int = 5) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._shards = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(shards)]
        self._busy = [0] * shards

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._busy.index(min(self._busy))
        self._busy[index] += 1
        try:
            response = await self._shards[index].handle_async_request(request)
            await response.aread()  # the SDK reads every body whole anyway
        finally:
            self._busy[index] -= 1
        return response

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()
