"""What OpenTelemetry costs per call: off, installed without a provider, and recording.

Three modes of the same client, in process, one call at a time, against the emulator's
in-process transport (``Emulator(...).transport()``), with ``rate_limit=None``:

- *off*: the integration switched off (``_telemetry.set_enabled(False)``), as without the
  ``otel`` extra: the SDK asks nothing of OpenTelemetry;
- *no provider*: ``opentelemetry-api`` installed, no tracer or meter provider configured (the
  global ones are OpenTelemetry's proxies): what a user who installed the extra but set
  nothing up pays;
- *SDK*: an OpenTelemetry SDK ``TracerProvider`` with a ``SimpleSpanProcessor`` into an
  ``InMemorySpanExporter`` (each span handed over as it ends, on the caller's thread) and a
  ``MeterProvider`` with an ``InMemoryMetricReader``: two spans (the call and its attempt) and
  two metric recordings a call (attempts, duration; requests in flight are observed only when
  metrics are collected). The exporter is emptied between batches, outside the timing.

``phone_numbers.list`` reads a trunk of 10 numbers; ``phone_numbers.map`` maps a new number
each call. Each round times a batch of every (call, mode) pair in turn, the order reversed on
every other round; medians over rounds, ratio = median of the per-round ratios to *off*. The
target is on this process's CPU time (nothing waits in process; another process cannot
inflate it); wall time is shown too.

A second table times the telemetry alone, each part in a tight loop of its own, so that a
ratio lost in the machine's noise can be checked against what the part costs: the per-call
check that finds no provider (``watch_call``); the SDK's telemetry for one call with the SDK
providers (a ``CallWatch`` around a canned answer: both spans, the wait check, the metrics);
and the same OpenTelemetry calls done bare (the two spans with the same names, attributes and
nesting, the same two metric recordings), which is OpenTelemetry's own share.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, set_span_in_context

from exotel_trunking import AsyncTrunkingClient, _telemetry
from exotel_trunking._telemetry import Site
from exotel_trunking._transport import Call, Envelope
from exotel_trunking._transport._http import Answer, _Holds
from exotel_trunking._transport._watch import watch_call
from exotel_trunking.emulator import Emulator

from ._canned import ACCOUNT_SID, API_KEY, API_TOKEN
from ._plots import figure, save
from ._report import Section, Table, Target, median

CALLS = ("phone_numbers.list", "phone_numbers.map")
MODES = ("off", "no provider", "SDK")
CLOCKS = {"CPU": time.process_time, "wall": time.perf_counter}
#: Per-call time at most this multiple of *off* (issue 15).
TARGETS = {"no provider": 1.02, "SDK": 1.10}
LIST_SIZE = 10
#: The parts timed alone are cheap: this many times more of them a batch.
PART_CALLS = 5
#: The telemetry alone, each in a tight loop (see the module's docstring).
CHECK = "no provider: the per-call check (`watch_call`)"
WATCH = "SDK: the SDK's telemetry for one call (`CallWatch`, canned answer)"
BARE = "SDK: the same OpenTelemetry calls, bare"
PARTS = (CHECK, WATCH, BARE)

Op = Callable[[], Awaitable[Any]]


@dataclass
class Settings:
    rounds: int
    calls: int
    warmup: int = 200


FULL = Settings(rounds=41, calls=200)
QUICK = Settings(rounds=4, calls=100, warmup=50)


class Modes:
    """Switches the SDK's telemetry between the three modes."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    @contextmanager
    def mode(self, name: str) -> Iterator[None]:
        if name == "off":
            _telemetry.set_enabled(False)
            try:
                yield
            finally:
                _telemetry.set_enabled(True)
        elif name == "no provider":
            with _telemetry.use_providers(None, None):
                assert _telemetry.instruments() is None, "a global provider is configured"
                yield
        else:
            with _telemetry.use_providers(self.tracer_provider, self.meter_provider):
                yield
            self.exporter.clear()

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def bare_opentelemetry(modes: Modes) -> Callable[[], None]:
    """One call's worth of what the SDK mode asks of OpenTelemetry, without the SDK around it."""
    tracer = modes.tracer_provider.get_tracer("bare")
    meter = modes.meter_provider.get_meter("bare")
    duration = meter.create_histogram("bare.duration", unit="s")
    attempts = meter.create_counter("bare.attempts", unit="{attempt}")
    template = "/v2/accounts/{account_sid}/trunks/{trunk_sid}/phone-numbers"
    call_attributes: dict[str, str | int] = {
        "http.request.method": "GET",
        "url.template": template,
        "server.address": "api.in.exotel.com",
        "server.port": 443,
        "exotel.account_sid": ACCOUNT_SID,
        "exotel.trunk_sid": "trbench",
    }
    attempt_attributes: dict[str, str | int] = {
        "http.request.method": "GET",
        "url.full": f"https://api.in.exotel.com/v2/accounts/{ACCOUNT_SID}/trunks/trbench/phone-numbers",
        "server.address": "api.in.exotel.com",
        "server.port": 443,
    }
    operation = {"exotel.operation": "phone_numbers.list"}

    def one_call() -> None:
        span = tracer.start_span("phone_numbers.list", kind=SpanKind.CLIENT)
        span.set_attributes(call_attributes)
        token = otel_context.attach(set_span_in_context(span))
        attempt = tracer.start_span(f"GET {template}", kind=SpanKind.CLIENT)
        attempt.set_attributes(attempt_attributes)
        otel_context.detach(otel_context.attach(set_span_in_context(attempt)))
        attempt.set_attribute("http.response.status_code", 200)
        attempts.add(1, {**operation, "http.response.status_code": 200})
        attempt.end()
        span.set_attribute("exotel.attempts", 1)
        span.set_attribute("exotel.request_id", "5f0a8c1e4b9d4a0f9a3c2b1d0e9f8a7b")
        otel_context.detach(token)
        span.end()
        duration.record(0.0002, {**operation, "exotel.outcome": "ok"})

    return one_call


def no_provider_check() -> Callable[[], None]:
    """The check every call makes: is anything configured? (Asserted to find nothing.)"""
    call = Call("GET", "trunks/trbench/phone-numbers", operation="phone_numbers.list")
    site = Site.of("https://api.in.exotel.com", ACCOUNT_SID)

    def check() -> None:
        watch_call(call, site)

    return check


def call_watch() -> Op:
    """One call's telemetry as the requester drives it, around a canned answer, no HTTP."""
    call = Call(
        "GET",
        "trunks/trbench/phone-numbers",
        operation="phone_numbers.list",
        template="trunks/{trunk_sid}/phone-numbers",
        trunk_sid="trbench",
    )
    site = Site.of("https://api.in.exotel.com", ACCOUNT_SID)
    request = httpx2.Request("GET", f"https://api.in.exotel.com/v2/accounts/{ACCOUNT_SID}/x")
    answer = Answer(200, httpx2.Headers(), b"")
    envelope = Envelope(request_id="5f0a8c1e4b9d4a0f9a3c2b1d0e9f8a7b")
    holds = _Holds()

    async def acquired() -> None:
        return None

    async def answered() -> Answer:
        return answer

    async def one_call() -> None:
        watch = watch_call(call, site)
        assert watch is not None
        with watch:
            await watch.paced(acquired(), time.monotonic, holds)
            await watch.exchange(answered(), request)
            watch.done(envelope)

    return one_call


def _time_sync(op: Callable[[], None], calls: int) -> dict[str, float]:
    gc.collect()
    started = {name: clock() for name, clock in CLOCKS.items()}
    for _ in range(calls):
        op()
    return {name: (clock() - started[name]) / calls * 1e6 for name, clock in CLOCKS.items()}


async def _time(op: Op, calls: int) -> dict[str, float]:
    """µs per call on every clock over ``calls`` sequential calls."""
    gc.collect()
    started = {name: clock() for name, clock in CLOCKS.items()}
    for _ in range(calls):
        await op()
    return {name: (clock() - started[name]) / calls * 1e6 for name, clock in CLOCKS.items()}


Results = dict[tuple[str, str, str], list[float]]


async def _measure(settings: Settings, modes: Modes) -> Results:
    results: Results = {(c, m, k): [] for c in CALLS for m in MODES for k in CLOCKS}
    results.update({(part, part, k): [] for part in PARTS for k in CLOCKS})
    check, watch, bare = no_provider_check(), call_watch(), bare_opentelemetry(modes)
    emulator = Emulator(API_KEY, API_TOKEN, ACCOUNT_SID, seed=0)
    async with AsyncTrunkingClient(
        API_KEY, API_TOKEN, ACCOUNT_SID, transport=emulator.transport(), rate_limit=None
    ) as client:
        listed = (await client.trunks.create("listed")).trunk_sid
        for n in range(LIST_SIZE):
            await client.phone_numbers.map(listed, f"+9198000{n:05d}")
        mapped = (await client.trunks.create("mapped")).trunk_sid
        fresh = (f"+9197{n:08d}" for n in itertools.count())
        ops: dict[str, Op] = {
            "phone_numbers.list": lambda: client.phone_numbers.list(listed),
            "phone_numbers.map": lambda: client.phone_numbers.map(mapped, next(fresh)),
        }
        keys = [(c, m) for c in CALLS for m in MODES]
        for call, mode in keys:
            with modes.mode(mode):
                await _time(ops[call], settings.warmup)
        for round_ in range(settings.rounds):
            for call, mode in keys if round_ % 2 == 0 else reversed(keys):
                with modes.mode(mode):
                    timed = await _time(ops[call], settings.calls)
                for clock, value in timed.items():
                    results[(call, mode, clock)].append(value)
            parts = {}
            with modes.mode("no provider"):
                parts[CHECK] = _time_sync(check, settings.calls * PART_CALLS)
            with modes.mode("SDK"):
                parts[WATCH] = await _time(watch, settings.calls * PART_CALLS)
                parts[BARE] = _time_sync(bare, settings.calls * PART_CALLS)
            for part, timed in parts.items():
                for clock, value in timed.items():
                    results[(part, part, clock)].append(value)
    return results


def measure(settings: Settings) -> Results:
    modes = Modes()
    try:
        return anyio.run(_measure, settings, modes)
    finally:
        modes.close()


def _summarise_parts(results: Results, table: Table) -> None:
    for part in PARTS:
        table.add(part, *(f"{median(results[(part, part, clock)]):.1f}" for clock in CLOCKS))


def _summarise(results: Results, table: Table, section: Section) -> dict[str, dict[str, float]]:
    """Table rows and targets; by call and mode, the CPU µs/call median and the ratio to *off*
    (median of the per-round ratios), for the plot."""
    medians: dict[str, dict[str, tuple[float, float]]] = {}
    for call in CALLS:
        for clock in CLOCKS:
            off = results[(call, "off", clock)]
            cells = [call, clock, f"{median(off):.0f}"]
            for mode in MODES[1:]:
                values = results[(call, mode, clock)]
                ratios = [v / o for v, o in zip(values, off, strict=True)]
                ratio = median(ratios)
                best = min(values) / min(off)
                cells += [
                    f"{median(values):.0f}",
                    f"**{ratio:.3f}x** ({min(ratios):.2f}-{max(ratios):.2f}; best-of {best:.3f}x)",
                ]
                if clock == "CPU":
                    section.targets.append(
                        Target(
                            "otel",
                            f"{call} in process, {mode}: <= {TARGETS[mode]:.2f}x off (CPU)",
                            f"{ratio:.3f}x ({median(values):.0f} vs {median(off):.0f} µs/call; "
                            f"best-of {best:.3f}x)",
                            ratio <= TARGETS[mode],
                        )
                    )
            table.add(*cells)
            if clock == "CPU":
                medians[call] = {
                    mode: (
                        median(results[(call, mode, clock)]),
                        median(
                            v / o for v, o in zip(results[(call, mode, clock)], off, strict=True)
                        ),
                    )
                    for mode in MODES
                }
    return medians


def _plot(medians: dict[str, dict[str, tuple[float, float]]], out: Path) -> str:
    fig, ax = figure(width=7.0, height=4.0)
    width = 0.27
    colors = {"off": "#9aa7b1", "no provider": "#4a90c2", "SDK": "#c05621"}
    for i, mode in enumerate(MODES):
        xs = [x + (i - 1) * width for x in range(len(CALLS))]
        values = [medians[c][mode][0] for c in CALLS]
        ax.bar(xs, values, width, label=mode, color=colors[mode])
        if mode != "off":
            for x, call, value in zip(xs, CALLS, values, strict=True):
                ratio = medians[call][mode][1]
                ax.annotate(f"{ratio:.2f}x", (x, value), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(range(len(CALLS))), list(CALLS))
    ax.set_ylabel("µs per call, CPU (median)")
    ax.set_title(
        "OpenTelemetry: off, no provider, SDK with in-memory export\n"
        "(labels: median of per-round ratios to off)",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left")
    ax.margins(y=0.2)
    return save(fig, out, "otel.png")


def run(quick: bool, out: Path) -> Section:
    settings = QUICK if quick else FULL
    results = measure(settings)
    section = Section(
        "otel",
        "7. OpenTelemetry's cost per call (issue 15)",
        "`phone_numbers.list` (a trunk of 10 numbers) and `phone_numbers.map` (a new number "
        "each call) in process against the emulator's in-process transport, `rate_limit=None`, "
        "one call at a time, in three modes of the same client: *off* (the integration "
        "switched off, as without the `otel` extra), *no provider* (`opentelemetry-api` "
        "installed, no provider configured) and *SDK* (OpenTelemetry SDK `TracerProvider` "
        "with a `SimpleSpanProcessor` into an `InMemorySpanExporter`, `MeterProvider` with "
        "an `InMemoryMetricReader`: a span for the call and one for its attempt, two metric "
        "recordings). The second table times the telemetry alone, each part in a tight loop "
        "(with the CPU's caches warm for it, unlike in a real call): the check a call makes "
        "when no provider is configured, the SDK's telemetry for one call around a canned "
        "answer, and the same OpenTelemetry calls made bare (OpenTelemetry's own share). "
        f"{settings.rounds} rounds of {settings.calls} calls per (call, mode), "
        "interleaved; medians, ratio = median of per-round ratios to *off* (range in "
        "brackets, and best-of: the fastest batch of the mode over the fastest of *off*, the "
        "figure least disturbed by the rest of the machine). The targets are on this "
        "process's CPU time.",
    )
    table = Table(
        "Per-call time by mode",
        [
            "call",
            "clock",
            "off µs/call",
            "no provider µs/call",
            "no provider / off",
            "SDK µs/call",
            "SDK / off",
        ],
    )
    medians = _summarise(results, table, section)
    parts = Table(
        "The telemetry alone, each part in a tight loop", ["part", "CPU µs/call", "wall µs/call"]
    )
    _summarise_parts(results, parts)
    section.tables += [table, parts]
    section.plots.append(_plot(medians, out))
    return section
