"""The served emulator's connections: hang-ups, pipelining, requests in pieces, shutdown."""

from __future__ import annotations

import base64
import itertools
import json

import anyio
import anyio.abc
import httpx2
import pytest

from .emulator_helpers import ACCOUNT, KEY, SID, TOKEN, make_emulator, trunk_url, wait_until

pytestmark = pytest.mark.anyio

AUTHORIZATION = "Basic " + base64.b64encode(f"{KEY}:{TOKEN}".encode()).decode()


async def connect(base_url: str) -> anyio.abc.SocketStream:
    host, port = base_url.removeprefix("http://").split(":")
    return await anyio.connect_tcp(host, int(port))


async def read_until_closed(stream: anyio.abc.SocketStream) -> bytes:
    received = b""
    with anyio.fail_after(3):
        try:
            while True:
                received += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            pass
    return received


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: x", f"Authorization: {AUTHORIZATION}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.slow  # real latency
async def test_a_client_that_gives_up_during_the_latency_wait_is_noticed(
    anyio_backend: str,
) -> None:
    emulator = make_emulator(latency=30)
    started = anyio.current_time()
    async with emulator.serve() as base_url:
        timeout = httpx2.Timeout(5.0, read=0.2)
        async with httpx2.AsyncClient(
            base_url=base_url, auth=(KEY, TOKEN), timeout=timeout
        ) as http:
            with pytest.raises(httpx2.ReadTimeout):
                await http.get(trunk_url("x", "credentials"))
        # The server stops waiting its 30 s out as soon as the client hangs up.
        await wait_until(lambda: len(emulator.requests) == 1)
        await wait_until(lambda: emulator.connections.current == 0)
    assert anyio.current_time() - started < 5
    (record,) = emulator.requests
    assert record.status is None
    assert emulator.counters.unanswered == 1


async def test_the_served_emulator_counts_latency_from_the_request_s_first_bytes(
    anyio_backend: str,
) -> None:
    readings = itertools.count(step=30.0)  # every reading of this clock is 30 s after the last

    emulator = make_emulator(latency=30, clock=lambda: next(readings))
    async with emulator.serve() as base_url, httpx2.AsyncClient(base_url=base_url) as http:
        # The server reads the clock when the request's bytes arrive and again when it starts
        # handling it: by then its 30 s of latency have passed.
        with anyio.fail_after(5):
            response = await http.get(trunk_url("x", "credentials"), auth=(KEY, TOKEN))
    assert response.status_code == 404


async def test_pipelined_requests_are_answered_in_order(anyio_backend: str) -> None:
    emulator = make_emulator()
    first, second = trunk_url("first", "credentials"), trunk_url("second", "credentials")
    async with emulator.serve() as base_url, await connect(base_url) as stream:
        await stream.send(get(first) + get(second, "Connection: close"))
        received = await read_until_closed(stream)
    assert received.count(b"HTTP/1.1 404 ") == 2
    assert received.index(b"first") < received.index(b"second")
    assert [record.path for record in emulator.requests] == [first, second]
    assert emulator.connections.opened == 1


async def test_a_request_sent_in_pieces_is_read_whole(anyio_backend: str) -> None:
    emulator = make_emulator()
    body = json.dumps(
        {"trunk_name": "t", "nso_code": "ANY-ANY", "domain_name": f"{SID}.pstn.exotel.com"}
    ).encode()
    request = (
        f"POST {ACCOUNT}/trunks HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTHORIZATION}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    async with emulator.serve() as base_url, await connect(base_url) as stream:
        for start in range(0, len(request), 40):
            await stream.send(request[start : start + 40])
            await anyio.sleep(0.01)
        received = await read_until_closed(stream)
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert [trunk.trunk_name for trunk in emulator.state.trunks] == ["t"]


async def test_stopping_the_server_ends_connections_in_the_middle_of_a_request(
    anyio_backend: str,
) -> None:
    emulator = make_emulator(latency=30)
    async with emulator.serve() as base_url:
        stream = await connect(base_url)
        await stream.send(get(trunk_url("x", "credentials")))
        await wait_until(lambda: emulator.connections.requests == 1)
    # Counted and logged by the time serve() has returned.
    assert emulator.connections.current == 0
    assert emulator.connections.closed == 1
    assert [record.status for record in emulator.requests] == [None]
    async with stream:
        assert await read_until_closed(stream) == b""
