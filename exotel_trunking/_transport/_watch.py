"""What one logical call did, as traces, metrics and a log record report it.

:func:`watch_call` returns ``None`` when nothing would record (no ``otel`` extra or no
configured provider, and the ``exotel_trunking`` logger below DEBUG): the requester then skips
every step below. Otherwise a :class:`CallWatch` makes the call's span (current while the call
runs, so the caller's span is its parent and the call's attempts are its children), one child
span per HTTP attempt, an event per retry and per wait for the rate limiter, the metrics of
:mod:`.._telemetry`, and one DEBUG record when the call ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING

import httpx2

from .. import _telemetry
from .._exceptions import APIStatusError
from .._telemetry import Instruments, Site, error_type

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
except ImportError:  # the otel extra is not installed: no tracer, so neither is used
    pass

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.trace import Span

    from ._envelope import Envelope
    from ._http import Answer, Call, _Holds

__all__ = ["CallWatch", "watch_call"]

logger = logging.getLogger("exotel_trunking")

#: A limiter wait shorter than this is the limiter's own bookkeeping, not a wait.
_WAIT_NOISE = 0.001


def watch_call(call: Call, site: Site) -> CallWatch | None:
    """A watch for ``call``, or ``None`` when neither telemetry nor DEBUG logging would record."""
    found = _telemetry.instruments()
    if found is None and not logger.isEnabledFor(logging.DEBUG):
        return None
    return CallWatch(call, site, found)


class CallWatch:
    """One call's span, its attempts' spans, its metrics and its DEBUG record.

    Use as a context manager around the whole call; the requester reports each attempt
    through :meth:`exchange`, each limiter wait through :meth:`paced`, each retry through
    :meth:`retrying` and the answer through :meth:`done`.

    Attributes:
        attempts: HTTP attempts sent so far.
        status: The last answer's HTTP status, if any.
        request_id: The request id of the answer the call returned, if any.
    """

    __slots__ = (
        "_attempt",
        "_attempt_ended",
        "_call",
        "_meters",
        "_metric_attributes",
        "_site",
        "_span",
        "_started",
        "_token",
        "_tracer",
        "attempts",
        "request_id",
        "status",
    )

    def __init__(self, call: Call, site: Site, found: Instruments | None) -> None:
        self._call = call
        self._site = site
        self._tracer = None if found is None else found.tracer
        self._meters = None if found is None else found.meters
        #: Built only when there are meters to record with (the only readers).
        self._metric_attributes = (
            {} if self._meters is None else {"exotel.operation": call.operation}
        )
        self._span: Span | None = None
        self._token: Token[Context] | None = None
        #: The attempt span not yet ended, and when its exchange ended (ns).
        self._attempt: Span | None = None
        self._attempt_ended = 0
        self._started = time.perf_counter()
        self.attempts = 0
        self.status: int | None = None
        self.request_id: str | None = None

    def __enter__(self) -> CallWatch:
        tracer = self._tracer
        if tracer is not None:
            span = tracer.start_span(self._call.operation, kind=trace.SpanKind.CLIENT)
            if span.is_recording():
                span.set_attributes(self._call_attributes())
            self._span = span
            context = trace.set_span_in_context(span)
            self._token = otel_context.attach(context)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end_attempt()
        seconds = time.perf_counter() - self._started
        if isinstance(exc, APIStatusError):
            self.status = exc.status_code
            self.request_id = exc.request_id
        failure = None if exc is None else error_type(exc)
        span = self._span
        if span is not None:
            if self._token is not None:
                otel_context.detach(self._token)
            if span.is_recording():
                span.set_attribute("exotel.attempts", self.attempts)
                if self.request_id is not None:
                    span.set_attribute("exotel.request_id", self.request_id)
                if failure is not None:
                    span.set_attribute("error.type", failure)
                    span.set_status(trace.StatusCode.ERROR)
            span.end()
        if self._meters is not None:
            outcome = {"exotel.outcome": "ok" if failure is None else "error"}
            if failure is not None:
                outcome["error.type"] = failure
            self._meters.duration.record(seconds, {**self._metric_attributes, **outcome})
        if logger.isEnabledFor(logging.DEBUG):
            self._log(seconds, failure)

    def done(self, envelope: Envelope) -> Envelope:
        """Note the envelope the call returns; return it."""
        self.request_id = envelope.request_id
        return envelope

    async def paced(
        self, acquiring: Awaitable[None], clock: Callable[[], float], holds: _Holds
    ) -> None:
        """Await the rate limiter's ``acquiring``; report the wait, and why, if there was one.

        The wait is a hold's (``"429"``, ``"quota"``, ``"shared"``: see ``RateLimitWait``) if
        one was in force while it lasted, else the limiter's pacing (``"pacing"``).
        """
        started = clock()
        await acquiring
        waited = clock() - started
        if waited < _WAIT_NOISE:
            return
        reason = holds.reason if holds.until > started else "pacing"
        if self._span is not None and self._span.is_recording():
            self._span.add_event(
                "exotel.rate_limit.wait",
                {
                    "exotel.rate_limit.wait": waited,
                    "exotel.rate_limit.reason": reason,
                    "exotel.attempt": self.attempts + 1,
                },
            )
        if self._meters is not None:
            attributes = {**self._metric_attributes, "exotel.rate_limit.reason": reason}
            self._meters.rate_limit_wait.record(waited, attributes)

    async def exchange(self, exchanging: Awaitable[Answer], request: httpx2.Request) -> Answer:
        """Await one HTTP attempt, ``exchanging``, as the attempt's span; return its answer.

        The span stays open (with its end time noted) until the call decides whether to retry,
        so that a retried attempt's span can say why.
        """
        self.attempts += 1
        meters = self._meters
        if meters is not None:
            _telemetry.IN_FLIGHT.add(self._call.operation, 1)
        span = token = None
        if self._tracer is not None and self._site.attempt_spans:
            span = self._tracer.start_span(
                f"{request.method} {self._site.url_template(self._call.template)}",
                kind=trace.SpanKind.CLIENT,
            )
            if span.is_recording():
                span.set_attributes(self._attempt_attributes(request))
            token = otel_context.attach(trace.set_span_in_context(span))
        try:
            answer = await exchanging
        except BaseException as error:
            self._attempt_failed(span, error)
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
            if meters is not None:
                _telemetry.IN_FLIGHT.add(self._call.operation, -1)
            if span is not None:  # ended later, at the time its exchange ended
                self._attempt, self._attempt_ended = span, time.time_ns()
        self._attempt_answered(span, answer.status_code)
        return answer

    def _attempt_failed(self, span: Span | None, error: BaseException) -> None:
        failure = error_type(error)
        if span is not None and span.is_recording():
            span.set_attribute("error.type", failure)
            span.set_status(trace.StatusCode.ERROR)
        if self._meters is not None:
            self._meters.attempts.add(1, {**self._metric_attributes, "error.type": failure})

    def _attempt_answered(self, span: Span | None, status: int) -> None:
        self.status = status
        if span is not None and span.is_recording():
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_attribute("error.type", str(status))
                span.set_status(trace.StatusCode.ERROR)
        meters = self._meters
        if meters is not None:
            attributes: dict[str, str | int] = {
                **self._metric_attributes,
                "http.response.status_code": status,
            }
            meters.attempts.add(1, attributes)
            if status == 429:
                meters.rate_limited.add(1, self._metric_attributes)

    def retrying(
        self, attempt: int, reason: str, delay: float, status: int | None, request_id: str | None
    ) -> None:
        """Report that ``attempt`` failed for ``reason`` and is repeated in ``delay`` seconds."""
        attempt_span = self._attempt
        if attempt_span is not None and attempt_span.is_recording():
            attempt_span.set_attribute("exotel.retry.reason", reason)
            if request_id is not None:
                attempt_span.set_attribute("exotel.request_id", request_id)
        self._end_attempt()
        span = self._span
        if span is not None and span.is_recording():
            event: dict[str, str | int | float] = {
                "exotel.retry.attempt": attempt,
                "exotel.retry.reason": reason,
                "exotel.retry.delay": delay,
            }
            if status is not None:
                event["http.response.status_code"] = status
            if request_id is not None:
                event["exotel.request_id"] = request_id
            span.add_event("exotel.retry", event)
        if self._meters is not None:
            attributes = {**self._metric_attributes, "exotel.retry.reason": reason}
            self._meters.retries.add(1, attributes)

    def _end_attempt(self) -> None:
        if self._attempt is not None:
            self._attempt.end(end_time=self._attempt_ended)
            self._attempt = None

    def _call_attributes(self) -> dict[str, str | int]:
        call, site = self._call, self._site
        attributes: dict[str, str | int] = {
            "http.request.method": call.method,
            "url.template": site.url_template(call.template),
            "server.address": site.server_address,
            "server.port": site.server_port,
            "exotel.account_sid": site.account_sid,
        }
        if call.trunk_sid is not None:
            attributes["exotel.trunk_sid"] = call.trunk_sid
        return attributes

    def _attempt_attributes(self, request: httpx2.Request) -> dict[str, str | int]:
        url = request.url
        if url.userinfo:  # never sent by the SDK (credentials go in a header); never reported
            url = url.copy_with(username=None, password=None)
        attributes: dict[str, str | int] = {
            "http.request.method": request.method,
            "url.full": str(url),
            "server.address": self._site.server_address,
            "server.port": self._site.server_port,
        }
        if self.attempts > 1:
            attributes["http.request.resend_count"] = self.attempts - 1
        return attributes

    def _log(self, seconds: float, failure: str | None) -> None:
        call = self._call
        path = self._site.account_path + call.path
        fields = {
            "operation": call.operation,
            "status": self.status,
            "attempts": self.attempts,
            "request_id": self.request_id,
            "duration_ms": round(seconds * 1000, 1),
        }
        if failure is None:
            logger.debug(
                "%s %s -> %s request_id=%s elapsed=%.1fms",
                call.method,
                path,
                self.status,
                self.request_id,
                seconds * 1000,
                extra=fields,
            )
        else:
            logger.debug(
                "%s %s failed (%s) request_id=%s elapsed=%.1fms",
                call.method,
                path,
                failure,
                self.request_id,
                seconds * 1000,
                extra={**fields, "error": failure},
            )
