"""The aiohttp transport against real loopback servers: the SDK behaves as with the default.

The tests drive the shipped emulator served over HTTP on 127.0.0.1 (the integration tests'
helpers and flow, with ``transport=AiohttpTransport()``), its faults included (a body dripped
in a byte at a time is its ``slow_body``); only answers the emulator cannot give come from
elsewhere: hostile framing from :mod:`.servers`, a malformed status line from a bare listener.
aiohttp runs on asyncio only, so every test is pinned to asyncio but the one that checks trio
is refused.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - aiohttp is asyncio-only: some tests run loops by hand
import gc
import socket
import ssl
import subprocess
import sys
import warnings
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import httpx2
import pytest

pytest.importorskip("httpx_aiohttp")

import aiohttp

from exotel_trunking import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncTrunkingClient,
    ConfigurationError,
    ExotelError,
    RetryEvent,
    RetryPolicy,
)
from exotel_trunking._transport import LocalRateLimiter
from exotel_trunking.aiohttp import AiohttpTransport
from exotel_trunking.emulator import Emulator

from ..integration.support import (  # the integration tests' helpers
    DIALECTS,
    NUMBERS,
    FastTime,
    exercise_every_operation,
    expected_number,
    http_client_for,
    make_emulator,
    requests_to,
)
from .emulated import create_trunk
from .servers import serve_chunked

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only (the trio test overrides this)."""
    return "asyncio"


def aiohttp_client(base_url: str, **options: Any) -> AsyncTrunkingClient:
    """A client for the served emulator that sends through a new :class:`AiohttpTransport`."""
    options.setdefault("transport", AiohttpTransport())
    return http_client_for(base_url, **options)


def statuses(emulator: Emulator, method: str, suffix: str) -> list[int | None]:
    return [r.status for r in requests_to(emulator, method, suffix)]


def session_of(transport: AiohttpTransport) -> aiohttp.ClientSession:
    session = transport.client
    assert isinstance(session, aiohttp.ClientSession)
    return session


async def wait_until_closed(emulator: Emulator) -> None:
    """Wait (briefly) until the served emulator has seen every connection closed."""
    with anyio.fail_after(2):
        while emulator.connections.current:  # noqa: ASYNC110 - a counter, with no event
            await anyio.sleep(0.005)


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- the same flow as the default transport -------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_every_operation_round_trips_over_one_kept_alive_connection(dialect: str) -> None:
    emulator = make_emulator(dialect)
    async with emulator.serve() as base_url:
        async with aiohttp_client(base_url) as client:
            await exercise_every_operation(client, emulator)
            assert emulator.connections.current == 1
        await wait_until_closed(emulator)  # aclose closed the connection, not the server
    assert emulator.connections.opened == 1
    assert emulator.connections.requests == emulator.counters.total > 30


async def test_bulk_map_of_200_numbers_at_concurrency_20_maps_each_exactly_once() -> None:
    numbers = [f"+9198{index:08d}" for index in range(200)]
    emulator = make_emulator("live", latency=0.002)
    async with emulator.serve() as base_url, aiohttp_client(base_url) as client:
        sid = (await client.trunks.create("bulk")).trunk_sid
        # Every tenth POST fails: half answer 503, half drop the connection once the number
        # is mapped (the repeat then meets "duplicate", which the SDK resolves).
        for kind in ("503", "drop_after"):
            emulator.add_fault(kind, 0.05, method="POST", path="/trunks/*/phone-numbers")
        result = await client.bulk.map_phone_numbers(sid, numbers, concurrency=20)
    assert result.ok, result.failed[:3]
    mapped = [record.phone_number for record in emulator.state.phone_numbers(sid)]
    assert sorted(mapped) == sorted(numbers)  # each exactly once
    assert {o.value.phone_number for o in result.outcomes if o.value} == set(numbers)
    drops = emulator.counters.by_fault["drop_after"]
    assert drops > 0
    assert emulator.counters.by_fault["503"] > 0
    # Connections are reused: at most 20 in flight, a new one only after a drop.
    stats = emulator.connections
    assert stats.peak <= 20
    assert stats.opened <= 20 + drops
    assert stats.requests == emulator.counters.total > 201


async def test_503_and_429_are_retried_as_with_the_default_transport() -> None:
    fast = FastTime()
    emulator = make_emulator(fault_retry_after=1, clock=fast.monotonic)
    events: list[RetryEvent] = []
    limiter = LocalRateLimiter(None, clock=fast.monotonic, sleep=fast.sleep)
    async with (
        emulator.serve() as base_url,
        aiohttp_client(base_url, rate_limit=limiter, on_retry=events.append) as client,
    ):
        sid = (await client.trunks.create("flaky")).trunk_sid
        emulator.script("POST", "/trunks/*/phone-numbers", "503", times=2)
        number = await client.phone_numbers.map(sid, NUMBERS[0])
        emulator.script("GET", "/trunks/*/phone-numbers", "429")
        listed = await client.phone_numbers.list(sid)
    [record] = emulator.state.phone_numbers(sid)
    assert number == expected_number(record, live=False)
    assert listed == [number]
    assert statuses(emulator, "POST", "/phone-numbers") == [503, 503, 200]
    assert statuses(emulator, "GET", "/phone-numbers") == [429, 200]
    assert [(e.reason, e.attempt) for e in events] == [("503", 1), ("503", 2), ("429", 1)]
    assert events[-1].delay == 1.0  # the Retry-After
    assert emulator.connections.opened == 1


# -- dropped connections: what was sent, what was not ---------------------------------------


@pytest.mark.parametrize("kind", ["drop_before", "drop_after"])
async def test_a_dropped_connection_on_a_repeatable_post_is_recovered(kind: str) -> None:
    emulator = make_emulator("live")
    events: list[RetryEvent] = []
    async with emulator.serve() as base_url, aiohttp_client(base_url, on_retry=events.append) as c:
        sid = (await c.trunks.create("dropped")).trunk_sid
        emulator.script("POST", "/trunks/*/phone-numbers", kind)
        number = await c.phone_numbers.map(sid, NUMBERS[0])
    [record] = emulator.state.phone_numbers(sid)
    assert number.id == record.id
    # drop_after: the repeat finds the number mapped (a duplicate), which the SDK resolves.
    assert statuses(emulator, "POST", "/phone-numbers") == [None, 200]
    assert [e.reason for e in events] == ["RemoteProtocolError"]  # as httpx2's own transport
    assert emulator.connections.opened == 2  # the dropped connection was not reused


@pytest.mark.parametrize("kind", ["drop_before", "drop_after"])
async def test_a_dropped_connection_on_create_trunk_is_not_repeated(kind: str) -> None:
    # httpx-aiohttp alone reports this drop as a ConnectTimeout ("nothing was sent"), which
    # the SDK would repeat, creating the trunk twice.
    emulator = make_emulator()
    async with emulator.serve() as base_url, aiohttp_client(base_url) as client:
        emulator.script("POST", "/trunks", kind)
        with pytest.raises(APIConnectionError) as caught:
            await client.trunks.create("maybe")
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.attempts == 1
    assert "'maybe' may have been created" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert statuses(emulator, "POST", "/trunks") == [None]
    assert len(emulator.state.trunks) == (1 if kind == "drop_after" else 0)


async def test_a_delete_whose_answer_was_dropped_counts_as_deleted() -> None:
    # aiohttp would repeat the DELETE by itself, unseen, and its 404 would then surface.
    emulator = make_emulator()
    async with emulator.serve() as base_url, aiohttp_client(base_url) as client:
        sid = (await client.trunks.create("doomed")).trunk_sid
        emulator.script("DELETE", "/trunks", "drop_after")
        await client.trunks.delete(sid)
    assert emulator.state.trunks == []
    assert statuses(emulator, "DELETE", "/trunks") == [None, 404]


async def test_a_refused_connection_is_nothing_sent_and_is_retried_even_for_create_trunk() -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    async with aiohttp_client(base_url, max_retries=2) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.trunks.create("unreachable")
    assert caught.value.attempts == 3
    assert isinstance(caught.value.__cause__, httpx2.ConnectError)
    assert "may have been created" not in str(caught.value)


async def test_a_malformed_answer_is_an_httpx2_error_not_an_aiohttp_one() -> None:
    # httpx-aiohttp alone lets aiohttp's ClientResponseError through, past the SDK.
    async def answer(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, answer)
        async with aiohttp_client(f"http://127.0.0.1:{port}", max_retries=1) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.phone_numbers.list("tr1")
        group.cancel_scope.cancel()
    assert caught.value.attempts == 2
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert "Bad status line" in str(caught.value)


async def test_a_chunked_body_that_also_declares_a_small_content_length_is_refused_unread() -> None:
    # Content-Length: 100 with Transfer-Encoding: chunked, then 20 MB of chunks: aiohttp's
    # parser refuses the head (whatever it says, the SDK reports it as its own error) and the
    # connection is dropped long before the 20 MB are through.
    total = 20_000_000
    with anyio.fail_after(5):
        async with serve_chunked(total=total, content_length=100) as server:
            client = aiohttp_client(server.base_url, max_retries=0, max_response_bytes=1_000_000)
            async with client:
                with pytest.raises(ExotelError) as caught:
                    await client.phone_numbers.list("tr1")
            with anyio.fail_after(1):
                await server.closed.wait()
    assert isinstance(caught.value, APIConnectionError | APIStatusError)
    assert caught.value.attempts == 1
    assert server.requests == 1
    assert server.completed == 0
    assert server.sent < total // 4, f"{server.sent} bytes sent"


# -- timeouts -------------------------------------------------------------------------------


async def test_the_read_timeout_applies_while_waiting_for_the_answer() -> None:
    emulator = make_emulator(slow_seconds=5.0)
    async with emulator.serve() as base_url, aiohttp_client(base_url, timeout=0.05) as client:
        sid = (await client.trunks.create("sluggish")).trunk_sid
        emulator.script("GET", "/trunks/*/whitelisted-ips", "slow")
        with anyio.fail_after(2):
            assert await client.whitelisted_ips.list(sid) == []
        emulator.script("POST", "/trunks", "slow")
        with pytest.raises(APITimeoutError, match="may have been created") as caught:
            await client.trunks.create("sluggish_too")
    assert caught.value.attempts == 1  # unknown outcome: not repeated
    assert isinstance(caught.value.__cause__, httpx2.ReadTimeout)
    assert statuses(emulator, "GET", "/whitelisted-ips") == [None, 200]
    assert statuses(emulator, "POST", "/trunks") == [200, None]


async def test_the_read_timeout_applies_to_a_body_that_stalls() -> None:
    emulator = make_emulator()
    sid = create_trunk(emulator)
    # The head at once, then the body a byte every 0.2 s: each read waits longer than 0.05 s.
    emulator.script("GET", "/trunks/*/phone-numbers", "slow_body", seconds=0.2)
    events: list[RetryEvent] = []
    async with (
        emulator.serve() as base_url,
        aiohttp_client(base_url, timeout=0.05, on_retry=events.append) as client,
    ):
        with anyio.fail_after(2):
            assert await client.phone_numbers.list(sid) == []
    assert [e.reason for e in events] == ["ReadTimeout"]
    # Both were answered 200 (the stalled one in its head); the stalled connection was dropped.
    listed = requests_to(emulator, "GET", "/phone-numbers")
    assert [(r.status, r.fault) for r in listed] == [(200, "slow_body"), (200, None)]
    assert emulator.connections.opened == 2


@pytest.mark.slow  # waits out the attempt timeout
async def test_attempt_timeout_cuts_a_dripping_answer_short_and_the_call_is_retried() -> None:
    emulator = make_emulator()
    sid = create_trunk(emulator)
    # A byte every 0.02 s: every read well within 5 s, the whole body far beyond 0.3 s.
    emulator.script("GET", "/trunks/*/phone-numbers", "slow_body", seconds=0.02)
    events: list[RetryEvent] = []
    async with (
        emulator.serve() as base_url,
        aiohttp_client(
            base_url, timeout=5.0, attempt_timeout=0.3, on_retry=events.append
        ) as client,
    ):
        with anyio.fail_after(2):
            assert await client.phone_numbers.list(sid) == []
    assert [e.reason for e in events] == ["AttemptTimeoutError"]
    listed = requests_to(emulator, "GET", "/phone-numbers")
    assert [(r.status, r.fault) for r in listed] == [(200, "slow_body"), (200, None)]
    assert emulator.connections.opened == 2  # the cut-short answer's connection was dropped


@pytest.mark.slow  # waits out the pool timeout
async def test_the_pool_timeout_applies_and_counts_as_nothing_sent() -> None:
    # The client lets two requests out, the transport holds one connection: the second waits
    # for it, longer than the pool timeout, and is tried again until the first is done.
    emulator = make_emulator(latency=0.15)
    patient = RetryPolicy(max_retries=50, initial_delay=0.05, max_delay=0.05)
    events: list[RetryEvent] = []
    async with (
        emulator.serve() as base_url,
        aiohttp_client(
            base_url,
            transport=AiohttpTransport(max_connections=1),
            max_connections=2,
            timeout=httpx2.Timeout(5.0, pool=0.05),
            retry=patient,
            on_retry=events.append,
        ) as client,
        anyio.create_task_group() as group,
    ):
        for name in ("first", "second"):
            group.start_soon(client.trunks.create, name)
    assert sorted(t.trunk_name for t in emulator.state.trunks) == ["first", "second"]
    assert events  # the creation was repeated: nothing had been sent
    assert {e.reason for e in events} == {"ConnectTimeout"}
    assert statuses(emulator, "POST", "/trunks") == [200, 200]
    assert emulator.connections.opened == 1


# -- the pool -------------------------------------------------------------------------------


async def test_max_connections_caps_and_keeps_alive_the_connections() -> None:
    emulator = make_emulator(latency=0.01)
    async with (
        emulator.serve() as base_url,
        aiohttp_client(base_url, transport=AiohttpTransport(max_connections=3)) as client,
    ):
        sid = (await client.trunks.create("pooled")).trunk_sid
        result = await client.bulk.map_phone_numbers(sid, NUMBERS, concurrency=10)
    assert result.ok
    assert emulator.connections.peak == 3
    assert emulator.connections.opened == 3  # every one kept alive and reused
    assert emulator.connections.requests == 21


# -- closing --------------------------------------------------------------------------------


async def test_aclose_closes_the_aiohttp_session_and_its_connections() -> None:
    emulator = make_emulator()
    transport = AiohttpTransport()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with emulator.serve() as base_url:
            client = aiohttp_client(base_url, transport=transport)
            async with client:
                await client.trunks.create("t1")
                session = session_of(transport)
                open_inside = not session.closed  # a name: mypy would pin the property
                assert open_inside
            assert session.closed
            await wait_until_closed(emulator)
            with pytest.raises(APIConnectionError, match="the client has been closed"):
                await client.trunks.create("t2")
        del client, session
        gc.collect()
    assert [str(w.message) for w in caught] == []
    assert len(emulator.state.trunks) == 1


async def test_aclose_of_a_transport_that_never_sent_does_nothing() -> None:
    transport = AiohttpTransport()
    async with AsyncTrunkingClient("k", "t", "acme", transport=transport):
        pass
    assert transport.client is None
    with pytest.raises(ConfigurationError, match="has been closed"):
        await transport.handle_async_request(httpx2.Request("GET", "http://127.0.0.1:1/"))


async def test_a_second_client_given_a_transport_the_first_closed_is_refused_before_sending() -> (
    None
):
    emulator = make_emulator()
    shared = AiohttpTransport()
    async with emulator.serve() as base_url:
        async with aiohttp_client(base_url, transport=shared) as first:
            await first.trunks.create("t1")
        second = aiohttp_client(base_url, transport=shared)
        with pytest.raises(ConfigurationError, match="this AiohttpTransport has been closed"):
            await second.trunks.create("t2")
        await second.aclose()
    assert [t.trunk_name for t in emulator.state.trunks] == ["t1"]
    assert statuses(emulator, "POST", "/trunks") == [200]


# -- event loops ----------------------------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_it_is_refused_with_a_clear_error_before_anything_is_sent() -> None:
    emulator = make_emulator()
    async with emulator.serve() as base_url, aiohttp_client(base_url) as client:
        with pytest.raises(ConfigurationError) as caught:
            await client.trunks.create("t1")
    assert "the aiohttp transport runs on asyncio only; on trio use the default transport" in str(
        caught.value
    )
    assert emulator.connections.opened == 0
    assert emulator.state.trunks == []


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_a_bulk_run_stops_at_the_first_refusal() -> None:
    emulator = make_emulator()
    numbers = [f"+9198765{index:05d}" for index in range(100)]
    async with emulator.serve() as base_url, aiohttp_client(base_url) as client:
        result = await client.bulk.map_phone_numbers("tr1", numbers, concurrency=5)
    assert isinstance(result.fatal_error, ConfigurationError)
    assert len(result.failed) == 100
    assert all(outcome.error is result.fatal_error for outcome in result.failed[10:])
    assert emulator.connections.opened == 0


def test_a_client_used_in_one_event_loop_after_another_gets_a_new_session() -> None:
    emulator = make_emulator()
    transport = AiohttpTransport()
    # As with the default transport, the first loop's sockets can be neither used nor closed
    # from the second, and warn (ResourceWarning) when collected: collect them in here.
    with (
        warnings.catch_warnings(),
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.serve()) as base_url,
    ):
        warnings.simplefilter("ignore", ResourceWarning)
        client = aiohttp_client(base_url, transport=transport)
        asyncio.run(client.trunks.create("first"))
        first_session = session_of(transport)
        asyncio.run(client.trunks.create("second"))
        second_session = session_of(transport)
        asyncio.run(client.aclose())
        del client
        gc.collect()
    assert second_session is not first_session
    assert first_session.closed  # marked closed, so aiohttp does not report it unclosed
    assert second_session.closed
    assert [t.trunk_name for t in emulator.state.trunks] == ["first", "second"]


def test_a_transport_in_use_by_an_open_event_loop_is_refused_in_another() -> None:
    emulator = make_emulator()
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.serve()) as base_url,
    ):
        client = aiohttp_client(base_url)
        first = asyncio.new_event_loop()
        try:
            first.run_until_complete(client.trunks.create("first"))
            with pytest.raises(ConfigurationError, match="belongs to another event loop"):
                asyncio.run(client.trunks.create("second"))
            first.run_until_complete(client.aclose())
        finally:
            first.close()
    assert [t.trunk_name for t in emulator.state.trunks] == ["first"]


# -- configuration --------------------------------------------------------------------------


async def test_proxy_sends_every_request_through_the_proxy() -> None:
    emulator = make_emulator()  # it answers absolute-form requests, as a proxy's origin would
    async with emulator.serve() as proxy_url:
        transport = AiohttpTransport(proxy=proxy_url)
        # Nothing listens on port 1: only the proxy can have answered.
        async with aiohttp_client("http://localhost:1", transport=transport) as client:
            trunk = await client.trunks.create("proxied")
    assert [t.trunk_sid for t in emulator.state.trunks] == [trunk.trunk_sid]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_connections": 0}, "max_connections=0 must be an int >= 1"),
        ({"max_connections": True}, "max_connections=True must be an int >= 1"),
        ({"keepalive_expiry": 0}, "keepalive_expiry=0 must be seconds > 0"),
        ({"verify": "/nonexistent/ca.pem"}, "is not a CA bundle"),
        ({"proxy": "socks5://127.0.0.1:1080"}, "http:// and https:// proxies only"),
        ({"proxy": "not a url"}, "proxy has no host"),
    ],
    ids=["no-connections", "bool", "no-keepalive", "missing-ca", "socks", "bad-proxy"],
)
def test_invalid_options_raise_configuration_error(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AiohttpTransport(**options)


def test_verify_takes_a_context_as_it_is_and_false_turns_checks_off() -> None:
    context = ssl.create_default_context()
    assert AiohttpTransport(verify=context).ssl_context is context
    assert AiohttpTransport(verify=False).ssl_context.verify_mode == ssl.CERT_NONE


def test_the_sdk_refuses_http_options_beside_the_transport() -> None:
    with pytest.raises(ConfigurationError, match="configure them on the transport you pass"):
        AsyncTrunkingClient("k", "t", "acme", transport=AiohttpTransport(), proxy="http://p:1")


@pytest.mark.slow  # runs Python in a subprocess
def test_the_extra_is_imported_only_on_demand_and_its_absence_is_explained() -> None:
    code = """if True:
        import sys
        import exotel_trunking
        assert "aiohttp" not in sys.modules and "httpx_aiohttp" not in sys.modules
        sys.modules["httpx_aiohttp"] = None  # as if the extra were not installed
        try:
            import exotel_trunking.aiohttp
        except ImportError as error:
            print(error)
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "exotel-trunking[aiohttp]"' in done.stdout
