"""One call's telemetry: its span and its attempts' spans, events, metrics and log records.

On virtual time (see :mod:`.virtual_time`) against the shipped emulator in process (see
:mod:`.emulated`), reporting to in-memory OpenTelemetry providers (``otel_capture``), never to
the global ones. The request ids the telemetry must carry are read from the emulator's answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from exotel_trunking import NotFoundError, RateLimit, _telemetry
from exotel_trunking._transport import Call, LocalRateLimiter
from exotel_trunking._transport._watch import watch_call
from exotel_trunking.emulator import Emulator

from ..otel_capture import Captured, captured
from .emulated import ACCOUNT, AnswerLog, create_trunk, emulator_on, logged_client
from .virtual_time import virtual_time

pytestmark = pytest.mark.anyio

T0 = 1_000.0
TEMPLATE = "/v2/accounts/{account_sid}/trunks/{trunk_sid}/phone-numbers"
NUMBERS = "/trunks/*/phone-numbers"


@pytest.fixture
def otel() -> Iterator[Captured]:
    with captured() as found:
        yield found


def retried_twice(emulator: Emulator) -> str:
    """The next list answers 503, then 429 with ``Retry-After: 2``, then succeeds.

    Returns:
        The sid of the trunk whose numbers to list.
    """
    sid = create_trunk(emulator)
    emulator.script("GET", NUMBERS, "503")
    emulator.script("GET", NUMBERS, "429", headers={"Retry-After": "2"})
    return sid


def distinct_ids(answers: AnswerLog, count: int) -> list[str]:
    """The request ids of the ``count`` answers, checked to be present and all different."""
    ids = answers.request_ids
    assert len(ids) == count
    assert all(isinstance(i, str) and i for i in ids)
    assert len(set(ids)) == count
    return [str(i) for i in ids]


async def test_a_call_retried_twice_that_waited_once_for_the_rate_limit(otel: Captured) -> None:
    caller = otel.tracer_provider.get_tracer("test")
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = retried_twice(emulator)
        client, answers = logged_client(emulator, clock)
        with caller.start_as_current_span("caller"):
            assert await client.phone_numbers.list(sid) == []

    first, second, third = distinct_ids(answers, 3)
    assert otel.outline() == [
        "caller",
        "  phone_numbers.list",
        f"    GET {TEMPLATE}",
        f"    GET {TEMPLATE}",
        f"    GET {TEMPLATE}",
    ]
    (call,) = otel.named("phone_numbers.list")
    assert call.kind is SpanKind.CLIENT
    assert call.status.status_code is StatusCode.UNSET
    assert dict(call.attributes or {}) == {
        "http.request.method": "GET",
        "url.template": TEMPLATE,
        "server.address": "api.exotel.test",
        "server.port": 443,
        "exotel.account_sid": ACCOUNT,
        "exotel.trunk_sid": sid,
        "exotel.attempts": 3,
        "exotel.request_id": third,
    }
    assert [(e.name, dict(e.attributes or {})) for e in call.events] == [
        (
            "exotel.retry",
            {
                "exotel.retry.attempt": 1,
                "exotel.retry.reason": "503",
                "exotel.retry.delay": 0.5,
                "http.response.status_code": 503,
                "exotel.request_id": first,
            },
        ),
        (
            "exotel.retry",
            {
                "exotel.retry.attempt": 2,
                "exotel.retry.reason": "429",
                "exotel.retry.delay": 2.0,
                "http.response.status_code": 429,
                "exotel.request_id": second,
            },
        ),
        (
            "exotel.rate_limit.wait",
            {
                "exotel.rate_limit.wait": 2.0,
                "exotel.rate_limit.reason": "429",
                "exotel.attempt": 3,
            },
        ),
    ]
    url = f"https://api.exotel.test/v2/accounts/{ACCOUNT}/trunks/{sid}/phone-numbers"
    attempts = otel.children(call)
    assert [dict(a.attributes or {}) for a in attempts] == [
        {
            "http.request.method": "GET",
            "url.full": url,
            "server.address": "api.exotel.test",
            "server.port": 443,
            "http.response.status_code": 503,
            "error.type": "503",
            "exotel.retry.reason": "503",
            "exotel.request_id": first,
        },
        {
            "http.request.method": "GET",
            "url.full": url,
            "server.address": "api.exotel.test",
            "server.port": 443,
            "http.request.resend_count": 1,
            "http.response.status_code": 429,
            "error.type": "429",
            "exotel.retry.reason": "429",
            "exotel.request_id": second,
        },
        {
            "http.request.method": "GET",
            "url.full": url,
            "server.address": "api.exotel.test",
            "server.port": 443,
            "http.request.resend_count": 2,
            "http.response.status_code": 200,
        },
    ]
    assert [a.kind for a in attempts] == [SpanKind.CLIENT] * 3
    assert [a.status.status_code for a in attempts] == [StatusCode.ERROR] * 2 + [StatusCode.UNSET]
    # Each attempt ends before the next starts, and the call ends after its last attempt.
    ends = [a.end_time or 0 for a in attempts]
    starts = [a.start_time or 0 for a in attempts]
    assert ends[0] <= starts[1]
    assert ends[1] <= starts[2]
    assert ends[2] <= (call.end_time or 0)


async def test_the_metrics_of_a_call_retried_twice_that_waited_once(otel: Captured) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = retried_twice(emulator)
        client, _ = logged_client(emulator, clock)
        await client.phone_numbers.list(sid)

    op = "phone_numbers.list"
    prefix = "exotel_trunking.client."
    assert otel.values(prefix + "operation.duration", "exotel.operation", "exotel.outcome") == {
        (op, "ok"): 1
    }
    assert otel.values(prefix + "attempts", "http.response.status_code") == {
        (503,): 1,
        (429,): 1,
        (200,): 1,
    }
    assert otel.values(prefix + "retries", "exotel.operation", "exotel.retry.reason") == {
        (op, "503"): 1,
        (op, "429"): 1,
    }
    assert otel.values(prefix + "rate_limited", "exotel.operation") == {(op,): 1}
    ((attributes, wait),) = otel.metrics()[prefix + "rate_limit.wait.duration"]
    assert attributes == {"exotel.operation": op, "exotel.rate_limit.reason": "429"}
    assert (wait.count, wait.sum) == (1, 2.0)
    assert otel.values(prefix + "active_requests", "exotel.operation")[(op,)] == 0


async def test_an_attempt_in_flight_is_counted_until_it_ends(otel: Captured) -> None:
    in_flight = "exotel_trunking.client.active_requests"
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "slow", seconds=5.0)  # answered at T0 + 5
        client, _ = logged_client(emulator, clock)
        async with anyio.create_task_group() as group:
            group.start_soon(client.phone_numbers.list, sid)
            await clock.pause(1.0)
            # The request is in the emulator, unanswered; the script that holds it is used up.
            assert (emulator.requests, emulator.faults.scripts) == ([], [])
            # The counts are the process's (other tests' operations show, at 0).
            assert otel.values(in_flight, "exotel.operation")[("phone_numbers.list",)] == 1
    (answered,) = emulator.requests
    assert (answered.status, answered.fault, answered.duration) == (200, "slow", 5.0)
    assert otel.values(in_flight, "exotel.operation")[("phone_numbers.list",)] == 0


async def test_a_failed_call_carries_its_error_type_and_its_attempt_the_status(
    otel: Captured,
) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)  # no trunk: 404
        client, _ = logged_client(emulator, clock)
        with pytest.raises(NotFoundError):
            await client.phone_numbers.map("tr9", "+919876543210")

    (call,) = otel.named("phone_numbers.map")
    assert call.status.status_code is StatusCode.ERROR
    assert (call.attributes or {})["error.type"] == "exotel_trunking.NotFoundError"
    assert (call.attributes or {})["exotel.attempts"] == 1
    (attempt,) = otel.children(call)
    assert attempt.name == f"POST {TEMPLATE}"
    assert (attempt.attributes or {})["error.type"] == "404"
    assert "exotel.retry.reason" not in (attempt.attributes or {})
    duration = otel.values(
        "exotel_trunking.client.operation.duration", "exotel.outcome", "error.type"
    )
    assert duration == {("error", "exotel_trunking.NotFoundError"): 1}


async def test_a_transport_error_is_the_attempts_error_type_and_its_retry_reason(
    otel: Captured,
) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "drop_before")
        client, _ = logged_client(emulator, clock)
        await client.phone_numbers.list(sid)

    (call,) = otel.named("phone_numbers.list")
    failed, succeeded = otel.children(call)
    assert (failed.attributes or {})["error.type"] == "httpx2.RemoteProtocolError"
    assert (failed.attributes or {})["exotel.retry.reason"] == "RemoteProtocolError"
    assert "http.response.status_code" not in (failed.attributes or {})
    assert (succeeded.attributes or {})["http.response.status_code"] == 200
    errors = otel.values("exotel_trunking.client.attempts", "error.type")
    assert errors == {("httpx2.RemoteProtocolError",): 1, (None,): 1}


async def test_with_attempt_spans_off_the_call_span_has_no_children(otel: Captured) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = retried_twice(emulator)
        client, _ = logged_client(emulator, clock, attempt_spans=False)
        await client.phone_numbers.list(sid)

    assert otel.outline() == ["phone_numbers.list"]
    (call,) = otel.spans()
    assert (call.attributes or {})["exotel.attempts"] == 3
    assert [e.name for e in call.events] == [
        "exotel.retry",
        "exotel.retry",
        "exotel.rate_limit.wait",
    ]


async def test_pacing_below_the_rate_limit_is_a_wait_for_pacing(otel: Captured) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        client, _ = logged_client(emulator, clock)
        client._requester.limiter = LocalRateLimiter(
            RateLimit(1, 10.0, 1), clock=clock.monotonic, sleep=clock.sleep
        )
        await client.phone_numbers.list(sid)
        await client.phone_numbers.list(sid)

    first, second = otel.named("phone_numbers.list")
    assert first.events == ()
    (event,) = second.events
    attributes = dict(event.attributes or {})
    assert attributes.pop("exotel.rate_limit.wait") == pytest.approx(10.0, abs=0.5)
    assert attributes == {"exotel.rate_limit.reason": "pacing", "exotel.attempt": 1}


async def test_without_a_configured_provider_nothing_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # OpenTelemetry's global providers are its proxies here (the suite never sets them).
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert _telemetry.instruments() is None
    built: list[object] = []
    monkeypatch.setattr(
        "exotel_trunking._transport._watch.CallWatch.__init__",
        lambda *args: built.append(args),
    )
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        client, _ = logged_client(emulator, clock)
        assert await client.phone_numbers.list(sid) == []
    assert built == []
    with _telemetry.use_providers(trace.NoOpTracerProvider(), metrics.NoOpMeterProvider()):
        assert _telemetry.instruments() is None


def test_a_global_provider_set_later_is_used_once_the_last_lookup_is_a_second_old(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(_telemetry._STATE, "clock", lambda: now[0])
    _telemetry.set_enabled(True)  # forget earlier lookups
    assert _telemetry.instruments() is None
    # What trace.set_tracer_provider(...) does in an application, without touching the global.
    monkeypatch.setattr(trace, "get_tracer_provider", TracerProvider)
    now[0] += _telemetry.RECHECK - 0.01
    assert _telemetry.instruments() is None  # the lookup a moment ago still stands
    now[0] += 0.02
    looked_up = _telemetry.instruments()
    assert looked_up is not None
    assert looked_up.tracer is not None
    assert looked_up.meters is None  # the meter provider is still OpenTelemetry's proxy
    _telemetry.set_enabled(True)


def test_switched_off_nothing_is_reported_even_with_providers(otel: Captured) -> None:
    _telemetry.set_enabled(False)
    try:
        assert _telemetry.instruments() is None
    finally:
        _telemetry.set_enabled(True)
    assert _telemetry.instruments() is not None


# Log records.


async def test_a_finished_call_is_one_debug_record_with_fields_for_json_formatters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="exotel_trunking")
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = retried_twice(emulator)
        client, answers = logged_client(emulator, clock)
        await client.phone_numbers.list(sid)

    first, second, third = distinct_ids(answers, 3)
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 1
    record: Any = debug[0]
    assert (record.operation, record.status, record.attempts, record.request_id) == (
        "phone_numbers.list",
        200,
        3,
        third,
    )
    assert isinstance(record.duration_ms, float)
    retries: list[Any] = [r for r in caplog.records if r.levelno == logging.INFO]
    assert [(r.operation, r.status, r.attempts, r.request_id) for r in retries] == [
        ("phone_numbers.list", 503, 1, first),
        ("phone_numbers.list", 429, 2, second),
    ]
    assert all(isinstance(r.duration_ms, float) for r in retries)


async def test_a_failed_call_is_one_debug_record_naming_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="exotel_trunking")
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)  # no trunk: 404
        client, answers = logged_client(emulator, clock)
        with pytest.raises(NotFoundError):
            await client.credentials.get("tr9")

    (request_id,) = distinct_ids(answers, 1)
    (record,) = caplog.records
    assert record.getMessage().startswith(
        f"GET /v2/accounts/{ACCOUNT}/trunks/tr9/credentials failed "
        f"(exotel_trunking.NotFoundError) request_id={request_id} elapsed="
    )
    fields: Any = record
    assert (fields.operation, fields.status, fields.attempts) == ("credentials.get", 404, 1)
    assert fields.error == "exotel_trunking.NotFoundError"


def test_without_debug_logging_or_telemetry_no_watch_is_made() -> None:
    site = _telemetry.Site.of("https://api.exotel.test", ACCOUNT)
    assert not logging.getLogger("exotel_trunking").isEnabledFor(logging.DEBUG)
    assert watch_call(Call("GET", "trunks", operation="x"), site) is None
