"""The served emulator over real HTTP/1.1 on 127.0.0.1 (h11 over anyio sockets)."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest

from exotel_trunking.emulator import Emulator, run_server

from .emulator_helpers import (
    ACCOUNT,
    KEY,
    TOKEN,
    assert_same_shape,
    make_emulator,
    trunk_url,
    wait_until,
)

pytestmark = pytest.mark.anyio

TRUNK_BODY = {
    "trunk_name": "my_trunk",
    "nso_code": "ANY-ANY",
    "domain_name": "acme.pstn.exotel.com",
}


@asynccontextmanager
async def served(
    emulator: Emulator, **client_options: object
) -> AsyncIterator[tuple[str, httpx2.AsyncClient]]:
    async with emulator.serve() as base_url:
        client_options.setdefault("auth", (KEY, TOKEN))
        async with httpx2.AsyncClient(base_url=base_url, **client_options) as http:  # type: ignore[arg-type]
            yield base_url, http


async def test_serve_yields_a_loopback_url_and_answers_like_in_process(emulator: Emulator) -> None:
    async with served(emulator) as (base_url, http):
        assert base_url.startswith("http://127.0.0.1:")
        response = await http.post(f"{ACCOUNT}/trunks", json=TRUNK_BODY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["server"] == "exotel-trunking-emulator"
    in_process = make_emulator()
    async with httpx2.AsyncClient(
        transport=in_process.transport(), base_url="http://x", auth=(KEY, TOKEN)
    ) as http:
        expected = (await http.post(f"{ACCOUNT}/trunks", json=TRUNK_BODY)).json()
    assert response.json() == expected  # same seed, same clock: byte-for-byte the same answer


async def test_keep_alive_reuses_one_connection(emulator: Emulator) -> None:
    async with served(emulator) as (_, http):
        for _ in range(5):
            assert (await http.get(trunk_url("x", "credentials"))).status_code == 404
        assert emulator.connections.opened == 1
        assert emulator.connections.requests == 5
    await wait_until(lambda: emulator.connections.current == 0)
    assert emulator.connections.to_dict() == {
        "opened": 1,
        "closed": 1,
        "current": 0,
        "peak": 1,
        "requests": 5,
        "idle_closed": 0,
    }


@pytest.mark.parametrize(("fault", "applied"), [("drop_before", False), ("drop_after", True)])
async def test_drop_faults_really_close_the_connection(
    emulator: Emulator, fault: str, applied: bool
) -> None:
    async with served(emulator) as (_, http):
        emulator.script("POST", "/trunks", fault)
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.post(f"{ACCOUNT}/trunks", json=TRUNK_BODY)
        await wait_until(lambda: emulator.connections.closed == 1)
        follow_up = await http.get(trunk_url("x", "credentials"))
        assert follow_up.status_code == 404
        assert emulator.connections.opened == 2  # the dropped connection was not reused
    assert bool(emulator.state.trunks) is applied
    assert emulator.requests[0].fault == fault


@pytest.mark.slow  # real latency
async def test_slow_really_delays_and_stops_when_the_client_gives_up(emulator: Emulator) -> None:
    emulator.configure(slow_seconds=30)
    emulator.script("POST", None, "slow")
    started = anyio.current_time()
    async with served(emulator, timeout=httpx2.Timeout(5.0, read=0.2)) as (_, http):
        with pytest.raises(httpx2.ReadTimeout):
            await http.post(f"{ACCOUNT}/trunks", json=TRUNK_BODY)
        # The server notices the hang-up instead of sleeping its 30 s out.
        await wait_until(lambda: len(emulator.requests) == 1)
    assert anyio.current_time() - started < 5
    (record,) = emulator.requests
    assert (record.status, record.fault) == (None, "slow")
    assert record.duration >= 0.2
    assert len(emulator.state.trunks) == 1  # it was applied, as by a real slow server


async def test_slow_within_the_client_timeout_answers(emulator: Emulator) -> None:
    emulator.configure(slow_seconds=0.05)
    emulator.script("GET", None, "slow")
    async with served(emulator) as (_, http):
        started = anyio.current_time()
        response = await http.get(trunk_url("x", "credentials"))
    assert response.status_code == 404
    assert anyio.current_time() - started >= 0.05


async def test_idle_keep_alive_connections_are_closed(anyio_backend: str) -> None:
    emulator = make_emulator(idle_timeout=0.1)
    async with served(emulator) as (_, http):
        await http.get(trunk_url("x", "credentials"))
        await wait_until(lambda: emulator.connections.closed == 1)
        assert emulator.connections.current == 0
        assert (await http.get(trunk_url("x", "credentials"))).status_code == 404
    assert emulator.connections.opened == 2


async def test_peak_concurrent_connections_are_counted(anyio_backend: str) -> None:
    emulator = make_emulator(latency=0.1)
    async with served(emulator) as (_, http), anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(http.get, trunk_url("x", "credentials"))
    assert emulator.connections.peak == 3
    assert emulator.connections.requests == 3


async def test_connection_close_is_honoured(emulator: Emulator) -> None:
    async with served(emulator) as (_, http):
        response = await http.get(trunk_url("x", "credentials"), headers={"Connection": "close"})
        assert response.status_code == 404
        await wait_until(lambda: emulator.connections.closed == 1)


async def raw_exchange(base_url: str, payload: bytes, *, until_complete: bool = False) -> bytes:
    """Send raw bytes; read until the server closes (or, kept alive, the body is complete)."""
    host, port = base_url.removeprefix("http://").split(":")
    async with await anyio.connect_tcp(host, int(port)) as stream:
        await stream.send(payload)
        received = b""
        with anyio.fail_after(3):
            try:
                while not (until_complete and _complete(received)):
                    received += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
    return received


def _complete(received: bytes) -> bool:
    head, separator, body = received.partition(b"\r\n\r\n")
    if not separator:
        return False
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return len(body) >= length


async def test_malformed_requests_get_400_and_a_closed_connection(emulator: Emulator) -> None:
    async with emulator.serve() as base_url:
        received = await raw_exchange(base_url, b"NOT HTTP AT ALL\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 400 ")
    assert emulator.requests == []


async def test_oversized_bodies_get_413(emulator: Emulator) -> None:
    body = b"x" * (1 << 20 + 1)
    request = (
        f"POST {ACCOUNT}/trunks HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    async with emulator.serve() as base_url:
        received = await raw_exchange(base_url, request)
    assert received.startswith(b"HTTP/1.1 413 ")


async def test_head_requests_get_headers_only(emulator: Emulator) -> None:
    async with emulator.serve() as base_url:
        received = await raw_exchange(
            base_url,
            f"HEAD {ACCOUNT}/trunks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
        )
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 ")
    assert body == b""


async def test_an_emulator_bug_answers_500_and_the_server_keeps_serving(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("boom")

    async with served(emulator) as (_, http):
        monkeypatch.setattr(emulator._app, "handle", explode)
        failed = await http.get(trunk_url("x", "credentials"))
        monkeypatch.undo()
        works = await http.get(trunk_url("x", "credentials"))
    assert failed.status_code == 500
    assert works.status_code == 404


async def test_admin_endpoints_over_http(emulator: Emulator) -> None:
    async with served(emulator, auth=None) as (_base_url, http):
        await http.post("/_emulator/knobs", json={"rate_limit": "100/1"})
        unauthorized = await http.post(f"{ACCOUNT}/trunks", json=TRUNK_BODY)
        # Faults stand for the infrastructure in front of the API: they come before auth.
        await http.post(
            "/_emulator/scripts", json={"method": "POST", "path": "/trunks", "fault": "503"}
        )
        faulted = await http.post(f"{ACCOUNT}/trunks", json=TRUNK_BODY, auth=(KEY, TOKEN))
        created = await http.post(f"{ACCOUNT}/trunks", json=TRUNK_BODY, auth=(KEY, TOKEN))
        state = (await http.get("/_emulator/state")).json()
        requests = (await http.get("/_emulator/requests")).json()["requests"]
        counters = (await http.get("/_emulator/counters")).json()
        knobs = (await http.get("/_emulator/knobs")).json()
        reset = await http.post("/_emulator/reset")
    assert unauthorized.status_code == 401
    assert faulted.status_code == 503
    assert created.status_code == 200
    assert created.headers["x-ratelimit-limit"] == "100"
    assert [t["trunk_name"] for t in state["trunks"]] == ["my_trunk"]
    assert [r["status"] for r in requests] == [401, 503, 200]
    assert counters["by_status"] == {"200": 1, "401": 1, "503": 1}
    assert counters["by_fault"] == {"503": 1}
    assert counters["connections"]["opened"] == 1
    assert knobs["rate_limit"] == {"calls": 100, "period": 1.0, "burst": None}
    assert reset.status_code == 200
    assert emulator.state.trunks == []


async def test_curl_style_request_gets_the_documented_envelope(emulator: Emulator) -> None:
    async with emulator.serve() as base_url:
        host = base_url.removeprefix("http://")
        token = base64.b64encode(f"{KEY}:{TOKEN}".encode()).decode()
        body = json.dumps(TRUNK_BODY).encode()
        # What `curl -X POST http://k:t@host/... -H 'Content-Type: application/json' -d ...` sends.
        request = (
            f"POST {ACCOUNT}/trunks HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {token}\r\n"
            f"User-Agent: curl/8.5.0\r\nAccept: */*\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        received = await raw_exchange(base_url, request, until_complete=True)
    head, _, payload = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    trunk = dict.fromkeys(
        ["trunk_sid", "trunk_name", "domain_name", "nso_code", "date_created", "date_updated"], ""
    )
    document_shape = {
        "request_id": "",
        "method": "POST",
        "http_code": 200,
        "response": {"status": "success", "code": 200, "data": trunk},
    }
    assert_same_shape(json.loads(payload), document_shape)


async def test_run_server_reports_its_url_by_callback_and_task_status(emulator: Emulator) -> None:
    announced: list[str] = []
    async with anyio.create_task_group() as group:
        url = await group.start(
            functools.partial(run_server, emulator, "127.0.0.1", 0, on_ready=announced.append)
        )
        assert announced == [url]
        async with httpx2.AsyncClient(base_url=url) as http:
            assert (await http.get("/_emulator")).status_code == 200
        group.cancel_scope.cancel()


async def test_expect_100_continue_is_answered_before_the_body(emulator: Emulator) -> None:
    body = json.dumps(TRUNK_BODY).encode()
    token = base64.b64encode(f"{KEY}:{TOKEN}".encode()).decode()
    async with emulator.serve() as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        async with await anyio.connect_tcp(host, int(port)) as stream:
            await stream.send(
                f"POST {ACCOUNT}/trunks HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Expect: 100-continue\r\nConnection: close\r\n\r\n".encode()
            )
            with anyio.fail_after(3):
                interim = await stream.receive()
                assert interim.startswith(b"HTTP/1.1 100 ")
                await stream.send(body)
                final = b""
                try:
                    while True:
                        final += await stream.receive()
                except anyio.EndOfStream:
                    pass
    assert final.startswith(b"HTTP/1.1 200 OK")
