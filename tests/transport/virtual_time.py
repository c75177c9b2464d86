"""Virtual time for the retry and limiter tests: sleeps end at once, in the right order.

:class:`VirtualTime` offers a monotonic clock, a wall clock and an async ``sleep``. Time only
moves when every task is blocked: then it jumps to the earliest pending wake-up. A test thus
observes exactly the delays the SDK chose, without waiting for them, on asyncio and on trio.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel
import attrs

from exotel_trunking import AsyncTrunkingClient
from exotel_trunking._transport import LocalRateLimiter

#: The wall clock reads this at virtual monotonic time 0.
EPOCH = 1_700_000_000.0
#: How long (in real seconds) a test using virtual time may take before it counts as hung.
REAL_TIMEOUT = 20.0


@attrs.define(eq=False)
class _Sleeper:
    event: anyio.Event
    done: bool = False


class VirtualTime:
    """A clock that jumps ahead when all tasks wait on it.

    Attributes:
        sleeps: ``(start, seconds)`` for every sleep requested, in order.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._queue: list[tuple[float, int, _Sleeper]] = []
        self._order = itertools.count()
        self._registered: anyio.Event | None = None
        self.sleeps: list[tuple[float, float]] = []

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return EPOCH + self._now

    async def sleep(self, seconds: float) -> None:
        """Sleep, and record the request in :attr:`sleeps` (the SDK's sleeps)."""
        # A NaN, infinite or negative sleep is an SDK bug: it would hang or crash for real.
        assert math.isfinite(seconds), f"sleep({seconds!r})"
        assert seconds >= 0, f"sleep({seconds!r})"
        self.sleeps.append((self._now, seconds))
        await self.pause(seconds)

    async def pause(self, seconds: float) -> None:
        """Sleep without recording it (the fake server's latency)."""
        if seconds == 0:
            await anyio.lowlevel.checkpoint()
            return
        sleeper = _Sleeper(anyio.Event())
        heapq.heappush(self._queue, (self._now + seconds, next(self._order), sleeper))
        if self._registered is not None:
            self._registered.set()
        try:
            await sleeper.event.wait()
        finally:
            sleeper.done = True  # a cancelled sleeper must not pull time forward

    async def _drive(self) -> None:
        while True:
            for _ in range(20):  # cheap: lets woken tasks run on before the exact check
                await anyio.lowlevel.checkpoint()
            await anyio.wait_all_tasks_blocked()
            while self._queue and self._queue[0][2].done:
                heapq.heappop(self._queue)
            if not self._queue:
                self._registered = anyio.Event()
                await self._registered.wait()
                continue
            self._now = max(self._now, self._queue[0][0])
            while self._queue and self._queue[0][0] <= self._now:
                sleeper = heapq.heappop(self._queue)[2]
                if not sleeper.done:
                    sleeper.done = True
                    sleeper.event.set()


@asynccontextmanager
async def virtual_time(start: float = 1_000.0) -> AsyncIterator[VirtualTime]:
    """Run the block with a :class:`VirtualTime` driven in the background."""
    clock = VirtualTime(start)
    with anyio.fail_after(REAL_TIMEOUT):
        async with anyio.create_task_group() as group:
            group.start_soon(clock._drive)
            try:
                yield clock
            finally:
                group.cancel_scope.cancel()


def use_virtual_time(
    client: AsyncTrunkingClient, clock: VirtualTime, rand: Callable[[], float]
) -> None:
    """Put the client's requester and limiter on ``clock`` and ``rand``.

    The requester and the limiter take ``clock``, ``sleep`` and ``rand`` at construction; the
    client does not pass them through, so the test sets them on the built objects.
    """
    requester = client._requester
    requester._clock = clock.monotonic
    requester._wall_clock = clock.time
    requester._sleep = clock.sleep
    requester._rand = rand
    limiter = requester.limiter
    assert isinstance(limiter, LocalRateLimiter), "a client built with its own limiter"
    limiter._clock = clock.monotonic
    limiter._sleep = clock.sleep
    limiter._rand = rand
