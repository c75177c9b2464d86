"""The client-wide limiter: token-bucket pacing plus a shared cool-down after a 429.

One :class:`LocalRateLimiter` belongs to one client (and the clients derived from it), and
every request of every task passes through :meth:`LocalRateLimiter.acquire` just before it is
sent. Pacing is a GCRA token bucket (a "theoretical arrival time" that advances by one
interval per request); the cool-down is a moment before which no new request may start. Both
live on the same clock, so a 429 simply moves the bucket's schedule past the server's
``Retry-After``: afterwards requests resume one interval apart instead of all at once.

Without configured pacing there is no interval to resume at, so a 429 starts a *recovery*, the
way TCP recovers from congestion: the client resumes at the rate the server accepted over the
last second (requests sent minus those refused) and doubles it every second until the next 429;
from then on each 429 (at most one cut a second) sets it to the higher of the accepted rate and
half the current one, and it grows by a quarter a second. Once it is fast enough, pacing stops
altogether. A client that floods the server is thus brought down to what the server accepts,
while a stray 429 (a proxy, another client on the account) costs it little.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import anyio
import attrs

from ._retry import default_random

__all__ = ["LocalRateLimiter", "RateLimit", "RateLimiter", "Recovery"]

#: How much slower than ``calls / period`` the client paces (see ``RateLimit.interval``).
_PACING_MARGIN = 1.02
#: Waiters released by a cool-down are spread over this share of it (at least _MIN_SPREAD
#: seconds) so that they do not reach the server in the same instant.
_SPREAD_SHARE = 0.5
_MIN_SPREAD = 0.25
#: Recovery: the slowest rate it resumes at, the requests it lets go back to back, how fast
#: it grows per second before and after its first cut, and the rate at which it stops pacing.
_MIN_RECOVERY_RATE = 2.0
_RECOVERY_BURST = 2
_PROBING_GROWTH = 2.0
_STEADY_GROWTH = 1.25
_RECOVERY_DONE_RATE = 1000.0
#: The window over which the accepted rate is measured for a 429 wave, and the shortest span
#: it is measured over when the client had been sending for less than a window.
_WINDOW = 1.0
_MIN_SPAN = 0.1


def _default_burst(instance: RateLimit) -> int:
    return min(instance.calls, 5)


@attrs.frozen
class RateLimit:
    """Client-side pacing: at most ``calls`` requests per ``period`` seconds.

    Attributes:
        calls: Requests allowed per period (Exotel's documented account limit is 200).
        period: The period in seconds (60 for "200 calls a minute").
        burst: How many requests may go back to back after an idle spell; by default the
            smaller of ``calls`` and 5. The sustained rate never exceeds ``calls / period``.
            Keep it below the server's own burst: requests admitted together can reach the
            server closer together still (new connections are set up at different speeds).
    """

    calls: int = attrs.field(default=200, validator=attrs.validators.gt(0))
    period: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    burst: int = attrs.field(
        default=attrs.Factory(_default_burst, takes_self=True), validator=attrs.validators.gt(0)
    )

    @property
    def interval(self) -> float:
        """Seconds between two paced requests: 2% more than ``period / calls``.

        The margin keeps the client under the server's limit when the two clocks disagree by
        a little or the network delivers two requests closer together than they were sent;
        an exact pace would meet the server's bucket at its very edge, where a 429 costs a
        whole ``Retry-After``.
        """
        return self.period / self.calls * _PACING_MARGIN


@runtime_checkable
class RateLimiter(Protocol):
    """What a client needs of a rate limiter; pass your own as ``rate_limit=``.

    :class:`LocalRateLimiter` is the in-process implementation. A shared one (e.g. in Redis) lets
    several processes keep one account under its limit together.
    """

    @property
    def blocked_for(self) -> float:
        """Seconds left in the cool-down, as far as this process knows (0 if none)."""

    async def acquire(self) -> None:
        """Wait until one more request may be sent, then count it."""

    async def cool_down(self, seconds: float) -> None:
        """Hold back every new request for ``seconds`` (after a 429 or an exhausted quota)."""


class LocalRateLimiter:
    """Paces requests and holds them back during a cool-down; shared by all of a client's tasks.

    Args:
        rate_limit: The pacing, or ``None`` for no pacing (a 429 still starts a cool-down
            and a :class:`Recovery`).
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
        self._tat = float("-inf")  # when the bucket is empty again; -inf means full
        self.recovery = Recovery() if rate_limit is None else None

    @property
    def blocked_for(self) -> float:
        """Seconds left in the current cool-down (0 if there is none)."""
        return max(0.0, self._blocked_until - self._clock())

    async def acquire(self) -> None:
        """Wait until one more request may be sent, then count it.

        Cancelling a waiter leaves nothing behind: a request is only counted when it returns.
        """
        recovery = self.recovery
        if recovery is not None and not recovery.active:
            await self._wait_cool_down()
            if not recovery.active:  # a 429 may have started a recovery meanwhile
                recovery.sent(self._clock())
                return
        async with self._lock:  # FIFO: waiters go out in the order they came
            while True:
                now = self._clock()
                interval, tolerance = self._pace(now)
                start = max(self._tat - tolerance, self._blocked_until)
                if start <= now:
                    self._tat = max(self._tat, now) + interval
                    if recovery is not None:
                        recovery.sent(now)
                    return
                await self._sleep(start - now)

    def _pace(self, now: float) -> tuple[float, float]:
        """The interval between requests and the burst tolerance, at ``now``."""
        if self.rate_limit is not None:
            return self.rate_limit.interval, (self.rate_limit.burst - 1) * self.rate_limit.interval
        assert self.recovery is not None
        rate = self.recovery.rate(now, self._blocked_until)
        if rate is None:
            return 0.0, 0.0
        return 1.0 / rate, (_RECOVERY_BURST - 1) / rate

    async def _wait_cool_down(self) -> None:
        while (wait := self._blocked_until - self._clock()) > 0:
            await self._sleep(wait + self._spread * self._rand())

    async def cool_down(self, seconds: float) -> None:
        """Hold back every new request for ``seconds`` (after a 429 or an exhausted quota)."""
        now = self._clock()
        until = now + seconds
        if until > self._blocked_until:
            self._blocked_until = until
            self._spread = max(_MIN_SPREAD, seconds * _SPREAD_SHARE)
        if self.rate_limit is not None:
            # The server's bucket is empty at `until`: restart ours empty at the same moment.
            pace = self.rate_limit
            self._tat = max(self._tat, until + (pace.burst - 1) * pace.interval)
        else:
            assert self.recovery is not None
            self.recovery.refused(now)
            self._tat = max(self._tat, self._blocked_until)


class Recovery:
    """The pace of an unpaced client after a 429, learned from what the server accepted.

    Each 429 wave (the first refusal, and any within the next second) is measured when its
    cool-down ends, so that every refusal of the wave has been counted: the accepted rate is the
    requests sent minus those refused, over the second before the wave (or the time since the
    first request, if shorter). The first recovery starts there and doubles every second; later
    waves set the rate to the higher of the accepted rate and half the current one, and it then
    grows by a quarter a second. Above :data:`_RECOVERY_DONE_RATE` it stops pacing.
    """

    def __init__(self) -> None:
        self.current: float | None = None
        self._growth = _PROBING_GROWTH
        self._grown_at = 0.0
        self._wave_at = float("-inf")
        self._pending = False
        self._first_send: float | None = None
        self._sent: deque[float] = deque()
        self._refused: deque[float] = deque()

    @property
    def active(self) -> bool:
        """Whether requests are being paced (or a wave awaits measuring)."""
        return self.current is not None or self._pending

    def sent(self, now: float) -> None:
        """Count a request that goes out."""
        if self._first_send is None:
            self._first_send = now
        self._sent.append(now)
        self._forget(self._sent, now)

    def refused(self, now: float) -> None:
        """Count a 429 (or an exhausted quota)."""
        self._refused.append(now)
        self._forget(self._refused, now)
        if now - self._wave_at >= _WINDOW:  # the first refusal of a wave, not its echoes
            self._wave_at = now
            self._pending = True

    def rate(self, now: float, blocked_until: float) -> float | None:
        """The pace at ``now``, in requests a second, or ``None`` for no pacing."""
        if self._pending and now >= blocked_until:
            self._measure(now)
        if self.current is None:
            return None
        if now > self._grown_at:  # it grows only while requests may flow
            self.current *= self._growth ** (now - self._grown_at)
            self._grown_at = now
            if self.current > _RECOVERY_DONE_RATE:
                self.current = None
        return self.current

    def _measure(self, now: float) -> None:
        start = self._wave_at - _WINDOW
        sent = sum(1 for at in self._sent if at >= start)
        refused = sum(1 for at in self._refused if at >= start)
        since = _WINDOW if self._first_send is None else self._wave_at - self._first_send
        accepted = (sent - refused) / max(_MIN_SPAN, min(_WINDOW, since))
        if self.current is None:
            rate, self._growth = accepted, _PROBING_GROWTH
        else:
            rate, self._growth = max(accepted, self.current / 2), _STEADY_GROWTH
        self.current = max(_MIN_RECOVERY_RATE, rate)
        self._grown_at = now
        self._pending = False

    def _forget(self, times: deque[float], now: float) -> None:
        # Keep what the pending measurement needs: the second before the wave began.
        horizon = min(now, self._wave_at) - _WINDOW if self._pending else now - _WINDOW
        while times and times[0] < horizon:
            times.popleft()
