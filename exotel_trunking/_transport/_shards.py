"""The SDK's default HTTP transport: the connection pool split into small shards.

httpcore 1.0's pool does work proportional to its size for every request it hands a connection
(it walks every connection, and under load re-queues requests that lost a race for an idle
one; see encode/httpcore#1035). At Exotel's 50 concurrent connections that bookkeeping costs
more client CPU than the rest of a request. Shards of a few connections each, with every
request sent to the least busy shard, keep each pool small. The total never exceeds the
client's ``max_connections``, and since the client never has more requests in flight than
that, a request always finds a shard with a free connection.
"""

from __future__ import annotations

import httpx

__all__ = ["ShardedTransport"]

#: Connections per shard: small enough for httpcore's bookkeeping to stay cheap.
SHARD_SIZE = 5


class ShardedTransport(httpx.AsyncBaseTransport):
    """``max_connections`` connections in shards of :data:`SHARD_SIZE`, least busy first.

    Args:
        max_connections: The total across all shards.
    """

    def __init__(self, max_connections: int) -> None:
        sizes = [SHARD_SIZE] * (max_connections // SHARD_SIZE)
        if max_connections % SHARD_SIZE:
            sizes.append(max_connections % SHARD_SIZE)
        self._shards = [
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size)
            )
            for size in sizes
        ]
        self._free = list(sizes)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on the shard with the most free connections; read the body."""
        index = self._free.index(max(self._free))
        self._free[index] -= 1
        try:
            response = await self._shards[index].handle_async_request(request)
            # The connection is only free again once the body is read; the SDK reads every
            # body whole anyway, so read it here, while the shard still counts it as busy.
            await response.aread()
        finally:
            self._free[index] += 1
        return response

    async def aclose(self) -> None:
        """Close every shard."""
        for shard in self._shards:
            await shard.aclose()
