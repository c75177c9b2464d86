"""Send one logical request: wait for a slot and the limiter, send, decode, retry.

A resource describes an endpoint as a :class:`Call`; :meth:`HTTPTransport.request` builds the
``httpx.Request``, sends it on the pool's transport (:mod:`._pool`) and returns the decoded
:class:`Envelope`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import attrs
import httpx

from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConflictError,
    RateLimitError,
    ResponseDecodeError,
)
from ._envelope import Envelope, decode
from ._pool import Pool
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

__all__ = ["Call", "HTTPTransport", "RetryEvent"]

logger = logging.getLogger("exotel_trunking")

_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Failures after which a repeat may find the first attempt applied.
_MAYBE_APPLIED = frozenset({Failure.UNKNOWN_OUTCOME, Failure.GATEWAY})
_IDEMPOTENT_METHODS = frozenset({"GET", "DELETE"})
#: Parsed request URLs kept per transport (one per path: a few per trunk in use).
_MAX_CACHED_URLS = 256


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
    """

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: Any = None
    repeatable: bool = attrs.field(
        default=attrs.Factory(lambda call: call.method in _IDEMPOTENT_METHODS, takes_self=True)
    )
    recover: Callable[[], Awaitable[Envelope | None]] | None = None
    recover_on: type[APIStatusError] = ConflictError
    unknown_outcome: str = "the request may or may not have been applied"


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


class HTTPTransport:
    """Carries out :class:`Call` s over one shared ``httpx.AsyncClient``.

    Holds what every request needs: the client (and whether it owns it), the account's base
    path, the headers, the client-wide :class:`Limiter`, the cap on requests in flight, the
    retry policy and the timeout. :meth:`with_options` derives a transport that shares the
    connection pool, the limiter and the cap but has its own policy and timeout.
    """

    def __init__(
        self,
        *,
        pool: Pool,
        base_url: str,
        account_sid: str,
        headers: Mapping[str, str],
        limiter: RateLimiter,
        max_in_flight: int,
        retry: RetryPolicy,
        timeout: httpx.Timeout,
        on_retry: Callable[[RetryEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = default_random,
    ) -> None:
        self._pool = pool
        self._owns_pool = True
        self._account_path = f"/v2/accounts/{account_sid}/"
        self._root = base_url.rstrip("/") + self._account_path
        self._headers = dict(headers)
        self._urls: dict[str, httpx.URL] = {}
        self.limiter = limiter
        # fast_acquire: a free slot is taken without a trip through the event loop; the
        # request's own I/O is the checkpoint that follows.
        self._slots = anyio.Semaphore(max_in_flight, fast_acquire=True)
        self.retry = retry
        self.timeout = timeout
        self._on_retry = on_retry
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rand = rand

    def with_options(
        self, *, retry: RetryPolicy | None = None, timeout: httpx.Timeout | None = None
    ) -> HTTPTransport:
        """Return a transport sharing this one's pool, limiter and cap, with other options."""
        derived = copy.copy(self)
        derived._owns_pool = False  # the original closes the shared pool
        if retry is not None:
            derived.retry = retry
        if timeout is not None:
            derived.timeout = timeout
        return derived

    async def aclose(self) -> None:
        """Close the connection pool, unless this transport was derived or it is the user's."""
        if self._owns_pool:
            await self._pool.aclose()

    async def request(self, call: Call) -> Envelope:
        """Carry out ``call``, retrying as the policy allows; return the decoded envelope."""
        deadline = self.retry.deadline
        if deadline is None:
            return await self._request(call, None)
        try:
            with anyio.fail_after(deadline):
                return await self._request(call, self._clock() + deadline)
        except TimeoutError:
            raise APITimeoutError(
                f"{call.method} {self._account_path}{call.path} did not finish within the "
                f"{deadline:g}s deadline",
                method=call.method,
                path=self._account_path + call.path,
            ) from None

    async def request_all(self, call: Call) -> list[dict[str, Any]]:
        """Carry out a list call and every further page; return all records in order."""
        records: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            envelope = await self.request(call)
            records.extend(self._page_records(envelope, call))
            next_page = envelope.next_page_uri
            if not next_page:
                return records
            if next_page in seen:
                raise ResponseDecodeError(
                    f"the API sent the same next_page_uri twice ({next_page!r})",
                    status_code=200,
                    request_id=envelope.request_id,
                )
            seen.add(next_page)
            call = attrs.evolve(call, **self._page_call(next_page, envelope))

    async def _request(self, call: Call, deadline: float | None) -> Envelope:
        outcome_unknown = False
        reasons: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self._attempt(call, outcome_unknown)
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
                    await self.limiter.cool_down(pause)
            if delay is None:
                raise self._final_error(call, result, attempt, reasons)
            self._announce(call, result, attempt, delay)
            if result.failure is not Failure.RATE_LIMITED:
                await self._sleep(delay)

    async def _attempt(self, call: Call, outcome_unknown: bool) -> Envelope | _Failed:
        """Send once; return the envelope, or a retryable failure; raise anything final."""
        path = self._account_path + call.path
        try:
            response = await self._send(call, path)
        except httpx.TransportError as exc:
            if self._pool.is_closed:  # the pool was closed under this request: do not retry
                raise self._closed_error(call) from exc
            failure = (
                Failure.NOT_SENT if isinstance(exc, _NOT_SENT_ERRORS) else Failure.UNKNOWN_OUTCOME
            )
            return _Failed(failure, exc, type(exc).__name__)
        try:
            envelope = decode(response.status_code, response.content, method=call.method, path=path)
        except APIStatusError as error:
            if outcome_unknown and isinstance(error, call.recover_on):
                recovered = await self._recover(call)
                if recovered is not None:
                    return recovered
            status_failure = failure_for_status(error.status_code)
            if status_failure is None:
                raise
            retry_after = parse_retry_after(response.headers, self._wall_clock)
            if isinstance(error, RateLimitError):
                error.retry_after = retry_after
            return _Failed(status_failure, error, str(error.status_code), retry_after)
        self._log(call, path, response, envelope.request_id)
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
            self._account_path + call.path,
        )
        return await call.recover()

    async def _send(self, call: Call, path: str) -> httpx.Response:
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
        async with self._slots:
            await self.limiter.acquire()
            if self._pool.is_closed:
                raise self._closed_error(call)
            request = httpx.Request(
                call.method,
                self._url(call.path),
                params=call.params,
                headers=self._headers,
                json=call.json,
                extensions={"timeout": self.timeout.as_dict()},
            )
            response = await self._pool.transport().handle_async_request(request)
            response.request = request
            try:
                await response.aread()  # a streaming transport's body (ours comes read)
            except BaseException:
                await response.aclose()
                raise
        reset = parse_rate_limit_reset(response.headers, self._wall_clock)
        if reset:
            # A reset past the cap is a skewed clock or nonsense: do not stall every task on it.
            await self.limiter.cool_down(min(reset, self.retry.max_retry_after))
        return response

    def _url(self, path: str) -> httpx.URL:
        """The URL of ``path``, parsed once: parsing costs more than the rest of the request."""
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= _MAX_CACHED_URLS:
                self._urls.clear()
            url = self._urls[path] = httpx.URL(self._root + path)
        return url

    def _closed_error(self, call: Call) -> APIConnectionError:
        path = self._account_path + call.path
        return APIConnectionError(
            f"{call.method} {path} stopped: {self._pool.closed_reason}",
            method=call.method,
            path=path,
        )

    def _log(self, call: Call, path: str, response: httpx.Response, request_id: str | None) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            try:
                elapsed = f"{response.elapsed.total_seconds() * 1000:.1f}ms"
            except RuntimeError:  # a transport that returns a pre-read body (MockTransport)
                elapsed = "unknown"
            logger.debug(
                "%s %s -> %d request_id=%s elapsed=%s",
                call.method,
                path,
                response.status_code,
                request_id,
                elapsed,
            )

    def _announce(self, call: Call, failed: _Failed, attempt: int, delay: float) -> None:
        path = self._account_path + call.path
        error = failed.error
        status = error.status_code if isinstance(error, APIStatusError) else None
        request_id = error.request_id if isinstance(error, APIStatusError) else None
        logger.info(
            "retrying %s %s: attempt %d failed (%s), next in %.2fs request_id=%s",
            call.method,
            path,
            attempt,
            failed.reason,
            delay,
            request_id,
        )
        if self._on_retry is not None:
            self._on_retry(
                RetryEvent(call.method, path, attempt, delay, failed.reason, status, request_id)
            )

    def _final_error(
        self, call: Call, failed: _Failed, attempts: int, reasons: list[str]
    ) -> Exception:
        error = failed.error
        if isinstance(error, APIStatusError):
            error.attempts = attempts
            return error
        path = self._account_path + call.path
        history = f" after {attempts} attempts ({', '.join(reasons)})" if attempts > 1 else ""
        message = (
            f"{call.method} {path} failed: {failed.reason}: {str(error) or 'no detail'}{history}"
        )
        if failed.failure is Failure.UNKNOWN_OUTCOME and not call.repeatable:
            message += f"; the outcome is unknown: {call.unknown_outcome}"
        cls = APITimeoutError if isinstance(error, httpx.TimeoutException) else APIConnectionError
        exc = cls(message, method=call.method, path=path, attempts=attempts)
        exc.__cause__ = error
        return exc

    def _page_records(self, envelope: Envelope, call: Call) -> list[dict[str, Any]]:
        if envelope.items is not None:
            for item in envelope.items:
                if isinstance(item, APIStatusError):
                    raise item
            return envelope.items  # type: ignore[return-value]  # all dicts, checked above
        data = envelope.data
        if data is None:
            return []
        if isinstance(data, list) and all(isinstance(record, dict) for record in data):
            return data
        raise ResponseDecodeError(
            f"the list response for {call.method} {self._account_path}{call.path} holds no list",
            status_code=200,
            request_id=envelope.request_id,
        )

    def _page_call(self, next_page: str, envelope: Envelope) -> dict[str, Any]:
        url = httpx.URL(next_page)
        if url.is_absolute_url and not self._root.startswith(
            f"{url.scheme}://{url.netloc.decode()}"
        ):
            raise ResponseDecodeError(
                f"refusing to follow next_page_uri to another host ({url.host!r})",
                status_code=200,
                request_id=envelope.request_id,
            )
        if not url.path.startswith(self._account_path):
            raise ResponseDecodeError(
                f"refusing to follow next_page_uri outside the account ({url.path!r})",
                status_code=200,
                request_id=envelope.request_id,
            )
        return {
            "path": url.raw_path.decode("ascii").split("?")[0][len(self._account_path) :],
            "params": dict(url.params),
        }


def _all_failed_with(envelope: Envelope, kind: type[APIStatusError]) -> bool:
    """Whether some items failed, and every failed item failed with ``kind``."""
    if not envelope.items:
        return False
    errors = [item for item in envelope.items if isinstance(item, APIStatusError)]
    return bool(errors) and all(isinstance(item, kind) for item in errors)
