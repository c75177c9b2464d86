"""``diagnose(probe=True)``'s network checks, against real servers on 127.0.0.1.

Each test starts its own TCP or TLS listener (certificates from trustme) and probes it; every
finding is pinned by its exact code, and the healthy cases by finding nothing. A test that
leaves a socket open fails the suite (warnings are errors).
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.abc
import pytest
import trustme
from anyio.streams.tls import TLSStream
from cryptography import x509

from exotel_trunking import AsyncTrunkingClient, _probes
from exotel_trunking._diagnosis import Destination, Finding, parse_destination
from exotel_trunking._probes import probe_destinations
from exotel_trunking.emulator import Emulator

pytestmark = pytest.mark.anyio

#: What a connection's end looks like from the server: the peer went away, however it did.
_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


# Servers.


class Server:
    """Connections to a listener: accepted, closed, and the most open at once."""

    def __init__(self) -> None:
        self.port = 0
        self.accepted = 0
        self.closed = 0
        self.peak = 0
        self._closing = anyio.Event()

    @property
    def open(self) -> int:
        return self.accepted - self.closed

    async def all_closed(self) -> None:
        """Wait (at most 2 s) until every accepted connection has been closed by the peer."""
        with anyio.fail_after(2):
            while self.open:
                self._closing = anyio.Event()
                await self._closing.wait()


Handler = Callable[[anyio.abc.SocketStream], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Server]:
    """Serve every connection to an ephemeral port of 127.0.0.1 with ``handler``."""
    server = Server()

    async def connection(stream: anyio.abc.SocketStream) -> None:
        server.accepted += 1
        server.peak = max(server.peak, server.open)
        try:
            with suppress(*_GONE):
                await handler(stream)
        finally:
            server.closed += 1
            server._closing.set()
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    server.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, connection, group)
        try:
            yield server
        finally:
            group.cancel_scope.cancel()


async def until_hang_up(stream: anyio.abc.ByteReceiveStream) -> None:
    """Read and discard until the peer closes: to a TLS client, a handshake that never ends."""
    while True:
        await stream.receive()


def tls_handler(context: ssl.SSLContext) -> Handler:
    """Complete the server side of a TLS handshake, then wait for the peer to hang up."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        tls = await TLSStream.wrap(
            stream, server_side=True, ssl_context=context, standard_compatible=False
        )
        await until_hang_up(tls)

    return handle


def serve_tls(cert: trustme.LeafCert) -> AbstractAsyncContextManager[Server]:
    """A TLS server presenting ``cert``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return serve(tls_handler(context))


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port of 127.0.0.1 that refuses connections: bound, held, never listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# Certificates.


@pytest.fixture(scope="session")
def good_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("127.0.0.1", "localhost")


@pytest.fixture
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context trusting only the test CA."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def destinations(*uris: str) -> list[Destination]:
    parsed = [parse_destination(uri) for uri in uris]
    assert all(parsed)
    return [d for d in parsed if d is not None]


def codes(findings: Sequence[Finding]) -> list[str]:
    return [f.code for f in findings]


def assert_well_formed(findings: Sequence[Finding]) -> None:
    """Every finding names its destination, in ``item`` and in its message, and has a fix."""
    for finding in findings:
        assert finding.item is not None
        assert finding.item in finding.message
        assert finding.fix


def not_after(cert: trustme.LeafCert) -> datetime:
    return x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()).not_valid_after_utc


# Healthy destinations.


async def test_healthy_tls_destination_by_ip_has_no_finding(
    good_cert: trustme.LeafCert, trusting: ssl.SSLContext
) -> None:
    async with serve_tls(good_cert) as server:
        found = await probe_destinations(
            destinations(f"127.0.0.1:{server.port};transport=tls"), verify=trusting
        )
        assert found == []
        assert server.accepted == 1
        await server.all_closed()


async def test_healthy_tls_destination_by_host_name_has_no_finding(
    good_cert: trustme.LeafCert, trusting: ssl.SSLContext
) -> None:
    async with serve_tls(good_cert) as server:
        found = await probe_destinations(
            destinations(f"sip:localhost:{server.port};transport=tls"), verify=trusting
        )
        assert found == []
        await server.all_closed()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_plain_tcp_destination_that_accepts_has_no_finding(host: str) -> None:
    async with serve(until_hang_up) as server:
        found = await probe_destinations(destinations(f"{host}:{server.port};transport=tcp"))
        assert found == []
        assert server.accepted == 1
        await server.all_closed()


async def test_verify_as_a_ca_bundle_path(good_cert: trustme.LeafCert, ca_pem: str) -> None:
    async with serve_tls(good_cert) as server:
        uri = f"127.0.0.1:{server.port};transport=tls"
        assert await probe_destinations(destinations(uri), verify=ca_pem) == []


async def test_verify_true_honours_ssl_cert_file(
    monkeypatch: pytest.MonkeyPatch, good_cert: trustme.LeafCert, ca_pem: str
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_pem)
    async with serve_tls(good_cert) as server:
        uri = f"127.0.0.1:{server.port};transport=tls"
        assert await probe_destinations(destinations(uri), verify=True) == []


async def test_verify_false_checks_neither_chain_nor_host_name() -> None:
    stranger = trustme.CA().issue_cert("pbx.example.com")
    async with serve_tls(stranger) as server:
        uri = f"127.0.0.1:{server.port};transport=tls"
        assert await probe_destinations(destinations(uri), verify=False) == []


# Unreachable and unresolvable.


async def test_closed_port_is_tcp_unreachable(closed_port: int) -> None:
    found = await probe_destinations(destinations(f"127.0.0.1:{closed_port};transport=tls"))
    assert codes(found) == ["tcp_unreachable"]
    assert found[0].severity == "error"
    assert f"TCP connection to 127.0.0.1:{closed_port} was refused" in found[0].message
    assert "5060" in found[0].fix
    assert "5061" in found[0].fix
    assert_well_formed(found)


def failing_with(cause: BaseException) -> Callable[..., Awaitable[anyio.abc.SocketStream]]:
    """A stand-in for ``anyio.connect_tcp`` failing as it does: ``OSError`` from the cause."""

    async def connect_tcp(*args: object, **kwargs: object) -> anyio.abc.SocketStream:
        raise OSError("All connection attempts failed") from cause

    return connect_tcp


async def never_connecting(*args: object, **kwargs: object) -> anyio.abc.SocketStream:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("connect_tcp", "said"),
    [
        pytest.param(never_connecting, "got no answer within 0.2 s", id="no-answer"),
        pytest.param(
            failing_with(TimeoutError(110, "Connection timed out")),
            "got no answer (",
            id="timed-out",
        ),
        pytest.param(
            failing_with(
                ExceptionGroup(
                    "multiple connection attempts failed",
                    [ConnectionRefusedError(111, "refused"), ConnectionRefusedError(111, "no")],
                )
            ),
            "was refused (",
            id="every-address-refused",
        ),
        pytest.param(
            failing_with(OSError(101, "Network is unreachable")),
            "failed (Network is unreachable)",
            id="other",
        ),
    ],
)
async def test_tcp_failures_say_what_happened(
    monkeypatch: pytest.MonkeyPatch,
    connect_tcp: Callable[..., Awaitable[anyio.abc.SocketStream]],
    said: str,
) -> None:
    # A real address that never answers is not reliably at hand, and a test sends nothing
    # beyond the loopback: the connect itself is replaced (the port is one nobody uses).
    monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
    uri = "127.0.0.1:9;transport=tls"
    found = await probe_destinations(destinations(uri), per_check_seconds=0.2)
    assert codes(found) == ["tcp_unreachable"]
    assert f"TCP connection to 127.0.0.1:9 {said}" in found[0].message


@pytest.fixture
def no_such_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Look-ups of ``*.invalid`` fail here, as a resolver answers them (RFC 6761), unsent."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.usefixtures("no_such_name")
async def test_host_name_that_does_not_resolve_is_dns_unresolved() -> None:
    with anyio.fail_after(5):
        found = await probe_destinations(
            destinations("nowhere.invalid:5061;transport=tls"), per_check_seconds=2
        )
    assert codes(found) == ["dns_unresolved"]
    assert found[0].severity == "error"
    assert "nowhere.invalid" in found[0].message
    assert_well_formed(found)


async def test_udp_destination_is_not_probed() -> None:
    async with serve(until_hang_up) as server:
        found = await probe_destinations(destinations(f"127.0.0.1:{server.port}"))
        assert codes(found) == ["udp_not_probed"]
        assert found[0].severity == "info"
        assert server.accepted == 0
    assert_well_formed(found)


# TLS failures.


@pytest.mark.slow  # waits out the handshake timeout
async def test_handshake_that_never_finishes_is_tls_handshake_failed() -> None:
    async with serve(until_hang_up) as server:
        uri = f"127.0.0.1:{server.port};transport=tls"
        with anyio.fail_after(3):
            found = await probe_destinations(destinations(uri), per_check_seconds=0.3)
        assert codes(found) == ["tls_handshake_failed"]
        assert "within 0.3 s" in found[0].message
        await server.all_closed()
    assert_well_formed(found)


async def test_server_that_hangs_up_is_tls_handshake_failed(trusting: ssl.SSLContext) -> None:
    async def hang_up(stream: anyio.abc.SocketStream) -> None:
        await stream.aclose()

    async with serve(hang_up) as server:
        uri = f"127.0.0.1:{server.port};transport=tls"
        found = await probe_destinations(destinations(uri), verify=trusting)
    assert codes(found) == ["tls_handshake_failed"]
    assert "closed the connection" in found[0].message


async def test_server_not_speaking_tls_is_tls_handshake_failed(trusting: ssl.SSLContext) -> None:
    async def plain_sip(stream: anyio.abc.SocketStream) -> None:
        await stream.send(b"SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await until_hang_up(stream)

    async with serve(plain_sip) as server:
        uri = f"127.0.0.1:{server.port};transport=tls"
        found = await probe_destinations(destinations(uri), verify=trusting)
    assert codes(found) == ["tls_handshake_failed"]


async def test_untrusted_ca_is_tls_handshake_failed(trusting: ssl.SSLContext) -> None:
    stranger = trustme.CA().issue_cert("127.0.0.1")
    async with serve_tls(stranger) as server:
        uri = f"127.0.0.1:{server.port};transport=tls"
        found = await probe_destinations(destinations(uri), verify=trusting)
        await server.all_closed()
    assert codes(found) == ["tls_handshake_failed"]
    assert "certificate issue" in found[0].message
    assert_well_formed(found)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_certificate_for_another_host_is_tls_wrong_host(
    host: str, ca: trustme.CA, trusting: ssl.SSLContext
) -> None:
    elsewhere = ca.issue_cert("pbx.example.com", "192.0.2.7")
    async with serve_tls(elsewhere) as server:
        uri = f"{host}:{server.port};transport=tls"
        found = await probe_destinations(destinations(uri), verify=trusting)
    assert codes(found) == ["tls_wrong_host"]
    assert found[0].severity == "error"
    assert host in found[0].fix
    assert_well_formed(found)


@pytest.fixture(scope="session")
def expired_cert(ca: trustme.CA) -> trustme.LeafCert:
    now = datetime.now(UTC)
    return ca.issue_cert(
        "127.0.0.1", not_before=now - timedelta(days=90), not_after=now - timedelta(days=1)
    )


async def test_expired_certificate_is_tls_certificate_expired(
    expired_cert: trustme.LeafCert, trusting: ssl.SSLContext
) -> None:
    async with serve_tls(expired_cert) as server:
        uri = f"127.0.0.1:{server.port};transport=tls"
        found = await probe_destinations(destinations(uri), verify=trusting)
    assert codes(found) == ["tls_certificate_expired"]
    assert found[0].severity == "error"
    assert_well_formed(found)


async def test_without_verification_an_expired_certificate_is_not_judged(
    expired_cert: trustme.LeafCert,
) -> None:
    # verify=False checks nothing, and ssl then shows no certificate fields to read.
    async with serve_tls(expired_cert) as server:
        uri = f"127.0.0.1:{server.port};transport=tls"
        found = await probe_destinations(destinations(uri), verify=False)
    assert found == []


async def test_certificate_expiring_in_10_days_is_a_warning(
    ca: trustme.CA, trusting: ssl.SSLContext
) -> None:
    soon = ca.issue_cert("127.0.0.1", not_after=datetime.now(UTC) + timedelta(days=10, hours=1))
    async with serve_tls(soon) as server:
        uri = f"127.0.0.1:{server.port};transport=tls"
        found = await probe_destinations(destinations(uri), verify=trusting)
    assert codes(found) == ["tls_certificate_expiring"]
    assert found[0].severity == "warning"
    assert f"expires on {not_after(soon):%Y-%m-%d}" in found[0].message
    assert "(10 days left)" in found[0].message
    assert_well_formed(found)


@pytest.mark.parametrize(
    ("before_expiry", "expected"),
    [
        (timedelta(days=10), ["tls_certificate_expiring"]),
        (timedelta(days=30) - timedelta(seconds=1), ["tls_certificate_expiring"]),
        (timedelta(days=30), []),
        (timedelta(seconds=-1), ["tls_certificate_expired"]),
    ],
)
async def test_expiry_is_judged_by_the_injected_clock(
    before_expiry: timedelta,
    expected: list[str],
    good_cert: trustme.LeafCert,
    trusting: ssl.SSLContext,
) -> None:
    expiry = not_after(good_cert)  # trustme's default: the year 3000
    async with serve_tls(good_cert) as server:
        uri = f"127.0.0.1:{server.port};transport=tls"
        found = await probe_destinations(
            destinations(uri), verify=trusting, now=lambda: expiry - before_expiry
        )
    assert codes(found) == expected


# Many destinations.


@pytest.mark.usefixtures("no_such_name")
async def test_findings_follow_the_destinations_order(
    closed_port: int, good_cert: trustme.LeafCert, trusting: ssl.SSLContext
) -> None:
    async with serve_tls(good_cert) as server:
        uris = [
            "127.0.0.1:5060",
            f"127.0.0.1:{closed_port};transport=tcp",
            f"127.0.0.1:{server.port};transport=tls",
            f"nowhere.invalid:{server.port};transport=tls",
        ]
        found = await probe_destinations(destinations(*uris), verify=trusting)
    assert codes(found) == ["udp_not_probed", "tcp_unreachable", "dns_unresolved"]
    assert [f.item for f in found] == [uris[0], uris[1], uris[3]]
    assert_well_formed(found)


@pytest.mark.slow  # waits out probes that hang, in real time
async def test_at_most_ten_destinations_are_tried_at_once() -> None:
    async with serve(until_hang_up) as server:
        uris = [f"127.0.0.1:{server.port};transport=tls;n={n}" for n in range(25)]
        started = anyio.current_time()
        found = await probe_destinations(destinations(*uris), per_check_seconds=0.3)
        elapsed = anyio.current_time() - started
        await server.all_closed()
    assert codes(found) == ["tls_handshake_failed"] * 25
    assert server.peak == 10
    assert elapsed < 25 * 0.3 / 2  # three waves of ten, not one destination after another


# Through the client.


async def test_diagnose_with_probe_reports_the_probe_findings(
    monkeypatch: pytest.MonkeyPatch,
    closed_port: int,
    good_cert: trustme.LeafCert,
    ca_pem: str,
) -> None:
    # verify= cannot go with transport=: the client's verify=True reads SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", ca_pem)
    emulator = Emulator("k", "t", "acme")
    sid = emulator.state.create_trunk("probed").trunk_sid
    emulator.state.map_phone_number(sid, "+919876543210")
    emulator.state.whitelist_ip(sid, "203.0.113.10", 32)
    async with serve_tls(good_cert) as server:
        healthy = f"localhost:{server.port};transport=tls"
        broken = f"localhost:{closed_port};transport=tcp"
        for uri in (healthy, broken):
            emulator.state.add_destination(sid, uri)
        async with AsyncTrunkingClient(
            "k", "t", "acme", transport=emulator.transport(), rate_limit=None
        ) as client:
            unprobed = await client.diagnose(sid)
            probed = await client.diagnose(sid, probe=True)
        await server.all_closed()
    assert unprobed.codes() == []
    assert unprobed.probed is False
    assert probed.codes() == ["tcp_unreachable"]
    assert probed.probed is True
    assert probed.findings[0].item == f"sip:{broken}"  # as the API lists it
    assert not probed.ok


@pytest.mark.slow  # waits out the bound in real time
def test_a_look_up_that_hangs_is_left_behind_within_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The resolver hangs for 3 s (nothing is sent: getaddrinfo itself is replaced); the probe
    # gives up after 0.3 s, and the event loop's end does not wait for the look-up either.
    real = socket.getaddrinfo

    def hanging(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hangs.invalid":
            time.sleep(3)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)

    async def probe() -> list[Finding]:
        uri = "hangs.invalid:5061;transport=tls"
        return await probe_destinations(destinations(uri), per_check_seconds=0.3)

    for backend in ("asyncio", "trio"):
        started = time.monotonic()
        found = anyio.run(probe, backend=backend)
        elapsed = time.monotonic() - started
        assert codes(found) == ["dns_unresolved"]
        assert "no answer within 0.3 s" in found[0].message
        assert elapsed < 2.0, backend  # not the 3 s the look-up takes


async def test_a_name_with_several_addresses_is_reached_at_the_one_that_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def two_addresses(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"] if host == "pbx.invalid" else [host]

    monkeypatch.setattr(_probes, "look_up", two_addresses)
    async with serve(until_hang_up) as server:  # listens on 127.0.0.1 only
        uri = f"pbx.invalid:{server.port};transport=tcp"
        found = await probe_destinations(destinations(uri), per_check_seconds=1)
    assert found == []
