"""The time and size bounds of one attempt, against hostile servers on 127.0.0.1.

A server that drips its answer never trips a read timeout, so only ``attempt_timeout`` ends
the attempt; a body larger than ``max_response_bytes`` (declared, streamed, or inflated from a
gzip bomb) must end in :class:`ResponseDecodeError` without the client holding it. Each test
starts its server from :mod:`.servers`, is bounded with ``anyio.fail_after``, and runs on
asyncio and trio. The waits are real but short (the attempt timeout is the thing measured).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx2
import pytest

from exotel_trunking import (
    APITimeoutError,
    AsyncTrunkingClient,
    ResponseDecodeError,
    RetryPolicy,
)

from .servers import (
    ACCOUNT,
    gzip_bomb,
    serve_chunked,
    serve_declared_length,
    serve_dripping,
    serve_gzip_bomb,
)

PATH = f"/v2/accounts/{ACCOUNT}/trunks/tr1/phone-numbers"
MiB = 1024 * 1024
#: httpx2's ``AsyncResponseStream.__aiter__`` iterates httpcore2's body iterator without closing
#: it, so a body abandoned part-way (the size cap) leaves that inner generator to the garbage
#: collector, and trio warns. The connection itself is closed (``Response.aclose``); only this
#: third-party generator is excused, not the SDK's own (``Response.aiter_bytes``).
HTTPCORE2_ABANDONED_BODY = pytest.mark.filterwarnings(
    "ignore:Async generator 'httpcore2._async.http11.HTTP11ConnectionByteStream.__aiter__'"
    ":ResourceWarning"
)


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 go straight to the test server; no ``EXOTEL_*`` overrides."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("EXOTEL_BASE_URL", raising=False)
    monkeypatch.delenv("EXOTEL_REGION", raising=False)


def client_for(base_url: str, **options: Any) -> AsyncTrunkingClient:
    """A client of ``base_url`` without pacing and, unless asked for, without retries."""
    options.setdefault("rate_limit", None)
    if "retry" not in options:
        options.setdefault("max_retries", 0)
    return AsyncTrunkingClient("key", "token", ACCOUNT, base_url=base_url, **options)


class Peak:
    """The most memory allocated (by anything in the process) while :func:`traced` ran."""

    bytes = 0


@contextmanager
def traced() -> Iterator[Peak]:
    """Measure the peak of traced allocations above what was allocated on entry."""
    peak = Peak()
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        yield peak
        peak.bytes = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        if not already:
            tracemalloc.stop()


# 8: a dripping answer ends at attempt_timeout.


@pytest.mark.anyio
@pytest.mark.slow  # waits out the attempt timeout
async def test_dripping_answer_fails_with_a_timeout_naming_attempt_timeout_after_that_long() -> (
    None
):
    with anyio.fail_after(5):  # the drip takes 50 s: only the attempt timeout ends it sooner
        async with serve_dripping(interval=0.05) as server:
            client = client_for(server.base_url, attempt_timeout=0.5)
            async with client:
                started = time.perf_counter()
                with pytest.raises(APITimeoutError) as caught:
                    await client.phone_numbers.list("tr1")
                elapsed = time.perf_counter() - started

    assert 0.4 < elapsed < 3.0
    assert "attempt_timeout=0.5s" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx2.TimeoutException)
    assert (caught.value.attempts, server.requests) == (1, 1)
    assert server.completed == 0


@pytest.mark.anyio
@pytest.mark.slow  # waits out two attempt timeouts
async def test_dripping_answer_to_a_get_with_one_retry_is_attempted_exactly_twice() -> None:
    retry = RetryPolicy(max_retries=1, initial_delay=0, max_delay=0)
    with anyio.fail_after(5):
        async with serve_dripping(interval=0.05) as server:
            client = client_for(server.base_url, attempt_timeout=0.3, retry=retry)
            async with client:
                with pytest.raises(APITimeoutError) as caught:
                    await client.phone_numbers.list("tr1")

    assert (caught.value.attempts, server.requests) == (2, 2)
    assert "after 2 attempts" in str(caught.value)


# 9-11: bodies past max_response_bytes.


@pytest.mark.anyio
async def test_declared_content_length_past_the_cap_fails_at_once_without_reading_the_body() -> (
    None
):
    # The server sends 1 KiB of the 100 MiB it declares, then nothing: a client reading the
    # body would wait until the guard (attempt_timeout is set past it) fails the test.
    with anyio.fail_after(3):
        async with serve_declared_length(104_857_600) as server:
            client = client_for(server.base_url, attempt_timeout=10)
            async with client:
                started = time.perf_counter()
                with pytest.raises(ResponseDecodeError) as caught:
                    await client.phone_numbers.list("tr1")
                elapsed = time.perf_counter() - started
                with anyio.fail_after(1):
                    await server.closed.wait()  # the client hung up, not pooled the connection

    assert elapsed < 1.0
    message = str(caught.value)
    assert "declares 104857600 bytes" in message
    assert f"max_response_bytes={10 * MiB}" in message
    assert caught.value.status_code == 200
    assert caught.value.path == PATH


@pytest.mark.anyio
@HTTPCORE2_ABANDONED_BODY
async def test_chunked_body_past_the_cap_is_abandoned_with_memory_held_near_the_cap() -> None:
    with anyio.fail_after(5):
        async with serve_chunked(total=50_000_000) as server:
            client = client_for(server.base_url, max_response_bytes=1_000_000)
            async with client:
                with traced() as peak, pytest.raises(ResponseDecodeError) as caught:
                    await client.phone_numbers.list("tr1")
                with anyio.fail_after(1):
                    await server.closed.wait()

    assert "grew past 1000000 bytes" in str(caught.value)
    assert "max_response_bytes=1000000" in str(caught.value)
    assert peak.bytes < 5_000_000, f"peak {peak.bytes / MiB:.1f} MiB"
    assert server.sent < 50_000_000  # the client hung up long before the end
    assert server.completed == 0


@pytest.mark.anyio
@HTTPCORE2_ABANDONED_BODY
async def test_chunked_body_that_also_declares_a_small_content_length_is_held_to_the_cap() -> None:
    # Content-Length: 100 is under the cap, but chunked framing overrides it: the 20 MB that
    # follow must be counted as they come, not read in one go on the strength of the 100.
    total = 20_000_000
    with anyio.fail_after(5):
        async with serve_chunked(total=total, content_length=100) as server:
            client = client_for(server.base_url, max_response_bytes=1_000_000)
            async with client:
                with traced() as peak, pytest.raises(ResponseDecodeError) as caught:
                    await client.phone_numbers.list("tr1")
                assert "grew past 1000000 bytes" in str(caught.value)
                assert "max_response_bytes=1000000" in str(caught.value)
                assert peak.bytes < 5_000_000, f"peak {peak.bytes / MiB:.1f} MiB"
                with anyio.fail_after(1):
                    await server.closed.wait()  # the client hung up, not pooled the connection

    assert server.sent < total
    assert server.completed == 0


@pytest.mark.anyio
@HTTPCORE2_ABANDONED_BODY
async def test_gzip_bomb_is_cut_off_at_the_cap_counted_after_decompression() -> None:
    bomb = gzip_bomb(100 * MiB)  # about 100 KB; built before memory is traced
    assert len(bomb) < 1_000_000  # below the cap as sent: only the inflated size exceeds it
    with anyio.fail_after(5):
        async with serve_gzip_bomb(100 * MiB) as server:
            client = client_for(server.base_url, max_response_bytes=1_000_000)
            async with client:
                with traced() as peak, pytest.raises(ResponseDecodeError) as caught:
                    await client.phone_numbers.list("tr1")

    assert "grew past 1000000 bytes" in str(caught.value)
    assert peak.bytes < 5_000_000, f"peak {peak.bytes / MiB:.1f} MiB"
    assert server.requests == 1


# 12: the documented defaults.


def test_defaults_are_an_attempt_timeout_of_60s_and_a_10_mib_response_cap() -> None:
    config = AsyncTrunkingClient("key", "token", ACCOUNT).config

    assert config.attempt_timeout == 60.0
    assert config.max_response_bytes == 10 * MiB


def test_read_timeout_of_45s_raises_the_default_attempt_timeout_to_twice_that() -> None:
    timeout = httpx2.Timeout(10.0, read=45.0)

    config = AsyncTrunkingClient("key", "token", ACCOUNT, timeout=timeout).config

    assert config.attempt_timeout == 90.0
