"""Send one logical request: wait for a slot and the limiter, send, decode, retry.

A resource describes an endpoint as a :class:`Call`; :meth:`Requester.request` builds the
``httpx2.Request`` and sends every attempt with ``httpx2.AsyncClient.send`` (the client comes
from :mod:`._clients`), reads the body within the size and time bounds, and returns the
decoded :class:`Envelope`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any

import anyio
import attrs
import httpx2

from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConflictError,
    RateLimitError,
    ResponseDecodeError,
)
from .._telemetry import Site
from ._clients import ClientProvider
from ._envelope import Envelope, decode
from ._ratelimit import RateLimiter
from ._retry import (
    Failure,
    RetryPolicy,
    backoff_delay,
    default_random,
    failure_for_status,
    may_repeat,
    parse_rate_limit_reset,
    parse_retry_after,
)
from ._watch import CallWatch, watch_call

__all__ = ["Call", "RateLimitWait", "Requester", "RetryEvent"]

logger = logging.getLogger("exotel_trunking")

#: Failures before anything reached the API (a refused CONNECT or SOCKS handshake included).
_NOT_SENT_ERRORS = (
    httpx2.ConnectError,
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
    httpx2.ProxyError,
)
#: Failures after which a repeat may find the first attempt applied.
_MAYBE_APPLIED = frozenset({Failure.UNKNOWN_OUTCOME, Failure.GATEWAY})
_IDEMPOTENT_METHODS = frozenset({"GET", "DELETE"})
#: A hold ending within this many seconds of one already announced is the same hold.
_HOLD_SLACK = 0.5


class AttemptTimeoutError(httpx2.TimeoutException):
    """One attempt outlasted ``attempt_timeout`` (e.g. a server dripping its answer)."""


@attrs.frozen
class Answer:
    """One attempt's response, read whole.

    Attributes:
        status_code: The HTTP status.
        headers: The response headers.
        body: The body, decoded from any ``Content-Encoding``.
    """

    status_code: int
    headers: httpx2.Headers
    body: bytes


@attrs.frozen
class Call:
    """One API call, as a resource describes it.

    Attributes:
        method: The HTTP method.
        path: The path below ``/v2/accounts/{account_sid}/``, already percent-encoded.
        params: Query parameters.
        json: The JSON body, if any.
        repeatable: Whether repeating the call after an unknown outcome is harmless; by
            default, for GET and DELETE.
        recover: How to fetch the existing record when a repeat after an unknown outcome
            fails with ``recover_on`` (the first attempt had in fact succeeded): a POST's
            repeat answers 409, a DELETE's answers 404. Returns ``None`` if it finds nothing,
            and the failure then stands.
        recover_on: The error that means "the first attempt succeeded" on a repeat.
        unknown_outcome: What to tell the caller when a non-repeatable call's outcome is
            unknown (e.g. "the trunk may have been created").
        operation: What telemetry and logs call it: ``"trunks.create"``, ``"phone_numbers.list"``.
        template: ``path`` with its variable parts named, as ``url.template`` reports it:
            ``"trunks/{trunk_sid}/phone-numbers"``.
        trunk_sid: The trunk the call is about, if any (for telemetry).
    """

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: Any = attrs.field(default=None, repr=False)  # may carry a SIP password
    repeatable: bool = attrs.field(
        default=attrs.Factory(lambda call: call.method in _IDEMPOTENT_METHODS, takes_self=True)
    )
    recover: Callable[[], Awaitable[Envelope | None]] | None = None
    recover_on: type[APIStatusError] = ConflictError
    unknown_outcome: str = "the request may or may not have been applied"
    operation: str = "request"
    template: str = ""
    trunk_sid: str | None = None


@attrs.frozen
class _Failed:
    """One attempt's retryable failure."""

    failure: Failure
    error: Exception
    reason: str
    retry_after: float | None = None


@attrs.frozen
class RetryEvent:
    """What the ``on_retry`` hook receives before each retry.

    Attributes:
        method: The HTTP method.
        path: The request path (no credentials).
        attempt: The attempt that failed (1 for the first).
        delay: Seconds until the next attempt.
        reason: Why: ``"429"``, ``"503"``, ``"ReadTimeout"``, ...
        status_code: The status that caused it, if any.
        request_id: The failed response's request id, if any.
    """

    method: str
    path: str
    attempt: int
    delay: float
    reason: str
    status_code: int | None = None
    request_id: str | None = None


@attrs.frozen
class RateLimitWait:
    """What the ``on_rate_limit_wait`` hook receives when the client's requests are held back.

    It is called once per hold, as it starts (not once per waiting task), so that a progress
    display can say "rate-limited, resuming in 42 s" instead of standing still. Pacing below
    ``rate_limit`` is not a hold: it shows as the rate requests go out at.

    Attributes:
        seconds: How long every new request of the client is held back, from now.
        reason: ``"429"`` (the API refused a request and said when to come back),
            ``"quota"`` (an answer said the account's quota resets later), or ``"shared"``
            (a shared rate limiter reports a hold that another process started).
        request_id: The request id of the answer that started the hold, if any.
    """

    seconds: float
    reason: str
    request_id: str | None = None


@attrs.define
class _Holds:
    """The last announced hold: when it ends, and why (a ``RateLimitWait`` reason).

    Shared by a requester and those derived from it.
    """

    until: float = float("-inf")
    reason: str = ""


class Requester:
    """Carries out :class:`Call` s with one shared ``httpx2.AsyncClient``.

    Holds what every request needs: the client provider (and with it the headers), the
    account's base path, the client-wide rate limiter, the cap on requests in flight, the
    retry policy, the timeouts and the cap on a response's size. :meth:`with_options` derives
    a requester that shares the HTTP client, the limiter and the cap but has its own policy
    and timeouts.

    Args:
        clients: Where the ``httpx2.AsyncClient`` to send with comes from.
        base_url: Scheme, host and optional path prefix of the API.
        account_sid: The account every path is below.
        limiter: The client-wide rate limiter.
        max_in_flight: The most requests in flight at once (the connection pool's size).
        retry: The retry policy.
        timeout: httpx2's per-operation timeouts of each attempt.
        attempt_timeout: The longest one attempt may take, from sending to the last byte of
            the answer, or ``None``.
        max_response_bytes: The largest response body read (after decompression).
        on_retry: Called with a :class:`RetryEvent` before every retry.
        on_rate_limit_wait: Called with a :class:`RateLimitWait` when a hold starts.
        attempt_spans: With OpenTelemetry, give each HTTP attempt a span of its own.
        clock, wall_clock, sleep, rand: Injected time and randomness (tests).
    """

    def __init__(
        self,
        *,
        clients: ClientProvider,
        base_url: str,
        account_sid: str,
        limiter: RateLimiter,
        max_in_flight: int,
        retry: RetryPolicy,
        timeout: httpx2.Timeout,
        attempt_timeout: float | None,
        max_response_bytes: int,
        on_retry: Callable[[RetryEvent], None] | None = None,
        on_rate_limit_wait: Callable[[RateLimitWait], None] | None = None,
        attempt_spans: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = default_random,
    ) -> None:
        self._clients = clients
        self._owns_clients = True
        self._site = Site.of(base_url, account_sid, attempt_spans=attempt_spans)
        self.account_path = self._site.account_path
        self.root = base_url.rstrip("/") + self.account_path
        self.limiter = limiter
        # fast_acquire: a free slot is taken without a trip through the event loop; the
        # request's own I/O is the checkpoint that follows.
        self._slots = anyio.Semaphore(max_in_flight, fast_acquire=True)
        self.retry = retry
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.max_response_bytes = max_response_bytes
        self._on_retry = on_retry
        self._on_rate_limit_wait = on_rate_limit_wait
        self._holds = _Holds()
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rand = rand

    def with_options(
        self, *, retry: RetryPolicy, timeout: httpx2.Timeout, attempt_timeout: float | None
    ) -> Requester:
        """Return a requester sharing this one's HTTP client, limiter and cap, other options."""
        derived = copy.copy(self)
        derived._owns_clients = False  # the original closes the shared client
        derived.retry = retry
        derived.timeout = timeout
        derived.attempt_timeout = attempt_timeout
        return derived

    async def aclose(self) -> None:
        """Close the SDK's HTTP client, unless this requester was derived or it is the user's."""
        if self._owns_clients:
            await self._clients.aclose()

    async def request(self, call: Call) -> Envelope:
        """Carry out ``call``, retrying as the policy allows; return the decoded envelope."""
        watch = watch_call(call, self._site)
        if watch is None:
            return await self._within_deadline(call, None)
        with watch:
            return watch.done(await self._within_deadline(call, watch))

    async def _within_deadline(self, call: Call, watch: CallWatch | None) -> Envelope:
        deadline = self.retry.deadline
        if deadline is None:
            return await self._request(call, None, watch)
        try:
            with anyio.fail_after(deadline):
                return await self._request(call, self._clock() + deadline, watch)
        except TimeoutError:
            raise APITimeoutError(
                f"{call.method} {self.account_path}{call.path} did not finish within the "
                f"{deadline:g}s deadline",
                method=call.method,
                path=self.account_path + call.path,
            ) from None

    async def _request(
        self, call: Call, deadline: float | None, watch: CallWatch | None
    ) -> Envelope:
        started = time.perf_counter()
        outcome_unknown = False
        reasons: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self._attempt(call, outcome_unknown, watch)
            except APIStatusError as error:
                error.attempts = max(error.attempts, attempt)  # e.g. a 409 on a repeat
                raise
            if isinstance(result, Envelope):
                return result
            reasons.append(result.reason)
            outcome_unknown = outcome_unknown or result.failure in _MAYBE_APPLIED
            delay = self._delay_before_retry(call, result, attempt, deadline)
            if result.failure is Failure.RATE_LIMITED:
                # Every task of the client waits, not only this one, and also when this call
                # gives up (no retries left, past its deadline); never beyond the cap.
                # A pause longer than the cap is recorded too: the other calls then fail fast
                # instead of each collecting its own 429 (see _send).
                pause = delay if delay is not None else result.retry_after
                if pause is not None:
                    await self._hold(pause, "429", _request_id(result.error))
            if delay is None:
                raise self._final_error(call, result, attempt, reasons)
            self._announce(call, result, attempt, delay, started=started, watch=watch)
            if result.failure is not Failure.RATE_LIMITED:
                await self._sleep(delay)

    async def _attempt(
        self, call: Call, outcome_unknown: bool, watch: CallWatch | None
    ) -> Envelope | _Failed:
        """Send once; return the envelope, or a retryable failure; raise anything final."""
        path = self.account_path + call.path
        try:
            answer = await self._send(call, path, watch)
        except httpx2.TransportError as exc:
            if self._clients.is_closed:  # the client was closed under this request: stop
                raise self._closed_error(call) from exc
            failure = (
                Failure.NOT_SENT if isinstance(exc, _NOT_SENT_ERRORS) else Failure.UNKNOWN_OUTCOME
            )
            return _Failed(failure, exc, type(exc).__name__)
        try:
            envelope = decode(answer.status_code, answer.body, method=call.method, path=path)
        except APIStatusError as error:
            if outcome_unknown and isinstance(error, call.recover_on):
                recovered = await self._recover(call)
                if recovered is not None:
                    return recovered
            status_failure = failure_for_status(error.status_code)
            if status_failure is None:
                raise
            retry_after = parse_retry_after(answer.headers, self._wall_clock)
            if isinstance(error, RateLimitError):
                error.retry_after = retry_after
            return _Failed(status_failure, error, str(error.status_code), retry_after)
        if outcome_unknown and _all_failed_with(envelope, call.recover_on):
            recovered = await self._recover(call)
            if recovered is not None:
                return recovered
        return envelope

    def _delay_before_retry(
        self, call: Call, failed: _Failed, attempt: int, deadline: float | None
    ) -> float | None:
        """Return the wait before the next attempt, or ``None`` if there must be none."""
        policy = self.retry
        if (
            not may_repeat(failed.failure, repeatable=call.repeatable)
            or attempt > policy.max_retries
        ):
            return None
        if failed.retry_after is not None:
            if failed.retry_after > policy.max_retry_after:
                return None  # raise now, carrying retry_after, rather than block or retry early
            delay = failed.retry_after
        else:
            delay = backoff_delay(policy, attempt, self._rand)
        if deadline is not None and self._clock() + delay > deadline:
            return None
        return delay

    async def _recover(self, call: Call) -> Envelope | None:
        if call.recover is None:
            return None
        logger.info(
            "%s %s: an earlier attempt had succeeded; using the existing record",
            call.method,
            self.account_path + call.path,
        )
        return await call.recover()

    async def _send(self, call: Call, path: str, watch: CallWatch | None) -> Answer:
        blocked = self.limiter.blocked_for
        if blocked > self.retry.max_retry_after:
            raise RateLimitError(
                f"the account is rate-limited for {blocked:.0f}s more, longer than this "
                f"call's max_retry_after ({self.retry.max_retry_after:g}s); nothing was sent",
                status_code=429,
                retry_after=blocked,
                method=call.method,
                path=path,
            )
        if blocked > 0:
            self._announce_hold(blocked, "shared", None)  # a hold this client did not start
        async with self._slots:
            if watch is None:
                await self.limiter.acquire()
            else:
                await watch.paced(self.limiter.acquire(), self._clock, self._holds)
            if self._clients.is_closed:
                raise self._closed_error(call)
            client = self._clients.client()
            request = client.build_request(
                call.method,
                self.root + call.path,
                params=call.params,
                headers=self._clients.request_headers,
                json=call.json,
                timeout=self.timeout,
            )
            exchanging = self._exchange(client, request, call, path)
            answer = await (exchanging if watch is None else watch.exchange(exchanging, request))
        reset = parse_rate_limit_reset(answer.headers, self._wall_clock)
        if reset:
            # A reset past the cap is a skewed clock or nonsense: do not stall every task on it.
            seconds = min(reset, self.retry.max_retry_after)
            await self._hold(seconds, "quota", None)
        return answer

    async def _hold(self, seconds: float, reason: str, request_id: str | None) -> None:
        """Hold back every new request of the client for ``seconds``, and say so.

        Said first: a limiter whose ``cool_down`` awaits (Redis) lets other tasks see the hold
        meanwhile, and they must not report it as one this client did not start.
        """
        self._announce_hold(seconds, reason, request_id)
        await self.limiter.cool_down(seconds)

    def _announce_hold(self, seconds: float, reason: str, request_id: str | None) -> None:
        """Tell the hook about a hold, unless one announced already covers it."""
        until = self._clock() + seconds
        if until <= self._holds.until + _HOLD_SLACK:
            return
        self._holds.until, self._holds.reason = until, reason
        if reason != "429":  # a 429's retry is logged already, with its wait
            logger.info("rate-limited (%s): requests held back for %.1fs", reason, seconds)
        if self._on_rate_limit_wait is not None:
            _tell(self._on_rate_limit_wait, RateLimitWait(seconds, reason, request_id))

    async def _exchange(
        self, client: httpx2.AsyncClient, request: httpx2.Request, call: Call, path: str
    ) -> Answer:
        """Send ``request`` and read its body, within ``attempt_timeout`` and the size cap.

        Raises:
            AttemptTimeoutError: the attempt outlasted ``attempt_timeout``.
            ResponseDecodeError: the body is larger than ``max_response_bytes``, or its
                ``Content-Encoding`` cannot be decoded.
        """
        with self._clients.attempt(self.attempt_timeout):
            response = await client.send(request, stream=True, auth=None, follow_redirects=False)
            try:
                body = await self._read_body(response, call, path)
            except httpx2.DecodingError as exc:  # a Content-Encoding that does not decode
                raise ResponseDecodeError(
                    f"the response body could not be decoded ({exc})",
                    status_code=response.status_code,
                    method=call.method,
                    path=path,
                ) from exc
            finally:
                await response.aclose()
            return Answer(response.status_code, response.headers, body)
        # The attempt's scope was cancelled: by aclose(), or when its time was up.
        if self._clients.is_closed:
            raise self._closed_error(call)
        raise AttemptTimeoutError(
            f"the attempt did not finish within attempt_timeout={self.attempt_timeout:g}s",
            request=request,
        )

    async def _read_body(self, response: httpx2.Response, call: Call, path: str) -> bytes:
        limit = self.max_response_bytes
        headers = response.headers
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit():
            if int(declared) > limit:
                raise self._too_large(response, call, path, f"declares {int(declared)} bytes")
            if "content-encoding" not in headers and "transfer-encoding" not in headers:
                # Framed by its length alone, not compressed: it cannot grow past what it
                # declares (a chunked body's Content-Length means nothing, so it is counted).
                return await response.aread()
        chunks: list[bytes] = []
        size = 0
        # Decoded chunks, so that a gzip bomb is counted as it inflates; closed explicitly when
        # abandoned, as trio warns about a generator left to the garbage collector.
        async with aclosing(response.aiter_bytes()) as decoded:
            async for chunk in decoded:
                size += len(chunk)
                if size > limit:
                    raise self._too_large(response, call, path, f"grew past {limit} bytes")
                chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(
        self, response: httpx2.Response, call: Call, path: str, how: str
    ) -> ResponseDecodeError:
        applied = "" if call.method in _IDEMPOTENT_METHODS else f"; {call.unknown_outcome}"
        return ResponseDecodeError(
            f"the response body {how}, more than max_response_bytes={self.max_response_bytes}; "
            f"it was not read further{applied}",
            status_code=response.status_code,
            method=call.method,
            path=path,
        )

    def _closed_error(self, call: Call) -> APIConnectionError:
        path = self.account_path + call.path
        return APIConnectionError(
            f"{call.method} {path} stopped: {self._clients.closed_reason}",
            method=call.method,
            path=path,
        )

    def _announce(
        self,
        call: Call,
        failed: _Failed,
        attempt: int,
        delay: float,
        *,
        started: float,
        watch: CallWatch | None,
    ) -> None:
        path = self.account_path + call.path
        error = failed.error
        status = error.status_code if isinstance(error, APIStatusError) else None
        request_id = error.request_id if isinstance(error, APIStatusError) else None
        if watch is not None:
            watch.retrying(attempt, failed.reason, delay, status, request_id)
        logger.info(
            "retrying %s %s: attempt %d failed (%s), next in %.2fs request_id=%s",
            call.method,
            path,
            attempt,
            failed.reason,
            delay,
            request_id,
            extra={
                "operation": call.operation,
                "status": status,
                "attempts": attempt,
                "request_id": request_id,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "reason": failed.reason,
                "delay_s": delay,
            },
        )
        if self._on_retry is not None:
            event = RetryEvent(call.method, path, attempt, delay, failed.reason, status, request_id)
            _tell(self._on_retry, event)

    def _final_error(
        self, call: Call, failed: _Failed, attempts: int, reasons: list[str]
    ) -> Exception:
        error = failed.error
        if isinstance(error, APIStatusError):
            error.attempts = attempts
            return error
        path = self.account_path + call.path
        history = f" after {attempts} attempts ({', '.join(reasons)})" if attempts > 1 else ""
        message = f"{call.method} {path} failed: {failed.reason}: {_detail(error)}{history}"
        if failed.failure is Failure.UNKNOWN_OUTCOME and not call.repeatable:
            message += f"; the outcome is unknown: {call.unknown_outcome}"
        cls = APITimeoutError if isinstance(error, httpx2.TimeoutException) else APIConnectionError
        exc = cls(message, method=call.method, path=path, attempts=attempts)
        exc.__cause__ = error
        return exc


def _tell(hook: Callable[[Any], object], event: object) -> None:
    """Call a user's hook; its failure is logged, never the call's.

    A hook runs in the middle of a call (a hold can start after a POST was applied): an
    error of a progress display must not turn an applied change into a failure.
    """
    try:
        hook(event)
    except Exception:
        logger.exception("the %s hook raised; the call goes on", type(event).__name__)


def _request_id(error: Exception) -> str | None:
    return error.request_id if isinstance(error, APIStatusError) else None


def _detail(error: BaseException) -> str:
    """The first non-empty message along ``error``'s causes (trio's TLS errors have none)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if str(current):
            return str(current)
        current = current.__cause__ or current.__context__
    return "no detail"


def _all_failed_with(envelope: Envelope, kind: type[APIStatusError]) -> bool:
    """Whether some items failed, and every failed item failed with ``kind``."""
    if not envelope.items:
        return False
    errors = [item for item in envelope.items if isinstance(item, APIStatusError)]
    return bool(errors) and all(isinstance(item, kind) for item in errors)
