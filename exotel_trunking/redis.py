"""One account's rate limit, shared by every process and host through Redis.

Exotel counts its 200 calls a minute per *account*: three workers that each pace themselves
at 200 a minute send 600 and collect 429s. :class:`RedisRateLimiter` keeps one bucket per
account in Redis instead, and every client that uses it draws from that bucket::

    from exotel_trunking import AsyncTrunkingClient, RateLimit
    from exotel_trunking.redis import RedisRateLimiter

    async with RedisRateLimiter(
        "redis://127.0.0.1:6379/0", account_sid="acme", rate_limit=RateLimit(200, 60)
    ) as limiter:
        async with AsyncTrunkingClient(account_sid="acme", rate_limit=limiter) as client:
            ...

It needs the ``redis`` extra (``pip install "exotel-trunking[redis]"``), which brings coredis,
an anyio-based client: it runs on asyncio and on trio. ``import exotel_trunking`` never imports
it; only ``import exotel_trunking.redis`` does.

How it works
    One Lua script, run atomically by Redis on Redis's own clock (``TIME``), keeps a GCRA
    bucket (a "theoretical arrival time") under ``{key_prefix}:{<account_sid>}:gcra``. Each
    :meth:`~RedisRateLimiter.acquire` *reserves* the next free slot in one round trip and is
    told how long to wait for it; it then sleeps, without polling. A 429 (or an exhausted
    ``X-RateLimit-Remaining``) seen by any process is written to
    ``{key_prefix}:{<account_sid>}:cool-down`` with a ``PX`` expiry: every process learns of it
    at its next acquire and waits it out (a waiter whose reserved slot falls inside it checks
    once more when it wakes, and waits too), and the bucket then restarts empty, so requests
    resume one interval apart instead of all at once. Keys expire once they no longer matter.
    A cool-down longer than ``max_retry_after`` raises :class:`~exotel_trunking.RateLimitError`
    instead of being waited out, as the client does with a ``Retry-After`` it is given.

Cancellation
    A waiter that is cancelled while sleeping for its reserved slot gives the slot back, in the
    background, when no later reservation was made (the common case for the last waiter). A
    slot that cannot be given back is lost: that errs on the slow side, by one interval per
    cancelled waiter, and never lets more requests through.

When Redis is unreachable
    Every Redis call is bounded by ``timeout``. With ``on_unavailable="fallback"`` (the
    default) the limiter logs a warning on the ``exotel_trunking`` logger and paces this
    process alone with an in-process
    :class:`~exotel_trunking._transport.LocalRateLimiter`, trying Redis again every
    ``reconnect_interval`` seconds; nothing waits on Redis and no request is lost.
    With ``on_unavailable="raise"``, :meth:`~RedisRateLimiter.acquire` raises
    :class:`RedisUnavailableError` (an :class:`~exotel_trunking.APIConnectionError`): the
    request is not sent, and a bulk helper records the item as ``"failed"``. (coredis 6.9
    leaves each failed connection attempt's memory streams to the garbage collector, which
    emits a ``ResourceWarning``: a test suite that turns warnings into errors should ignore
    ``"Unclosed <MemoryObject"`` in its Redis-outage tests.)
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import anyio.abc

from ._exceptions import APIConnectionError, ConfigurationError, RateLimitError
from ._transport import LocalRateLimiter, RateLimit

try:
    import coredis
    from coredis.commands.script import Script
    from coredis.exceptions import RedisError
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        'exotel_trunking.redis needs the "redis" extra: pip install "exotel-trunking[redis]"'
    ) from error


__all__ = ["RedisRateLimiter", "RedisUnavailableError"]

logger = logging.getLogger("exotel_trunking")

DEFAULT_URL = "redis://127.0.0.1:6379/0"
OnUnavailable = Literal["fallback", "raise"]
_MODES: tuple[OnUnavailable, ...] = ("fallback", "raise")

# Times in Redis are integer microseconds since the epoch (below 2**53, so exact in Lua's
# doubles). Absolute times are written with '%.0f': Lua's default number format would round.
_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
"""

#: KEYS: gcra, cool-down. ARGV: interval, tolerance (microseconds).
#: Returns {reserved (0/1), wait, cool-down left, token}; during a cool-down nothing is
#: reserved: the caller sleeps until it ends and asks again.
_RESERVE = (
    _NOW
    + """
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then
    return {0, 0, blocked - now, ''}
end
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local start = math.max(tat - tonumber(ARGV[2]), now)
local next_tat = tat + tonumber(ARGV[1])
local token = string.format('%.0f', next_tat)
redis.call('SET', KEYS[1], token, 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return {1, start - now, 0, token}
"""
)

#: KEYS: gcra, cool-down. ARGV: pause, tolerance (microseconds). Returns the cool-down left.
#: The bucket restarts empty when the cool-down ends, as the server's does.
_COOL_DOWN = (
    _NOW
    + """
local pause = tonumber(ARGV[1])
local ends = now + pause
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > 0 and ends > blocked then
    redis.call('SET', KEYS[2], string.format('%.0f', ends), 'PX', math.ceil(pause / 1000))
    blocked = ends
end
local empty = ends + tonumber(ARGV[2])
if empty > tonumber(redis.call('GET', KEYS[1]) or '0') then
    redis.call('SET', KEYS[1], string.format('%.0f', empty), 'PX',
               math.ceil((empty - now) / 1000) + 1000)
end
return math.max(blocked - now, 0)
"""
)

#: KEYS: gcra. ARGV: token, interval. Gives a reserved slot back if it is still the last one.
_GIVE_BACK = (
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
"""
    + _NOW
    + """
local tat = tonumber(ARGV[1]) - tonumber(ARGV[2])
if tat <= now then
    redis.call('DEL', KEYS[1])
else
    redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX',
               math.ceil((tat - now) / 1000) + 1000)
end
return 1
"""
)


class RedisUnavailableError(APIConnectionError):
    """The shared rate limiter could not reach Redis, and ``on_unavailable="raise"``.

    Nothing was sent. The original error (a coredis ``ConnectionError``, a ``TimeoutError``,
    ...) is the ``__cause__``.
    """


class _UnexpectedReplyError(Exception):
    """Redis answered a script with something else than it returns (a foreign key?)."""


_UNAVAILABLE = (RedisError, OSError, _UnexpectedReplyError)  # OSError covers TimeoutError


class RedisRateLimiter:
    """A :class:`~exotel_trunking.RateLimiter` whose bucket and cool-down live in Redis.

    Pass it as ``AsyncTrunkingClient(rate_limit=limiter)``; every client, in every process,
    that uses the same Redis, ``key_prefix`` and ``account_sid`` (and the same ``rate_limit``)
    shares one limit. Use it as an async context manager, around the clients that use it: it
    holds the Redis connections and a small task group. An exception raised inside the block
    comes out as itself, not wrapped in an exception group.

    Args:
        url: The Redis server, e.g. ``"redis://:password@host:6379/0"``, ``"rediss://..."`` or
            ``"unix:///run/redis.sock"``; ``redis://127.0.0.1:6379/0`` by default.
        account_sid: The account whose limit this is; ``EXOTEL_ACCOUNT_SID`` if not given.
        rate_limit: The account's limit, shared by all processes (200 calls a minute, bursts
            of 10, by default). Every process must use the same one.
        key_prefix: The start of the Redis key names.
        on_unavailable: What happens when Redis cannot be reached in time: ``"fallback"``
            logs a warning and paces this process alone with an in-process limiter until
            Redis answers again; ``"raise"`` makes :meth:`acquire` (and entering the
            limiter) raise :class:`RedisUnavailableError`.
        timeout: Seconds allowed for each Redis call (connecting included).
        reconnect_interval: While falling back, how often Redis is tried again, in seconds.
        fallback_rate_limit: The pace of the in-process fallback; ``rate_limit`` by default.
            With N workers, ``RateLimit(calls // N, period)`` keeps the account under its
            limit even while Redis is down (otherwise the server's 429s do it).
        max_retry_after: The longest cool-down, learned from Redis, that :meth:`acquire`
            waits out; a longer one raises :class:`~exotel_trunking.RateLimitError` at once.
            Keep it equal to the clients' ``RetryPolicy.max_retry_after`` (120 s by default),
            so that a cool-down another process started is treated like one this process saw.
        client: An open ``coredis.Redis`` client to use instead of ``url``; enter it
            (``async with client:``) before the limiter. The limiter does not close it, and
            its own timeouts are not applied to it: only ``timeout`` bounds each call.

    Raises:
        ConfigurationError: a missing ``account_sid``, an unusable ``url``, both ``url`` and
            ``client``, an unknown ``on_unavailable``, or a ``timeout``,
            ``reconnect_interval`` or ``max_retry_after`` that is not positive.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        account_sid: str | None = None,
        rate_limit: RateLimit = RateLimit(),  # noqa: B008 - frozen, so sharing it is safe
        key_prefix: str = "exotel-trunking",
        on_unavailable: OnUnavailable = "fallback",
        timeout: float = 0.5,
        reconnect_interval: float = 5.0,
        fallback_rate_limit: RateLimit | None = None,
        max_retry_after: float = 120.0,
        client: coredis.Redis[Any] | None = None,
    ) -> None:
        account_sid = (
            account_sid if account_sid is not None else os.environ.get("EXOTEL_ACCOUNT_SID", "")
        )
        if not account_sid or any(c.isspace() or c in "{}" for c in account_sid):
            raise ConfigurationError(
                "account_sid is missing or invalid: pass account_sid= or set EXOTEL_ACCOUNT_SID "
                "(no whitespace or braces)"
            )
        if on_unavailable not in _MODES:
            raise ConfigurationError(
                f"on_unavailable={on_unavailable!r} is invalid: expected 'fallback' or 'raise'"
            )
        for name, value in (
            ("timeout", timeout),
            ("reconnect_interval", reconnect_interval),
            ("max_retry_after", max_retry_after),
        ):
            if not value > 0:
                raise ConfigurationError(f"{name}={value!r} must be a positive number of seconds")
        if client is not None and url is not None:
            raise ConfigurationError("pass url= or client=, not both")
        self._owns_client = client is None
        if client is None:
            url = DEFAULT_URL if url is None else url
            try:
                client = coredis.Redis.from_url(
                    url, connect_timeout=timeout, stream_timeout=timeout
                )
                self.location = _without_credentials(url)
            except (ValueError, TypeError) as exc:
                raise ConfigurationError(f"url is not a usable Redis URL: {exc}") from None
        else:
            self.location = repr(client)
        self.account_sid = account_sid
        self.rate_limit = rate_limit
        self.on_unavailable: OnUnavailable = on_unavailable
        self.timeout = timeout
        self.reconnect_interval = reconnect_interval
        self.max_retry_after = max_retry_after
        self.keys = (
            f"{key_prefix}:{{{account_sid}}}:gcra",
            f"{key_prefix}:{{{account_sid}}}:cool-down",
        )
        self._redis = client
        self._interval = round(rate_limit.interval * 1e6)
        self._tolerance = (rate_limit.burst - 1) * self._interval
        self._local = LocalRateLimiter(fallback_rate_limit or rate_limit)
        self._clock = time.monotonic
        self._blocked_until = float("-inf")
        self._reserved_until = float("-inf")  # this process's furthest slot in Redis
        self._falling_back = False
        self._retry_redis_at = float("-inf")
        self._scripts: tuple[Script[Any], Script[Any], Script[Any]] | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._stack: AsyncExitStack | None = None
        self._entered = False

    def __repr__(self) -> str:
        return (
            f"RedisRateLimiter(location={self.location!r}, account_sid={self.account_sid!r}, "
            f"rate_limit={self.rate_limit!r}, using_fallback={self._falling_back})"
        )

    @property
    def using_fallback(self) -> bool:
        """Whether this process is pacing itself alone because Redis could not be reached."""
        return self._falling_back

    @property
    def blocked_for(self) -> float:
        """Seconds left in the account's cool-down, as this process last learned it.

        It is refreshed by each :meth:`acquire`'s reply from Redis and by :meth:`cool_down`;
        while falling back, the in-process limiter's cool-down counts too.
        """
        left = max(0.0, self._blocked_until - self._clock())
        return max(left, self._local.blocked_for) if self._falling_back else left

    async def __aenter__(self) -> RedisRateLimiter:
        if self._entered:
            raise RuntimeError("a RedisRateLimiter can be entered only once")
        self._entered = True
        stack = AsyncExitStack()
        try:
            if self._owns_client:
                await stack.enter_async_context(self._redis)
            self._scripts = (
                self._redis.register_script(_RESERVE),
                self._redis.register_script(_COOL_DOWN),
                self._redis.register_script(_GIVE_BACK),
            )
            self._tasks = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._tasks.cancel_scope.cancel)  # pending give-backs are optional
            try:
                with anyio.fail_after(self.timeout):
                    await self._redis.script_load(_RESERVE)
            except _UNAVAILABLE as exc:
                await self._unavailable(exc)  # raises, or falls back with a warning
        except BaseException as exc:
            self._tasks = None
            await _exit(stack, exc)
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack, self._tasks = self._stack, None, None
        if stack is not None:
            await _exit(stack, exc)

    async def acquire(self) -> None:
        """Wait for the account's next free slot (and any cool-down), then take it.

        Raises:
            RateLimitError: the account's cool-down lasts longer than ``max_retry_after``.
            RedisUnavailableError: Redis could not be reached within ``timeout`` and
                ``on_unavailable="raise"``.
            RuntimeError: the limiter is not entered (``async with``).
        """
        reserve = self._scripts_or_raise()[0]
        while True:
            if not self._redis_due():
                await self._local.acquire()
                return
            try:
                with anyio.fail_after(self.timeout):
                    reply: object = await reserve(
                        keys=self.keys, args=(self._interval, self._tolerance)
                    )
                reserved, wait, blocked, token = _reserve_reply(reply)
            except _UNAVAILABLE as exc:
                await self._unavailable(exc)
                await self._local.acquire()
                return
            self._available()
            await self._learn(blocked)
            if not reserved:
                self._refuse_longer_than_allowed(blocked)
                await anyio.sleep(blocked)  # the cool-down: then ask for a slot again
                continue
            if wait <= 0:
                return
            self._reserved_until = max(self._reserved_until, self._clock() + wait)
            try:
                await anyio.sleep(wait)
            except anyio.get_cancelled_exc_class():
                self._give_back(token)
                raise
            # A 429 may have paused the account while this waiter slept: its slot then fell
            # inside the cool-down and is void (the bucket restarts behind it).
            left = await self._cool_down_left()
            if left <= 0:
                return
            await self._learn(left)
            self._refuse_longer_than_allowed(left)
            await anyio.sleep(left)

    def _refuse_longer_than_allowed(self, cool_down: float) -> None:
        if cool_down > self.max_retry_after:
            raise RateLimitError(
                f"the account is rate-limited for {cool_down:.0f}s more (a cool-down shared "
                f"through Redis), longer than max_retry_after ({self.max_retry_after:g}s); "
                "nothing was sent",
                status_code=429,
                retry_after=cool_down,
            )

    async def _cool_down_left(self) -> float:
        """The cool-down left, from this process's knowledge or else from Redis (0 if none)."""
        left = self._blocked_until - self._clock()
        if left > 0:
            return left
        try:
            with anyio.fail_after(self.timeout):
                milliseconds = await self._redis.pttl(self.keys[1])
        except _UNAVAILABLE:
            return 0.0  # the slot was granted; the next acquire finds out about Redis
        return max(0, milliseconds) / 1000

    async def cool_down(self, seconds: float) -> None:
        """Hold back every process's new requests for ``seconds`` (after a 429).

        This never raises for Redis trouble: the cool-down then holds in this process only.

        Raises:
            RuntimeError: the limiter is not entered (``async with``).
        """
        script = self._scripts_or_raise()[1]
        await self._local.cool_down(seconds)
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)
        if not self._redis_due():
            return
        try:
            with anyio.fail_after(self.timeout):
                reply: object = await script(
                    keys=self.keys, args=(max(0, round(seconds * 1e6)), self._tolerance)
                )
            if not isinstance(reply, int):
                raise _UnexpectedReplyError(f"unexpected reply {reply!r}")
        except _UNAVAILABLE as exc:
            if self.on_unavailable == "raise":
                logger.warning(
                    "could not share a %.3gs cool-down through Redis at %s (%s); "
                    "it holds in this process only",
                    seconds,
                    self.location,
                    _describe(exc),
                )
                return
            await self._unavailable(exc)
            return
        self._available()
        await self._learn(reply / 1e6)

    def _scripts_or_raise(self) -> tuple[Script[Any], Script[Any], Script[Any]]:
        if self._scripts is None or self._stack is None:
            raise RuntimeError(
                "enter the RedisRateLimiter first: async with RedisRateLimiter(...) as limiter"
            )
        return self._scripts

    def _redis_due(self) -> bool:
        """Whether to ask Redis now: always, unless falling back and not yet time to retry."""
        if not self._falling_back:
            return True
        now = self._clock()
        if now < self._retry_redis_at:
            return False
        self._retry_redis_at = now + self.reconnect_interval  # one task tries; others go on
        return True

    async def _unavailable(self, exc: BaseException) -> None:
        """Raise, or fall back, after a failed Redis call."""
        if self.on_unavailable == "raise":
            raise RedisUnavailableError(
                f"the shared rate limiter could not reach Redis at {self.location} within "
                f"{self.timeout:g}s ({_describe(exc)}); nothing was sent"
            ) from exc
        self._retry_redis_at = self._clock() + self.reconnect_interval
        if not self._falling_back:
            self._falling_back = True  # the local limiter already knows any cool-down
            # No burst on top of the shared schedule: the local bucket starts empty, once the
            # slots this process reserved in Redis have gone out.
            await self._local.cool_down(max(0.0, self._reserved_until - self._clock()))
            logger.warning(
                "Redis at %s is unavailable (%s): pacing this process alone at %s until "
                "it answers again (tried every %gs)",
                self.location,
                _describe(exc),
                self._local.rate_limit,
                self.reconnect_interval,
            )
        else:
            logger.debug("Redis at %s is still unavailable (%s)", self.location, _describe(exc))

    def _available(self) -> None:
        if self._falling_back:
            self._falling_back = False
            logger.info(
                "Redis at %s answers again: the account's limit is shared again", self.location
            )

    async def _learn(self, blocked: float) -> None:
        """Record the cool-down Redis reported; the in-process limiter learns it too."""
        self._blocked_until = self._clock() + blocked
        if blocked > self._local.blocked_for + 0.001:
            await self._local.cool_down(blocked)

    def _give_back(self, token: Any) -> None:
        if self._tasks is not None and self._scripts is not None:
            self._tasks.start_soon(self._run_give_back, token)

    async def _run_give_back(self, token: Any) -> None:
        assert self._scripts is not None
        try:
            with anyio.fail_after(self.timeout):
                await self._scripts[2](keys=self.keys[:1], args=(token, self._interval))
        except Exception as exc:  # best effort: the slot is lost, on the slow side
            logger.debug("could not give a reserved slot back (%s)", _describe(exc))


def _describe(error: BaseException) -> str:
    # A string, not the exception: a log record must not keep its traceback (and the
    # connection objects in its frames) alive.
    return f"{type(error).__name__}: {error}"


def _reserve_reply(reply: object) -> tuple[bool, float, float, Any]:
    """``(reserved, wait, cool-down left, token)`` from the reserve script's reply, in seconds."""
    if not (
        isinstance(reply, (list, tuple))
        and len(reply) == 4
        and all(isinstance(value, int) for value in reply[:3])
        and isinstance(reply[3], (bytes, str))
    ):
        raise _UnexpectedReplyError(f"unexpected reply {reply!r}")
    reserved, wait, blocked, token = reply
    return bool(reserved), wait / 1e6, blocked / 1e6, token


async def _exit(stack: AsyncExitStack, error: BaseException | None) -> None:
    """Close ``stack`` after ``error`` (or none); let ``error`` through as itself.

    The task groups (coredis' and the limiter's) wrap whatever the body raised in an
    exception group: the caller gets its own exception back instead of a group of one.
    """
    try:
        await stack.__aexit__(
            None if error is None else type(error),
            error,
            None if error is None else error.__traceback__,
        )
    except BaseExceptionGroup as group:
        if error is None or not _only(group, error):
            raise


def _only(group: BaseExceptionGroup[BaseException], error: BaseException) -> bool:
    """Whether ``error`` is all that ``group`` holds, however deeply nested."""
    return all(
        _only(inner, error) if isinstance(inner, BaseExceptionGroup) else inner is error
        for inner in group.exceptions
    )


def _without_credentials(url: str) -> str:
    """The URL to show in messages: scheme, host, port and path, never a password."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
