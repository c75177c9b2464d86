"""Against the emulator served on 127.0.0.1: pooling, keep-alive, drops, cancellation, close.

These are the failures that happen below the layer a mock transport replaces (painpoints 1, 2,
3, 11, 12, 14, 15, 16), so they talk over real sockets to the shipped emulator
(``emulator.serve()``, with its own knobs and scripted faults: latency, ``idle_timeout``,
``drop_after``, ``slow``, ``slow_body``, error statuses with a body) and, for a slow TLS
handshake, to :func:`.servers.serve_origin`; they wait in real (short) time. Every test is
bounded with ``anyio.fail_after``.
"""

from __future__ import annotations

import gc
import ssl
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.from_thread
import httpcore2
import httpx2
import pytest
import trustme

from exotel_trunking import (
    APIConnectionError,
    APITimeoutError,
    AsyncTrunkingClient,
    ExotelError,
    InternalServerError,
    PhoneNumber,
    RetryPolicy,
)
from exotel_trunking.emulator import Emulator

from ..emulator.emulator_helpers import wait_until
from .emulated import create_trunk, emulator_on, served_client
from .servers import serve_origin

# The emulator served on 127.0.0.1, with real latency, timeouts and connection limits.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]

#: Retries without long waits: the behaviour under test is what is retried, not the backoff.
QUICK = RetryPolicy(initial_delay=0.01, max_delay=0.05)
NUMBER = "+919876543210"
#: The path pattern of a trunk's phone numbers, for scripted faults.
PHONE_NUMBERS = "/trunks/*/phone-numbers"


def numbers(count: int) -> list[str]:
    return [f"+9198765{index:05d}" for index in range(count)]


@asynccontextmanager
async def exotel(
    emulator: Emulator | None = None, **options: Any
) -> AsyncIterator[tuple[Emulator, str, AsyncTrunkingClient]]:
    """``emulator`` (or a fresh one) with a trunk ``tr1``, served, and a client for it.

    Yields:
        The emulator, the trunk's sid and the client (no pacing, quick retries unless asked).
    """
    emulator = emulator or emulator_on()
    trunk = create_trunk(emulator, "tr1")
    options.setdefault("retry", QUICK)
    async with emulator.serve() as base_url, served_client(base_url, **options) as client:
        yield emulator, trunk, client


def tails(emulator: Emulator) -> list[tuple[str, str, int | None]]:
    """Each logged request's method, last path segment and status, in order of arrival."""
    ordered = sorted(emulator.requests, key=lambda record: record.arrived)
    return [(r.method, r.path.rsplit("/", 1)[-1], r.status) for r in ordered]


def connection_pool(client: AsyncTrunkingClient) -> httpcore2.AsyncConnectionPool:
    """The connection pool of the SDK's own ``httpx2.AsyncClient``, for the running loop."""
    http = client._requester._clients.client()
    transport = http._transport_for_url(httpx2.URL(client.base_url))
    assert isinstance(transport, httpx2.AsyncHTTPTransport)
    pool = transport._pool
    assert isinstance(pool, httpcore2.AsyncConnectionPool)
    return pool


def pool_state(client: AsyncTrunkingClient) -> tuple[int, int]:
    """Requests waiting for a connection, and connections busy with a request."""
    pool = connection_pool(client)
    waiting = sum(request.is_queued() for request in pool._requests)
    busy = sum(not connection.is_idle() for connection in pool.connections)
    return waiting, busy


# Painpoint 1: pool exhaustion.


async def test_more_concurrent_calls_than_connections_wait_their_turn_without_pool_timeouts() -> (
    None
):
    emulator = emulator_on(latency=0.2)
    # A pool wait of 0.05 s would fail every queued request if they queued inside httpx2.
    options: dict[str, Any] = {
        "max_connections": 5,
        "timeout": httpx2.Timeout(5.0, pool=0.05),
        "max_retries": 0,
    }
    with anyio.fail_after(10):
        async with exotel(emulator, **options) as (_, trunk, client):
            mapped: list[PhoneNumber] = []

            async def map_one(number: str) -> None:
                mapped.append(await client.phone_numbers.map(trunk, number))

            async with anyio.create_task_group() as group:
                for number in numbers(60):
                    group.start_soon(map_one, number)

    assert len(mapped) == 60
    assert len(emulator.state.phone_numbers(trunk)) == 60
    assert emulator.connections.requests == 60
    assert emulator.connections.peak <= 5
    assert emulator.connections.opened <= 5  # kept alive and reused, not reopened


# Painpoint 2: cancellation storms.


async def test_cancellation_storms_leave_the_pool_usable_and_idle() -> None:
    emulator = emulator_on(latency=1.0)
    with anyio.fail_after(10):
        async with exotel(emulator, max_connections=5) as (_, trunk, client):
            for _ in range(10):
                with anyio.move_on_after(0.05):
                    async with anyio.create_task_group() as group:
                        for _ in range(20):
                            group.start_soon(client.phone_numbers.list, trunk)
            emulator.configure(latency=0.0)

            with anyio.fail_after(1):
                async with anyio.create_task_group() as group:
                    for _ in range(5):
                        group.start_soon(client.phone_numbers.list, trunk)

            assert pool_state(client) == (0, 0)

    # Every cancelled request closed its connection (HTTP/1.1 cannot abandon a response midway)
    # and a new one was opened, yet never more than the pool size at once.
    assert emulator.counters.unanswered > 0  # the storms did cut requests off mid-answer
    assert emulator.connections.peak <= 5


# Painpoint 3: the connection breaks after the server applied the request.


async def test_map_dropped_after_the_server_applied_it_maps_once_and_returns_the_record() -> None:
    emulator = emulator_on()
    emulator.script("POST", PHONE_NUMBERS, "drop_after")
    with anyio.fail_after(5):
        async with exotel(emulator) as (_, trunk, client):
            number = await client.phone_numbers.map(trunk, NUMBER)

    mapped = emulator.state.phone_numbers(trunk)
    assert [record.phone_number for record in mapped] == [NUMBER]
    assert number.id == mapped[0].id
    assert tails(emulator) == [
        ("POST", "phone-numbers", None),  # applied, then the connection dropped
        ("POST", "phone-numbers", 409),  # the retry finds it mapped already
        ("GET", "phone-numbers", 200),  # and the SDK reads the record back
    ]


async def test_map_answered_after_the_read_timeout_maps_once_and_returns_the_record() -> None:
    emulator = emulator_on()
    emulator.script("POST", PHONE_NUMBERS, "slow", seconds=1.0)  # applied at once, answered late
    with anyio.fail_after(5):
        async with exotel(emulator, timeout=0.3) as (_, trunk, client):
            number = await client.phone_numbers.map(trunk, NUMBER)

    mapped = emulator.state.phone_numbers(trunk)
    assert [record.phone_number for record in mapped] == [NUMBER]
    assert number.id == mapped[0].id
    assert tails(emulator)[0] == ("POST", "phone-numbers", None)  # the client gave up on it


async def test_create_dropped_after_the_server_applied_it_is_not_repeated_and_may_exist() -> None:
    emulator = emulator_on()
    emulator.script("POST", "/trunks", "drop_after")
    with anyio.fail_after(5):
        async with exotel(emulator) as (_, _, client):
            with pytest.raises(APIConnectionError, match="'t1' may have been created"):
                await client.trunks.create("t1")

    assert [trunk.trunk_name for trunk in emulator.state.trunks] == ["tr1", "t1"]
    assert [(record.method, record.fault) for record in emulator.requests] == [
        ("POST", "drop_after")
    ]


async def test_create_answered_after_the_read_timeout_is_not_repeated_and_may_exist() -> None:
    emulator = emulator_on()
    emulator.script("POST", "/trunks", "slow", seconds=1.0)
    with anyio.fail_after(5):
        async with exotel(emulator, timeout=0.3) as (_, _, client):
            with pytest.raises(APITimeoutError, match="'t1' may have been created"):
                await client.trunks.create("t1")

    assert [trunk.trunk_name for trunk in emulator.state.trunks] == ["tr1", "t1"]
    assert [(record.method, record.status) for record in emulator.requests] == [("POST", None)]


# Painpoint 14: the server closes idle keep-alive connections.


async def test_calls_after_the_server_closed_idle_keep_alive_connections_succeed() -> None:
    emulator = emulator_on(idle_timeout=0.2)
    with anyio.fail_after(5):
        async with exotel(emulator) as (_, trunk, client):
            await client.phone_numbers.list(trunk)
            await wait_until(lambda: emulator.connections.closed == 1)
            assert emulator.connections.idle_closed == 1

            await client.phone_numbers.list(trunk)
            await client.phone_numbers.map(trunk, NUMBER)
            created = await client.trunks.create("t1")  # never repeated: it must not need to be

    assert created.trunk_name == "t1"
    assert [record.phone_number for record in emulator.state.phone_numbers(trunk)] == [NUMBER]
    assert len(emulator.requests) == 4
    assert emulator.connections.opened == 2


# Painpoint 12: cancellation mid-request and while waiting to retry.


async def test_cancelling_a_call_mid_request_returns_promptly_and_frees_its_connection() -> None:
    emulator = emulator_on(latency=5.0)
    with anyio.fail_after(5):
        async with exotel(emulator, max_connections=1) as (_, trunk, client):
            started = anyio.current_time()
            with anyio.move_on_after(0.3):
                await client.phone_numbers.list(trunk)
            assert anyio.current_time() - started < 0.45
            emulator.configure(latency=0.0)

            with anyio.fail_after(1):
                await client.whitelisted_ips.list(trunk)

    assert tails(emulator) == [
        ("GET", "phone-numbers", None),  # cut off: never answered
        ("GET", "whitelisted-ips", 200),
    ]


@pytest.mark.parametrize("status", [503, 429])
async def test_cancelling_a_call_waiting_to_retry_returns_promptly_and_sends_nothing_more(
    status: int,
) -> None:
    emulator = emulator_on()
    emulator.script("GET", PHONE_NUMBERS, str(status), headers={"Retry-After": "5"})
    with anyio.fail_after(5):
        async with exotel(emulator) as (_, trunk, client):
            started = anyio.current_time()
            with anyio.move_on_after(0.3) as scope:
                await client.phone_numbers.list(trunk)
            elapsed = anyio.current_time() - started
            await anyio.sleep(0.3)

    assert scope.cancelled_caught
    assert elapsed < 1.0  # not the 5 s the retry would have waited
    assert tails(emulator) == [("GET", "phone-numbers", status)]


# Painpoint 11: a server dripping its answer defeats the read timeout, not the deadline.


async def test_the_deadline_ends_a_call_whose_answer_drips_in_slower_than_any_read_timeout() -> (
    None
):
    emulator = emulator_on()
    emulator.script("GET", PHONE_NUMBERS, "slow_body", seconds=0.1)  # one byte every 0.1 s
    policy = RetryPolicy(deadline=1.0)
    with anyio.fail_after(5):
        async with exotel(emulator, retry=policy, timeout=0.5) as (_, trunk, client):
            started = anyio.current_time()
            with pytest.raises(APITimeoutError, match="within the 1s deadline"):
                await client.phone_numbers.list(trunk)
            elapsed = anyio.current_time() - started

    assert 1.0 <= elapsed < 1.3
    assert [(record.method, record.fault) for record in emulator.requests] == [("GET", "slow_body")]


# Painpoint 15: error answers with large bodies do not leak connections.


async def test_error_answers_with_a_large_body_release_their_connections() -> None:
    emulator = emulator_on()
    big = b"<html>" + b"x" * 1_000_000 + b"</html>"
    emulator.script("GET", PHONE_NUMBERS, "500", times=6, body=big)
    with anyio.fail_after(10):
        async with exotel(emulator, max_connections=2) as (_, trunk, client):
            for _ in range(6):
                with pytest.raises(InternalServerError) as caught:
                    await client.phone_numbers.list(trunk)
                assert len(str(caught.value)) < 400  # an excerpt, not the megabyte

            with anyio.fail_after(1):
                assert await client.phone_numbers.list(trunk) == []
            assert pool_state(client) == (0, 0)

    assert [record.status for record in emulator.requests] == [500] * 6 + [200]
    assert emulator.connections.peak <= 2


# Painpoint 16: closing the client while requests are in flight.


async def test_closing_the_client_with_requests_in_flight_neither_hangs_nor_leaks_runtime_errors() -> (  # noqa: E501
    None
):
    emulator = emulator_on(latency=2.0)
    outcomes: list[BaseException | None] = []
    with anyio.fail_after(5):
        async with exotel(emulator, max_connections=5) as (_, trunk, client):

            async def call() -> None:
                try:
                    await client.phone_numbers.list(trunk)
                except Exception as error:
                    outcomes.append(error)
                else:
                    outcomes.append(None)

            async with anyio.create_task_group() as group:
                for _ in range(20):
                    group.start_soon(call)
                await anyio.sleep(0.2)
                closing = anyio.current_time()
                with anyio.fail_after(1):
                    await client.aclose()
                closed_in = anyio.current_time() - closing
            settled_in = anyio.current_time() - closing

    assert closed_in < 1.0
    assert settled_in < 1.0
    assert len(outcomes) == 20
    assert [error for error in outcomes if not isinstance(error, ExotelError)] == []
    assert all("the client has been closed" in str(error) for error in outcomes)


def collect_sockets_of_cancelled_tls_handshakes(port: int) -> None:
    """Collect the client sockets a cancelled TLS handshake left open, excusing their warnings.

    httpcore2's ``AnyIOStream.start_tls`` closes the TCP stream when the handshake fails with
    an ``Exception``, not when it is cancelled (a ``BaseException``), so every cancellation
    mid-handshake (``aclose()`` here, but a ``move_on_after`` or ``attempt_timeout`` too)
    leaves the socket to the garbage collector, which warns (``ResourceWarning``; on asyncio
    for the transport too). Collected here, only those warnings are excused; anything else
    fails the test. Drop this once the leak is fixed.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    for warning in caught:
        message = str(warning.message)
        assert warning.category is ResourceWarning, message
        assert message.startswith(("unclosed <socket.socket", "unclosed transport <")), message
        assert "raddr" not in message or f"{port})" in message, message


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1, and a client context trusting it."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def close_while_connecting(
    client: AsyncTrunkingClient, calls: dict[str, Callable[[], Awaitable[object]]]
) -> dict[str, tuple[str, float]]:
    """Start ``calls``, ``aclose()`` the client 0.2 s later; how each ended, and how soon.

    Returns:
        By call: its error's type and message (or its result's repr), and the seconds from
        ``aclose()`` until it ended. Only text: no traceback keeps the calls' frames alive.
    """
    ended: dict[str, tuple[str, float]] = {}
    closing = 0.0

    async def call(name: str) -> None:
        try:
            outcome = f"returned {await calls[name]()!r}"
        except Exception as error:
            outcome = f"{type(error).__name__}: {error}"
        ended[name] = (outcome, time.perf_counter() - closing)

    async with anyio.create_task_group() as group:
        for name in calls:
            group.start_soon(call, name)
        await anyio.sleep(0.2)
        closing = time.perf_counter()
        await client.aclose()
    return ended


async def test_closing_the_client_while_calls_are_connecting_fails_them_at_once_unsent(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls_contexts
    with anyio.fail_after(5):
        # Each TLS handshake waits 0.5 s: the calls are still connecting when aclose() comes.
        async with serve_origin(ssl_context=server_context, handshake_delay=0.5) as origin:
            client = served_client(origin.base_url, verify=client_context, max_retries=0)
            ended = await close_while_connecting(
                client,
                {
                    "create": lambda: client.trunks.create("t1"),
                    "map": lambda: client.phone_numbers.map("tr1", NUMBER),
                    "list": lambda: client.phone_numbers.list("tr1"),
                },
            )
            connected = origin.connections
            await anyio.sleep(0.5)  # past the handshake delay: anything still going would send

    assert connected == 3  # each call had its TCP connection, and was in its TLS handshake
    assert origin.requests == []
    assert sorted(ended) == ["create", "list", "map"]
    for name, (outcome, after) in ended.items():
        assert outcome.startswith("APIConnectionError: "), f"{name}: {outcome}"
        assert outcome.endswith("stopped: the client has been closed"), f"{name}: {outcome}"
        assert after < 0.3, f"{name} ended {after:.2f}s after aclose()"
    collect_sockets_of_cancelled_tls_handshakes(origin.port)


async def test_a_call_on_a_closed_client_raises_a_connection_error_without_sending() -> None:
    with anyio.fail_after(5):
        async with exotel() as (emulator, _, client):
            await client.aclose()

            with pytest.raises(APIConnectionError, match="the client has been closed"):
                await client.trunks.create("t1")

    assert emulator.requests == []
    assert emulator.connections.opened == 0
    assert [trunk.trunk_name for trunk in emulator.state.trunks] == ["tr1"]


# with_options derives a client that shares the pool and the in-flight cap.


async def test_a_client_from_with_options_shares_the_connection_pool_and_the_cap() -> None:
    emulator = emulator_on(latency=0.1)
    with anyio.fail_after(5):
        async with exotel(emulator, max_connections=2) as (_, trunk, client):
            derived = client.with_options(max_retries=0, timeout=5.0)
            async with anyio.create_task_group() as group:
                for _ in range(4):
                    group.start_soon(client.phone_numbers.list, trunk)
                    group.start_soon(derived.whitelisted_ips.list, trunk)

    assert (
        sorted(tail for _, tail, _ in tails(emulator))
        == ["phone-numbers"] * 4 + ["whitelisted-ips"] * 4
    )
    assert emulator.connections.peak <= 2
    assert emulator.connections.opened <= 2


# Painpoint 18: one client, two event loops one after the other (asyncio.run twice).


@pytest.mark.parametrize(
    "backend",
    ["asyncio", "trio"],
)
def test_a_client_used_in_one_event_loop_after_another_works(backend: str) -> None:
    emulator = emulator_on()
    trunk = create_trunk(emulator, "tr1")
    second: object
    # The connection left on the first loop can be neither used nor closed from the second:
    # the SDK lets it go, and its socket warns (ResourceWarning) whenever the garbage collector
    # gets to it, which may be at any allocation from here on; collect it before leaving.
    with (
        warnings.catch_warnings(),
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.serve()) as base_url,
    ):
        warnings.simplefilter("ignore", ResourceWarning)
        client = served_client(base_url)
        first = anyio.run(client.phone_numbers.list, trunk, backend=backend)
        try:
            second = anyio.run(client.phone_numbers.list, trunk, backend=backend)
        except Exception as error:  # sorted out below, outside the server's task group
            second = error
        del client
        gc.collect()

    assert first == []
    assert second == [], repr(second)  # the SDK rebuilt its pool for the new loop
    assert [record.status for record in emulator.requests] == [200, 200]


def test_a_client_used_in_two_asyncio_runs_is_closed_in_a_third_without_an_error() -> None:
    emulator = emulator_on()
    trunk = create_trunk(emulator, "tr1")
    # The connections left on the first two (closed) loops can be neither used nor closed from
    # the third: their sockets warn (ResourceWarning, "unclosed ...") when collected. Those, and
    # only those, are recorded and excused here; anything else raised or warned fails the test.
    with (
        warnings.catch_warnings(record=True) as caught,
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.serve()) as base_url,
    ):
        warnings.simplefilter("always")
        client = served_client(base_url)
        first = anyio.run(client.phone_numbers.list, trunk, backend="asyncio")
        second = anyio.run(client.phone_numbers.list, trunk, backend="asyncio")
        anyio.run(client.aclose, backend="asyncio")  # a loop of its own, as asyncio.run gives
        with pytest.raises(APIConnectionError, match=r"stopped: the client has been closed$"):
            anyio.run(client.phone_numbers.list, trunk, backend="asyncio")
        del client
        gc.collect()

    assert first == second == []
    assert len(emulator.requests) == 2
    unexpected = [
        f"{warning.category.__name__}: {warning.message}"
        for warning in caught
        if warning.category is not ResourceWarning
        or not str(warning.message).startswith(("unclosed <socket.socket", "unclosed transport <"))
    ]
    assert unexpected == []
