"""The SDK's HTTP client against real servers on 127.0.0.1: proxies, TLS, hooks, HTTP/2.

Every attempt goes through one ``httpx2.AsyncClient.send``, so what an httpx2 application
gets from its environment and options (``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``,
``SSL_CERT_FILE``, ``verify=``, client certificates, event hooks, HTTP/2) the SDK must get
too. Each test starts its servers from :mod:`.servers`, builds the client *after* setting the
environment (httpx2 reads it when the client is built), and is bounded with
``anyio.fail_after``. All run on asyncio and trio.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import trustme

from exotel_trunking import APIConnectionError, AsyncTrunkingClient, RetryPolicy

from .servers import ACCOUNT, serve_h2, serve_origin, serve_proxy

pytestmark = pytest.mark.anyio

PATH = f"/v2/accounts/{ACCOUNT}/trunks/tr1/phone-numbers"
#: Every variable that could route or trust differently from what a test sets up.
ENVIRONMENT = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
GUARD = 5.0  # seconds; every test here takes a few milliseconds


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or CA variables (either case) but those a test sets."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in ("EXOTEL_API_KEY", "EXOTEL_API_TOKEN", "EXOTEL_ACCOUNT_SID", "EXOTEL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("localhost", "127.0.0.1")


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context trusting only the test CA."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def client_for(base_url: str, **options: Any) -> AsyncTrunkingClient:
    """A client of ``base_url`` without pacing (and without retries unless asked for)."""
    options.setdefault("rate_limit", None)
    if "retry" not in options:
        options.setdefault("max_retries", 0)
    return AsyncTrunkingClient("key", "token", ACCOUNT, base_url=base_url, **options)


async def list_numbers(client: AsyncTrunkingClient) -> None:
    async with client:
        assert await client.phone_numbers.list("tr1") == []


def connect_error(error: APIConnectionError) -> str:
    """The messages of the ``httpx2.ConnectError`` behind ``error`` and of its causes.

    On trio the ``ConnectError`` itself has no message (httpcore2 wraps a bare
    ``trio.BrokenResourceError``); the ``ssl`` error that says why is further down the chain.
    """
    cause = error.__cause__
    assert isinstance(cause, httpx2.ConnectError), repr(cause)
    messages = []
    link: BaseException | None = cause
    while link is not None:
        messages.append(str(link))
        link = link.__cause__ or link.__context__
    return " | ".join(messages)


# 1-3: proxies.


async def test_http_proxy_from_the_environment_carries_plain_http_requests_to_the_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with anyio.fail_after(GUARD):
        async with serve_origin() as origin, serve_proxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            await list_numbers(client_for(origin.base_url))

    assert proxy.connections == 1
    assert proxy.requests == [f"GET {origin.base_url}{PATH}"]  # absolute-form: a proxy request
    [seen] = origin.requests
    assert seen.target == PATH
    assert seen.headers["via"] == "1.1 test-proxy"
    assert seen.peer_port in proxy.upstream_ports


async def test_https_proxy_from_the_environment_tunnels_to_a_tls_origin_with_connect(
    monkeypatch: pytest.MonkeyPatch, ca_pem: str, server_cert: trustme.LeafCert
) -> None:
    with anyio.fail_after(GUARD):
        async with (
            serve_origin(ssl_context=server_context(server_cert)) as origin,
            serve_proxy() as proxy,
        ):
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            await list_numbers(client_for(origin.base_url, verify=ca_pem))

    assert proxy.requests == [f"CONNECT 127.0.0.1:{origin.port}"]
    [seen] = origin.requests
    assert (seen.tls, seen.target) == (True, PATH)
    assert seen.peer_port in proxy.upstream_ports  # the TLS connection came through the tunnel


async def test_no_proxy_host_is_reached_directly_with_the_proxy_unused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with anyio.fail_after(GUARD):
        async with serve_origin() as origin, serve_proxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            monkeypatch.setenv("NO_PROXY", "example.com,127.0.0.1")
            await list_numbers(client_for(origin.base_url))

    assert proxy.connections == 0
    [seen] = origin.requests
    assert "via" not in seen.headers


async def test_proxy_option_is_used_with_no_proxy_in_the_environment() -> None:
    with anyio.fail_after(GUARD):
        async with serve_origin() as origin, serve_proxy() as proxy:
            await list_numbers(client_for(origin.base_url, proxy=proxy.url))

    assert proxy.requests == [f"GET {origin.base_url}{PATH}"]
    [seen] = origin.requests
    assert seen.headers["via"] == "1.1 test-proxy"


async def test_a_proxy_refusing_the_connect_with_407_fails_a_create_as_nothing_sent(
    ca_pem: str, server_cert: trustme.LeafCert
) -> None:
    with anyio.fail_after(GUARD):
        async with (
            serve_origin(ssl_context=server_context(server_cert)) as origin,
            serve_proxy(refuse=407) as proxy,
        ):
            client = client_for(origin.base_url, proxy=proxy.url, verify=ca_pem)
            async with client:
                with pytest.raises(APIConnectionError) as caught:
                    await client.trunks.create("t1")

    assert isinstance(caught.value.__cause__, httpx2.ProxyError)
    assert "407" in str(caught.value)
    assert "may have been created" not in str(caught.value)  # the CONNECT got no further
    assert caught.value.attempts == 1
    assert proxy.requests == [f"CONNECT 127.0.0.1:{origin.port}"]
    assert (origin.connections, origin.requests) == (0, [])


# 4: server certificates.


async def test_tls_server_of_an_unknown_ca_is_refused_by_default_as_unverified(
    server_cert: trustme.LeafCert,
) -> None:
    with anyio.fail_after(GUARD):
        async with serve_origin(ssl_context=server_context(server_cert)) as origin:
            with pytest.raises(APIConnectionError) as caught:
                await list_numbers(client_for(origin.base_url))

    assert "certificate verify failed" in connect_error(caught.value)
    assert caught.value.attempts == 1
    assert origin.requests == []


async def test_ssl_cert_file_set_before_the_client_is_built_makes_its_ca_trusted(
    monkeypatch: pytest.MonkeyPatch, ca_pem: str, server_cert: trustme.LeafCert
) -> None:
    with anyio.fail_after(GUARD):
        async with serve_origin(ssl_context=server_context(server_cert)) as origin:
            monkeypatch.setenv("SSL_CERT_FILE", ca_pem)
            await list_numbers(client_for(origin.base_url))

    [seen] = origin.requests
    assert seen.tls


@pytest.mark.parametrize("form", ["ca_path", "ssl_context"])
async def test_verify_option_trusts_the_ca_given_as_a_path_or_an_ssl_context(
    form: str, ca: trustme.CA, ca_pem: str, server_cert: trustme.LeafCert
) -> None:
    verify: str | ssl.SSLContext = ca_pem if form == "ca_path" else trusting(ca)
    with anyio.fail_after(GUARD):
        async with serve_origin(ssl_context=server_context(server_cert)) as origin:
            await list_numbers(client_for(origin.base_url, verify=verify))

    [seen] = origin.requests
    assert (seen.tls, seen.target) == (True, PATH)


async def test_certificate_of_a_trusted_ca_for_another_host_name_is_refused(
    ca: trustme.CA, ca_pem: str
) -> None:
    other = ca.issue_cert("api.other.example")
    with anyio.fail_after(GUARD):
        async with serve_origin(ssl_context=server_context(other)) as origin:
            with pytest.raises(APIConnectionError) as caught:
                await list_numbers(client_for(origin.base_url, verify=ca_pem))

    message = connect_error(caught.value)
    assert "certificate verify failed" in message
    assert "mismatch" in message
    assert origin.requests == []


# 5: client certificates.


@pytest.fixture
def requiring_client_cert(ca: trustme.CA, server_cert: trustme.LeafCert) -> ssl.SSLContext:
    """A server context that demands a certificate issued by the test CA."""
    context = server_context(server_cert)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def test_client_certificate_loaded_in_the_verify_context_is_presented_to_the_server(
    ca: trustme.CA, requiring_client_cert: ssl.SSLContext, tmp_path: Path
) -> None:
    client_cert = ca.issue_cert("client.example", common_name="sdk-client")
    chain = tmp_path / "client.pem"
    client_cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    context = trusting(ca)
    context.load_cert_chain(str(chain))
    with anyio.fail_after(GUARD):
        async with serve_origin(ssl_context=requiring_client_cert) as origin:
            await list_numbers(client_for(origin.base_url, verify=context))

    [seen] = origin.requests
    assert seen.client_cert is not None
    assert seen.client_cert["commonName"] == "sdk-client"
    assert origin.handshake_failures == []


async def test_server_requiring_a_client_certificate_refuses_a_client_without_one(
    ca: trustme.CA, requiring_client_cert: ssl.SSLContext
) -> None:
    with anyio.fail_after(GUARD):
        async with serve_origin(ssl_context=requiring_client_cert) as origin:
            with pytest.raises(APIConnectionError):
                await list_numbers(client_for(origin.base_url, verify=trusting(ca)))

    assert origin.requests == []
    assert len(origin.handshake_failures) == 1
    assert "certificate" in origin.handshake_failures[0].lower()


# 6: the user's own client and its hooks.


async def test_request_hook_of_a_users_http_client_sees_every_attempt_including_retries() -> None:
    hooked: list[str] = []

    async def hook(request: httpx2.Request) -> None:
        hooked.append(f"{request.method} {request.url.path}")

    retry = RetryPolicy(max_retries=2, initial_delay=0, max_delay=0)
    with anyio.fail_after(GUARD):
        async with (
            serve_origin(statuses=[503]) as origin,
            httpx2.AsyncClient(event_hooks={"request": [hook]}) as http,
        ):
            await list_numbers(client_for(origin.base_url, http_client=http, retry=retry))
            assert not http.is_closed  # closing the SDK's client left the user's open

    assert hooked == [f"GET {PATH}", f"GET {PATH}"]  # the 503, then the retry
    assert len(origin.requests) == 2


async def test_a_users_http_client_with_auth_of_its_own_sends_the_sdks_credentials() -> None:
    with anyio.fail_after(GUARD):
        async with (
            serve_origin() as origin,
            httpx2.AsyncClient(auth=("corp", "pw")) as http,
        ):
            await list_numbers(client_for(origin.base_url, http_client=http))

    [seen] = origin.requests
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"key:token").decode()


# 7: HTTP/2.


@pytest.fixture(scope="session")
def server_cert_files(
    server_cert: trustme.LeafCert, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    """The server certificate chain and its key, as files (what hypercorn reads)."""
    folder = tmp_path_factory.mktemp("h2")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(certfile))
    server_cert.private_key_pem.write_to_path(str(keyfile))
    return str(certfile), str(keyfile)


@pytest.mark.parametrize(("http2", "version"), [(True, "2"), (False, "1.1")])
async def test_http2_option_decides_whether_a_server_offering_h2_is_spoken_to_in_http2(
    http2: bool, version: str, ca_pem: str, server_cert_files: tuple[str, str]
) -> None:
    with anyio.fail_after(GUARD):
        async with serve_h2(*server_cert_files) as server:
            await list_numbers(client_for(server.base_url, verify=ca_pem, http2=http2))

    assert server.http_versions == [version]
