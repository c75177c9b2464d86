"""The SDK's own HTTP/1.1 transport against real sockets on 127.0.0.1 (asyncio and trio).

Each test serves raw bytes from a listener it starts, so what the server does (keep a
connection, close it, answer late, send garbage) is exactly what the test says.
"""

from __future__ import annotations

import gzip
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from anyio.streams.tls import TLSListener

from exotel_trunking._transport import _connections
from exotel_trunking._transport._connections import KEEPALIVE_EXPIRY, ConnectionPoolTransport
from exotel_trunking._transport._streams import AnyioStream, AsyncioStream

pytestmark = pytest.mark.anyio

Script = Callable[[anyio.abc.ByteStream], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class Server:
    """Accepts connections and runs ``script`` on each; counts them."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.accepted = 0
        self.url = ""

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        self.accepted += 1
        async with stream:
            with suppress(anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await self.script(stream)


@asynccontextmanager
async def serving(script: Script, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    server = Server(script)
    listener: anyio.abc.Listener[anyio.abc.ByteStream]
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener = TLSListener(tcp, tls, standard_compatible=False) if tls else tcp
    scheme = "https" if tls else "http"
    server.url = f"{scheme}://localhost:{port}" if tls else f"{scheme}://127.0.0.1:{port}"
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.handle)
        yield server
        group.cancel_scope.cancel()


async def read_request(stream: anyio.abc.ByteStream) -> bytes:
    """One request head (the tests send bodies small enough to arrive with it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    return data


def answering(*responses: bytes, then_close: bool = False) -> Script:
    """Answer each request on a connection with the next response, cycling."""

    async def script(stream: anyio.abc.ByteStream) -> None:
        index = 0
        while True:
            await read_request(stream)
            await stream.send(responses[index % len(responses)])
            index += 1
            if then_close:
                return

    return script


async def get(transport: ConnectionPoolTransport, url: str, **timeouts: float) -> httpx.Response:
    timeout = httpx.Timeout(5.0, **timeouts) if timeouts else httpx.Timeout(5.0)
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
        return await client.get(url)


async def test_sequential_requests_reuse_one_kept_alive_connection() -> None:
    async with serving(answering(OK)) as server:
        transport = ConnectionPoolTransport(5)
        async with httpx.AsyncClient(transport=transport) as client:
            responses = [await client.post(server.url + "/x", json={"n": i}) for i in range(3)]
            assert transport.connections == 1
    assert [r.json() for r in responses] == [{}, {}, {}]
    assert responses[0].http_version == "HTTP/1.1"
    assert responses[0].elapsed.total_seconds() > 0
    assert server.accepted == 1


async def test_the_request_on_the_wire_carries_the_method_target_headers_and_body() -> None:
    seen: list[bytes] = []

    async def script(stream: anyio.abc.ByteStream) -> None:
        data = await read_request(stream)
        while not data.endswith(b'{"phone_number":"+919876543210"}'):
            data += await stream.receive()
        seen.append(data)
        await stream.send(OK)

    async with (
        serving(script) as server,
        httpx.AsyncClient(transport=ConnectionPoolTransport(1)) as client,
    ):
        await client.post(
            server.url + "/v2/a%20b?x=1",
            content=b'{"phone_number":"+919876543210"}',
            headers={"X-A": "b"},
        )
    head = seen[0].split(b"\r\n")
    assert head[0] == b"POST /v2/a%20b?x=1 HTTP/1.1"
    assert b"X-A: b" in head
    assert b"Content-Length: 32" in head


async def test_a_gzip_encoded_body_comes_decoded() -> None:
    body = gzip.compress(b'{"ok": true}')
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
    async with serving(answering(head + body)) as server:
        transport = ConnectionPoolTransport(1)
        request = httpx.Request("GET", server.url + "/x", headers={"Accept-Encoding": "gzip"})
        response = await transport.handle_async_request(request)
        await transport.aclose()
    assert response.json() == {"ok": True}


async def test_a_response_with_connection_close_is_not_reused() -> None:
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"
    async with serving(answering(closing, then_close=True)) as server:
        transport = ConnectionPoolTransport(5)
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(3):
                assert (await client.get(server.url)).status_code == 200
            assert transport.connections == 0
    assert server.accepted == 3


async def test_a_connection_the_server_closed_while_idle_is_replaced_without_an_error() -> None:
    # The server answers without "connection: close", then hangs up: the transport must see
    # the EOF on the idle socket and open a new connection instead of writing into a dead one.
    async with serving(answering(OK, then_close=True)) as server:
        transport = ConnectionPoolTransport(5)
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(3):
                assert (await client.get(server.url)).status_code == 200
                await anyio.sleep(0.05)  # let the FIN arrive
    assert server.accepted == 3


async def test_an_idle_connection_past_the_keep_alive_expiry_is_replaced() -> None:
    now = [0.0]
    async with serving(answering(OK)) as server:
        transport = ConnectionPoolTransport(5, clock=lambda: now[0])
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(server.url)
            now[0] += KEEPALIVE_EXPIRY - 0.1
            await client.get(server.url)
            assert server.accepted == 1
            now[0] += KEEPALIVE_EXPIRY + 0.1
            await client.get(server.url)
            assert transport.connections == 1
    assert server.accepted == 2


async def test_a_chunked_body_and_an_informational_response_are_read_whole() -> None:
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n"
        b'3\r\n{"a\r\n5\r\n": 1}\r\n0\r\n\r\n'
    )
    async with serving(answering(chunked, OK)) as server:
        transport = ConnectionPoolTransport(5)
        async with httpx.AsyncClient(transport=transport) as client:
            first = await client.get(server.url)
            second = await client.get(server.url)
    assert (first.status_code, first.json()) == (201, {"a": 1})
    assert second.json() == {}
    assert server.accepted == 1


async def test_a_server_that_hangs_up_without_answering_raises_remote_protocol_error() -> None:
    async def hang_up(stream: anyio.abc.ByteStream) -> None:
        await read_request(stream)

    transport = ConnectionPoolTransport(5)
    async with serving(hang_up) as server:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await get(transport, server.url)
    assert transport.connections == 0


async def test_a_garbled_response_raises_remote_protocol_error_and_drops_the_connection() -> None:
    transport = ConnectionPoolTransport(5)
    async with serving(answering(b"SPDY/9 banana\r\n\r\n")) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await get(transport, server.url)
    assert transport.connections == 0


async def test_an_answer_slower_than_the_read_timeout_raises_read_timeout() -> None:
    async def slow(stream: anyio.abc.ByteStream) -> None:
        await read_request(stream)
        await anyio.sleep(5)

    transport = ConnectionPoolTransport(5)
    async with serving(slow) as server:
        with anyio.fail_after(3), pytest.raises(httpx.ReadTimeout):
            await get(transport, server.url, read=0.1)
    assert transport.connections == 0


async def test_a_refused_connection_raises_connect_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens on the port any more
    with pytest.raises(httpx.ConnectError):
        await get(ConnectionPoolTransport(5), f"http://127.0.0.1:{port}/")


async def test_requests_beyond_max_connections_wait_for_a_free_one() -> None:
    async def slow_ok(stream: anyio.abc.ByteStream) -> None:
        while True:
            await read_request(stream)
            await anyio.sleep(0.1)
            await stream.send(OK)

    transport = ConnectionPoolTransport(2)
    statuses: list[int] = []
    async with serving(slow_ok) as server, httpx.AsyncClient(transport=transport) as client:

        async def one() -> None:
            statuses.append((await client.get(server.url)).status_code)

        async with anyio.create_task_group() as group:
            for _ in range(6):
                group.start_soon(one)
            await anyio.sleep(0.05)
            assert (transport.busy, transport.waiting) == (2, 4)
    assert statuses == [200] * 6
    assert server.accepted == 2


async def test_waiting_longer_than_the_pool_timeout_raises_pool_timeout() -> None:
    async def slow_ok(stream: anyio.abc.ByteStream) -> None:
        await read_request(stream)
        await anyio.sleep(1)
        await stream.send(OK)

    transport = ConnectionPoolTransport(1)
    timeout = httpx.Timeout(5.0, pool=0.05)
    async with (
        serving(slow_ok) as server,
        httpx.AsyncClient(transport=transport, timeout=timeout) as client,
        anyio.create_task_group() as group,
    ):
        group.start_soon(client.get, server.url)
        await anyio.sleep(0.02)
        with pytest.raises(httpx.PoolTimeout):
            await client.get(server.url)
        group.cancel_scope.cancel()


async def test_cancelling_a_request_closes_its_connection_and_frees_the_slot() -> None:
    async def never(stream: anyio.abc.ByteStream) -> None:
        await read_request(stream)
        await anyio.sleep(10)

    transport = ConnectionPoolTransport(1)
    async with serving(never) as server, httpx.AsyncClient(transport=transport) as client:
        with anyio.move_on_after(0.1):
            await client.get(server.url)
        assert (transport.connections, transport.busy, transport.waiting) == (0, 0, 0)


async def test_closing_the_transport_fails_requests_in_flight_and_refuses_new_ones() -> None:
    async def never(stream: anyio.abc.ByteStream) -> None:
        await read_request(stream)
        await anyio.sleep(10)

    transport = ConnectionPoolTransport(2)
    failures: list[BaseException] = []
    async with serving(never) as server, httpx.AsyncClient(transport=transport) as client:

        async def one() -> None:
            try:
                await client.get(server.url)
            except httpx.TransportError as error:
                failures.append(error)

        with anyio.fail_after(3):
            async with anyio.create_task_group() as group:
                group.start_soon(one)
                group.start_soon(one)
                await anyio.sleep(0.1)
                await transport.aclose()
        assert [type(error) for error in failures] == [httpx.ReadError, httpx.ReadError]
        assert transport.connections == 0
        with pytest.raises(httpx.ConnectError, match="closed"):
            await transport.handle_async_request(httpx.Request("GET", server.url))


async def test_an_unsupported_scheme_is_refused() -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        await ConnectionPoolTransport(1).handle_async_request(httpx.Request("GET", "ftp://x/"))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_requests_verify_the_certificate_and_reuse_the_tls_connection(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with serving(answering(OK), tls=server_context) as server:
        transport = ConnectionPoolTransport(5, ssl_context=trusting)
        async with httpx.AsyncClient(transport=transport) as client:
            statuses = [(await client.get(server.url)).status_code for _ in range(3)]
        assert statuses == [200] * 3
        assert server.accepted == 1

        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await get(ConnectionPoolTransport(5), server.url)  # the default, verified context


async def test_each_event_loop_gets_its_own_kind_of_stream(anyio_backend: str) -> None:
    async with serving(answering(OK)) as server:
        transport = ConnectionPoolTransport(1)
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(server.url)
            (connection,) = transport._idle[
                (b"http", "127.0.0.1", int(server.url.rsplit(":", 1)[1]))
            ]
            expected = AsyncioStream if anyio_backend == "asyncio" else AnyioStream
            assert type(connection.stream) is expected


async def test_a_body_the_server_never_reads_raises_write_timeout() -> None:
    # A listener that never accepts: the kernel completes the handshake, then the small
    # receive buffer fills and the client's writes block.
    with socket.create_server(("127.0.0.1", 0)) as deaf:
        deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        url = f"http://127.0.0.1:{deaf.getsockname()[1]}/"
        transport = ConnectionPoolTransport(1)
        timeout = httpx.Timeout(5.0, write=0.2)
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            with anyio.fail_after(3), pytest.raises(httpx.WriteTimeout):
                await client.post(url, content=b"x" * (32 << 20))
        assert transport.connections == 0


async def test_bytes_after_a_response_are_never_taken_for_the_next_one() -> None:
    first = b'HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{"first":1}'
    stale = b'HTTP/1.1 201 Created\r\ncontent-length: 11\r\n\r\n{"stale":1}'
    second = b'HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n{"second":1}'
    answers_given = 0

    async def script(stream: anyio.abc.ByteStream) -> None:
        nonlocal answers_given
        while True:
            await read_request(stream)
            answers_given += 1
            await stream.send(first + stale if answers_given == 1 else second)

    async with serving(script) as server:
        transport = ConnectionPoolTransport(1)
        async with httpx.AsyncClient(transport=transport) as client:
            answers = [(await client.post(server.url, json={})).json() for _ in range(2)]
    assert answers == [{"first": 1}, {"second": 1}]
    assert server.accepted == 2  # the confused connection was not reused


async def test_a_protocol_switch_raises_instead_of_spinning() -> None:
    switching = (
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"
    )
    async with serving(answering(switching)) as server:
        request = httpx.Request(
            "GET", server.url, headers={"Upgrade": "websocket", "Connection": "upgrade"}
        )
        with anyio.fail_after(3), pytest.raises(httpx.RemoteProtocolError):
            await ConnectionPoolTransport(1).handle_async_request(request)


async def test_a_header_h11_refuses_raises_local_protocol_error_unsent() -> None:
    async with serving(answering(OK)) as server:
        transport = ConnectionPoolTransport(1)
        request = httpx.Request("GET", server.url, headers={"X-Bad": "a\nb"})
        with pytest.raises(httpx.LocalProtocolError):
            await transport.handle_async_request(request)
        assert transport.connections == 0


async def test_a_hang_up_during_the_tls_handshake_raises_connect_error() -> None:
    async def hang_up(stream: anyio.abc.ByteStream) -> None:
        await stream.receive()  # the ClientHello, then close without answering

    async with serving(hang_up) as server:
        url = server.url.replace("http://", "https://")
        with pytest.raises(httpx.ConnectError):
            await ConnectionPoolTransport(1).handle_async_request(httpx.Request("GET", url))


async def test_closing_the_transport_while_a_request_connects_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_connect = _connections.connect

    async def slow_connect(*args: Any) -> Any:
        stream = await real_connect(*args)
        await anyio.sleep(0.2)  # a slow handshake, say
        return stream

    monkeypatch.setattr(_connections, "connect", slow_connect)
    seen: list[bytes] = []

    async def record(stream: anyio.abc.ByteStream) -> None:
        seen.append(await read_request(stream))
        await stream.send(OK)

    failures: list[Exception] = []
    async with serving(record) as server:
        transport = ConnectionPoolTransport(2)

        async def one() -> None:
            try:
                await transport.handle_async_request(
                    httpx.Request("POST", server.url, content=b"x")
                )
            except httpx.ConnectError as error:
                failures.append(error)

        async with anyio.create_task_group() as group:
            group.start_soon(one)
            await anyio.sleep(0.05)
            await transport.aclose()
        await anyio.sleep(0.05)
    assert seen == []
    assert len(failures) == 1
    assert "closed" in str(failures[0])
    assert transport.connections == 0
