"""The client-wide limiter: token-bucket pacing plus a shared cool-down after a 429.

One :class:`Limiter` belongs to one client (and the clients derived from it), and every request
of every task passes through :meth:`Limiter.acquire` just before it is sent. Pacing is a GCRA
token bucket (a "theoretical arrival time" that advances by one interval per request); the
cool-down is a moment before which no new request may start. Both live on the same clock, so a
429 simply moves the bucket's schedule past the server's ``Retry-After``: afterwards requests
resume one interval apart instead of all at once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import attrs

from ._retry import default_random

__all__ = ["Limiter", "RateLimit"]

#: Without pacing, waiters released by a cool-down are spread over this share of it (at
#: least _MIN_SPREAD seconds) so that they do not arrive at the server in one burst.
_SPREAD_SHARE = 0.5
_MIN_SPREAD = 0.25


def _default_burst(instance: RateLimit) -> int:
    return min(instance.calls, 10)


@attrs.frozen
class RateLimit:
    """Client-side pacing: at most ``calls`` requests per ``period`` seconds.

    Attributes:
        calls: Requests allowed per period (Exotel's documented account limit is 200).
        period: The period in seconds (60 for "200 calls a minute").
        burst: How many requests may go back to back after an idle spell; by default the
            smaller of ``calls`` and 10. The sustained rate never exceeds ``calls / period``.
    """

    calls: int = attrs.field(default=200, validator=attrs.validators.gt(0))
    period: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    burst: int = attrs.field(
        default=attrs.Factory(_default_burst, takes_self=True), validator=attrs.validators.gt(0)
    )

    @property
    def interval(self) -> float:
        """Seconds between two requests at the sustained rate."""
        return self.period / self.calls


class Limiter:
    """Paces requests and holds them back during a cool-down; shared by all of a client's tasks.

    Args:
        rate_limit: The pacing, or ``None`` for no pacing (the cool-down still applies).
        clock: A monotonic clock in seconds (injectable for tests).
        sleep: An async sleep (injectable for tests).
        rand: A source of floats in [0, 1) for spreading waiters after a cool-down.
    """

    def __init__(
        self,
        rate_limit: RateLimit | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = default_random,
    ) -> None:
        self.rate_limit = rate_limit
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._lock = anyio.Lock()
        self._blocked_until = float("-inf")
        self._spread = 0.0
        if rate_limit is None:
            self._interval = 0.0
            self._tolerance = 0.0
        else:
            self._interval = rate_limit.interval
            self._tolerance = (rate_limit.burst - 1) * rate_limit.interval
        self._tat = float("-inf")  # when the bucket is empty again; -inf means full

    @property
    def blocked_for(self) -> float:
        """Seconds left in the current cool-down (0 if there is none)."""
        return max(0.0, self._blocked_until - self._clock())

    async def acquire(self) -> None:
        """Wait until one more request may be sent, then count it.

        Cancelling a waiter leaves nothing behind: a request is only counted when it returns.
        """
        if self.rate_limit is None:
            await self._wait_cool_down()
            return
        async with self._lock:  # FIFO: waiters go out in the order they came
            while True:
                now = self._clock()
                start = max(self._tat - self._tolerance, self._blocked_until)
                if start <= now:
                    self._tat = max(self._tat, now) + self._interval
                    return
                await self._sleep(start - now)

    async def _wait_cool_down(self) -> None:
        while (wait := self._blocked_until - self._clock()) > 0:
            await self._sleep(wait + self._spread * self._rand())

    def cool_down(self, seconds: float) -> None:
        """Hold back every new request for ``seconds`` (after a 429 or an exhausted quota)."""
        until = self._clock() + seconds
        if until <= self._blocked_until:
            return
        self._blocked_until = until
        self._spread = max(_MIN_SPREAD, seconds * _SPREAD_SHARE)
        if self.rate_limit is not None:
            # The server's bucket is empty at `until`: restart ours empty at the same moment.
            self._tat = max(self._tat, until + self._tolerance)
