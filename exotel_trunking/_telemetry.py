"""OpenTelemetry traces and metrics, reported when the ``otel`` extra is installed.

The SDK reports through OpenTelemetry's global tracer and meter providers (instrumentation scope
``exotel_trunking``) and never configures an exporter. Whether anything would record is decided
once per call by :func:`instruments`: without the extra, or while both global providers are
OpenTelemetry's no-op or proxy ones, it returns ``None`` and the SDK builds no span, attribute or
metric at all. The spans of one call and its attempts are made by
:class:`~._transport._watch.CallWatch`; this module holds what is shared, and the spans of bulk
runs and of ``provision``.

No attribute, event or metric attribute ever holds the API token or a SIP password: what is
reported is an operation's name, a URL (without credentials: the SDK sends them in a header),
sids, request ids, status codes, counts, durations and error class names (never messages).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, cast

import attrs
import httpx2

from ._version import __version__

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
except ImportError:  # the otel extra is not installed
    AVAILABLE = False
else:
    AVAILABLE = True

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.metrics import (
        CallbackOptions,
        Counter,
        Histogram,
        Meter,
        MeterProvider,
        ObservableUpDownCounter,
        Observation,
    )
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from ._provision import ProvisionReport

__all__ = [
    "AVAILABLE",
    "IN_FLIGHT",
    "SCOPE",
    "InFlight",
    "Instruments",
    "Meters",
    "Site",
    "carry_context",
    "error_type",
    "instruments",
    "provision_phase",
    "set_enabled",
    "traced_bulk",
    "use_providers",
    "watch_provision",
]

P = ParamSpec("P")
T = TypeVar("T")
ProgressCallback = Callable[[int, "int | None"], object]

#: The instrumentation scope of every span and metric.
SCOPE = "exotel_trunking"
#: Seconds between two lookups of OpenTelemetry's global providers.
RECHECK = 1.0

#: Call durations can include minutes of waiting for the account's rate limit, so the HTTP
#: semantic conventions' buckets are extended to two minutes.
DURATION_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0),
    *(30.0, 60.0, 120.0),
)


@attrs.frozen
class Meters:
    """The SDK's metric instruments (see the README's table)."""

    duration: Histogram
    attempts: Counter
    retries: Counter
    rate_limited: Counter
    rate_limit_wait: Histogram
    active_requests: ObservableUpDownCounter
    bulk_items: Counter


@attrs.frozen
class Instruments:
    """What the SDK reports through; ``None`` parts are not configured (and cost nothing).

    Attributes:
        tracer: The tracer, or ``None`` while the tracer provider is a no-op.
        meters: The metric instruments, or ``None`` while the meter provider is a no-op.
    """

    tracer: Tracer | None
    meters: Meters | None


@attrs.define
class _State:
    """Process-wide: the switch, the providers a test or the CLI put in place, the last lookup."""

    enabled: bool = AVAILABLE
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    #: ``(tracer provider, meter provider, instruments)`` of the last lookup.
    cached: tuple[object, object, Instruments | None] | None = None
    #: Until when (on ``clock``) the last lookup stands without asking again.
    fresh_until: float = float("-inf")
    clock: Callable[[], float] = time.monotonic


_STATE = _State()


def instruments() -> Instruments | None:
    """The instruments to report through, or ``None`` when nothing would record.

    Called once per call. OpenTelemetry's global providers are looked up at most every
    :data:`RECHECK` seconds (a lookup reads the environment, which would cost a call more
    than everything else here), and the instruments are built again only when they changed:
    a provider configured after the first call is used from at most that long after.
    """
    state = _STATE
    if not state.enabled:
        return None
    cached = state.cached
    now = state.clock()
    if cached is not None and now < state.fresh_until:
        return cached[2]
    tracer_provider = state.tracer_provider or trace.get_tracer_provider()
    meter_provider = state.meter_provider or metrics.get_meter_provider()
    state.fresh_until = now + RECHECK
    if cached is not None and cached[0] is tracer_provider and cached[1] is meter_provider:
        return cached[2]
    built = _build(tracer_provider, meter_provider)
    state.cached = (tracer_provider, meter_provider, built)
    return built


def _build(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> Instruments | None:
    tracer = None
    if not isinstance(tracer_provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        tracer = tracer_provider.get_tracer(SCOPE, __version__)
    meters = None
    if not isinstance(meter_provider, _no_op_meter_providers()):
        meters = _meters(meter_provider.get_meter(SCOPE, __version__))
    if tracer is None and meters is None:
        return None
    return Instruments(tracer, meters)


def _no_op_meter_providers() -> tuple[type, ...]:
    """The meter providers that record nothing: the no-op one, and the unset global's proxy."""
    try:
        from opentelemetry.metrics._internal import (  # noqa: PLC0415 - private, may move
            _ProxyMeterProvider,
        )
    except ImportError:  # pragma: no cover - a later API moved it: treat the proxy as real
        return (metrics.NoOpMeterProvider,)
    return (metrics.NoOpMeterProvider, _ProxyMeterProvider)


def _meters(meter: Meter) -> Meters:
    return Meters(
        duration=meter.create_histogram(
            "exotel_trunking.client.operation.duration",
            unit="s",
            description="Duration of SDK calls, from the first attempt to the last answer.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        attempts=meter.create_counter(
            "exotel_trunking.client.attempts",
            unit="{attempt}",
            description="HTTP attempts sent (a call's first attempt and its retries).",
        ),
        retries=meter.create_counter(
            "exotel_trunking.client.retries",
            unit="{retry}",
            description="Attempts repeated after a retryable failure, by reason.",
        ),
        rate_limited=meter.create_counter(
            "exotel_trunking.client.rate_limited",
            unit="{response}",
            description="429 (Too Many Requests) answers.",
        ),
        rate_limit_wait=meter.create_histogram(
            "exotel_trunking.client.rate_limit.wait.duration",
            unit="s",
            description="Time attempts waited for the client's rate limiter, by reason.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        active_requests=meter.create_observable_up_down_counter(
            "exotel_trunking.client.active_requests",
            callbacks=[IN_FLIGHT.observe],
            unit="{request}",
            description="HTTP attempts in flight.",
        ),
        bulk_items=meter.create_counter(
            "exotel_trunking.bulk.items",
            unit="{item}",
            description="Items of bulk runs, by outcome (created, exists, invalid, failed).",
        ),
    )


class InFlight:
    """HTTP attempts in flight, by operation: read when metrics are collected.

    An observable up-down counter rather than a synchronous one: a call then costs two integer
    updates instead of two metric recordings, and the value is the same.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the sync client's loop runs in threads of its own
        self._counts: dict[str, int] = {}

    def add(self, operation: str, delta: int) -> None:
        """Count ``delta`` more attempts of ``operation`` in flight."""
        with self._lock:
            self._counts[operation] = self._counts.get(operation, 0) + delta

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        """The counts, for OpenTelemetry's collection."""
        with self._lock:
            counts = list(self._counts.items())
        return [
            metrics.Observation(count, {"exotel.operation": operation})
            for operation, count in counts
        ]


IN_FLIGHT = InFlight()


def set_enabled(enabled: bool) -> None:
    """Turn the integration on (if the extra is installed) or off, as if it were not installed."""
    _STATE.enabled = enabled and AVAILABLE
    _STATE.cached, _STATE.fresh_until = None, float("-inf")


@contextlib.contextmanager
def use_providers(
    tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> Iterator[None]:
    """Report to these providers instead of the global ones while the block runs.

    For the tests and the command's ``--trace``: OpenTelemetry's global providers can be set
    only once per process.
    """
    state = _STATE
    before = (state.tracer_provider, state.meter_provider)
    state.tracer_provider, state.meter_provider = tracer_provider, meter_provider
    state.cached, state.fresh_until = None, float("-inf")
    try:
        yield
    finally:
        state.tracer_provider, state.meter_provider = before
        state.cached, state.fresh_until = None, float("-inf")


def error_type(error: BaseException) -> str:
    """``error.type``: the class's name, with its top-level package (``exotel_trunking....``)."""
    cls = type(error)
    package = cls.__module__.partition(".")[0]
    return cls.__qualname__ if package == "builtins" else f"{package}.{cls.__qualname__}"


def _fail(span: Span, error: BaseException) -> None:
    """Mark ``span`` as failed with ``error``'s type (never its message, which may quote data)."""
    if span.is_recording():
        span.set_attribute("error.type", error_type(error))
        span.set_status(trace.StatusCode.ERROR)


@attrs.frozen
class Site:
    """Where a client's calls go, as telemetry reports it.

    Attributes:
        account_sid: The account.
        account_path: ``/v2/accounts/{account_sid}/``.
        server_address: The API's host.
        server_port: Its port.
        path_prefix: A path before ``/v2`` in ``base_url`` (a proxy's), or ``""``.
        attempt_spans: Whether each HTTP attempt gets a span of its own.
    """

    account_sid: str
    account_path: str
    server_address: str
    server_port: int
    path_prefix: str = ""
    attempt_spans: bool = True

    @classmethod
    def of(cls, base_url: str, account_sid: str, *, attempt_spans: bool = True) -> Site:
        """The site of a client with this ``base_url`` and account."""
        url = httpx2.URL(base_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        return cls(
            account_sid=account_sid,
            account_path=f"/v2/accounts/{account_sid}/",
            server_address=url.host,
            server_port=port,
            path_prefix=url.path.rstrip("/"),
            attempt_spans=attempt_spans,
        )

    def url_template(self, template: str) -> str:
        """``url.template`` of a call whose path below the account is ``template``."""
        return f"{self.path_prefix}/v2/accounts/{{account_sid}}/{template}"


# -- bulk runs ----------------------------------------------------------------------------------


class _Counted(Protocol):
    """A bulk run's stream: its outcomes so far, by status."""

    @property
    def counts(self) -> Mapping[Any, int]: ...


S = TypeVar("S", bound=_Counted)


def traced_bulk(
    operation: str,
) -> Callable[
    [Callable[P, AbstractAsyncContextManager[S]]], Callable[P, AbstractAsyncContextManager[S]]
]:
    """Give every run of a bulk stream method a span named ``operation``, and count its items.

    The span is current while the run's workers start, so each item's call is its child; it
    ends with the counts by outcome as attributes (``exotel.bulk.created``, ...). Items are
    counted into ``exotel_trunking.bulk.items`` as the consumer takes them, through the run's
    ``on_progress`` (wrapped; the caller's own callback is still called).
    """

    def decorate(
        open_stream: Callable[P, AbstractAsyncContextManager[S]],
    ) -> Callable[P, AbstractAsyncContextManager[S]]:
        @functools.wraps(open_stream)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> AbstractAsyncContextManager[S]:
            found = instruments()
            if found is None:
                return open_stream(*args, **kwargs)
            trunk_sid = kwargs.get("trunk_sid", args[1] if len(args) > 1 else None)
            opener = cast("Callable[..., AbstractAsyncContextManager[S]]", open_stream)
            opened = functools.partial(opener, *args, **kwargs)
            progress = cast("ProgressCallback | None", kwargs.get("on_progress"))
            return _BulkRun(operation, found, trunk_sid, opened, progress)

        return wrapper

    return decorate


class _BulkRun(Generic[S]):
    """One bulk run's span and item counts, around the stream it opens."""

    def __init__(
        self,
        operation: str,
        found: Instruments,
        trunk_sid: object,
        opener: Callable[..., AbstractAsyncContextManager[S]],
        on_progress: ProgressCallback | None,
    ) -> None:
        self._operation = operation
        self._found = found
        self._trunk_sid = trunk_sid
        self._opener = opener
        self._on_progress = on_progress
        self._stream: S | None = None
        self._inner: AbstractAsyncContextManager[S] | None = None
        self._span: Span | None = None
        self._token: Token[Context] | None = None
        self._counted: dict[Any, int] = {}

    async def __aenter__(self) -> S:
        tracer = self._found.tracer
        if tracer is not None:
            self._span = tracer.start_span(self._operation)
            if isinstance(self._trunk_sid, str) and self._span.is_recording():
                self._span.set_attribute("exotel.trunk_sid", self._trunk_sid)
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        options: dict[str, Any] = {}
        if self._found.meters is not None:
            options["on_progress"] = self._progress_counter()
        try:
            self._inner = self._opener(**options)
            self._stream = await self._inner.__aenter__()
        except BaseException as error:
            self._end(error)
            raise
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._inner is not None
        try:
            suppressed = await self._inner.__aexit__(exc_type, exc, tb)
        except BaseException as error:
            self._end(error)
            raise
        self._end(None if suppressed else exc)
        return suppressed

    def _progress_counter(self) -> ProgressCallback:
        caller = self._on_progress

        def on_progress(done: int, total: int | None) -> object:
            self._count()
            return None if caller is None else caller(done, total)

        return on_progress

    def _count(self) -> None:
        """Add the outcomes taken since the last count to ``exotel_trunking.bulk.items``."""
        meters = self._found.meters
        if meters is None or self._stream is None:
            return
        for status, count in self._stream.counts.items():
            new = count - self._counted.get(status, 0)
            if new:
                self._counted[status] = count
                meters.bulk_items.add(
                    new, {"exotel.operation": self._operation, "exotel.bulk.outcome": status}
                )

    def _end(self, error: BaseException | None) -> None:
        self._count()
        span = self._span
        if self._token is not None:
            otel_context.detach(self._token)
        if span is None:
            return
        if span.is_recording() and self._stream is not None:
            counts = self._stream.counts
            span.set_attributes({f"exotel.bulk.{status}": n for status, n in counts.items()})
            span.set_attribute("exotel.bulk.items", sum(counts.values()))
        if error is not None:
            _fail(span, error)
        span.end()


# -- provisioning -------------------------------------------------------------------------------

_PROVISION: ContextVar[_ProvisionWatch | None] = ContextVar("exotel_provision", default=None)


def watch_provision(
    account_sid: str, trunk_sid: str | None, dry_run: bool
) -> contextlib.AbstractContextManager[_ProvisionWatch | None]:
    """The span of one ``provision``, whose phases :func:`provision_phase` starts."""
    found = instruments()
    if found is None or found.tracer is None:
        return contextlib.nullcontext()
    return _ProvisionWatch(found.tracer, account_sid, trunk_sid, dry_run)


def provision_phase(name: str) -> None:
    """End the current phase of the ``provision`` under way, if traced, and start ``name``."""
    watch = _PROVISION.get()
    if watch is not None:
        watch.phase(name)


class _ProvisionWatch:
    """The ``provision`` span and its current phase's child span, each current in turn."""

    def __init__(
        self, tracer: Tracer, account_sid: str, trunk_sid: str | None, dry_run: bool
    ) -> None:
        self._tracer = tracer
        self._span = tracer.start_span("provision")
        if self._span.is_recording():
            self._span.set_attributes(
                {"exotel.account_sid": account_sid, "exotel.provision.dry_run": dry_run}
            )
            if trunk_sid is not None:
                self._span.set_attribute("exotel.trunk_sid", trunk_sid)
        self._token: Token[Context] | None = None
        self._watching: Token[_ProvisionWatch | None] | None = None
        self._phase: Span | None = None
        self._phase_token: Token[Context] | None = None

    def __enter__(self) -> _ProvisionWatch:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        self._watching = _PROVISION.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end_phase(exc)
        if self._watching is not None:
            _PROVISION.reset(self._watching)
        if self._token is not None:
            otel_context.detach(self._token)
        if exc is not None:
            _fail(self._span, exc)
        self._span.end()

    def phase(self, name: str) -> None:
        """End the current phase and start ``provision.{name}`` as the current span."""
        self._end_phase(None)
        self._phase = self._tracer.start_span(f"provision.{name}")
        self._phase_token = otel_context.attach(trace.set_span_in_context(self._phase))

    def _end_phase(self, error: BaseException | None) -> None:
        if self._phase is None:
            return
        if self._phase_token is not None:
            otel_context.detach(self._phase_token)
        if error is not None:
            _fail(self._phase, error)
        self._phase.end()
        self._phase = self._phase_token = None

    def report(self, report: ProvisionReport) -> None:
        """Put what was done (counts, never values) on the span."""
        span = self._span
        if not span.is_recording():
            return
        attributes: dict[str, str | bool | int] = {
            "exotel.provision.trunk_created": report.trunk_created,
            "exotel.provision.ok": report.ok,
        }
        if report.trunk_sid is not None:
            attributes["exotel.trunk_sid"] = report.trunk_sid
        if report.trunk_found:
            attributes["exotel.provision.trunk_found"] = True
        kinds = ["numbers", "ips", "destinations"]
        if report.spec.credentials:
            kinds.append("sip_credentials")
        for kind in kinds:
            changes = getattr(report, kind)
            attributes[f"exotel.provision.{kind}.created"] = len(changes.created)
            attributes[f"exotel.provision.{kind}.existing"] = len(changes.existing)
            attributes[f"exotel.provision.{kind}.failed"] = len(changes.failed)
            if report.prune:
                attributes[f"exotel.provision.{kind}.removed"] = len(changes.removed)
        span.set_attributes(attributes)


# -- the synchronous client --------------------------------------------------------------------


def carry_context(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """``function``, run under the calling thread's OpenTelemetry context.

    The synchronous client runs every call in its own event loop's thread, where the caller's
    current span would otherwise be lost.
    """
    found = instruments()
    if found is None or found.tracer is None:
        return function
    parent = otel_context.get_current()

    @functools.wraps(function)
    async def under_parent(*args: P.args, **kwargs: P.kwargs) -> T:
        token = otel_context.attach(parent)
        try:
            return await function(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return under_parent
