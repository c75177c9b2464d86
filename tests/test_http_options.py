"""The options that configure the SDK's own ``httpx2.AsyncClient``, and how they are checked."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trustme

from exotel_trunking import (
    AsyncTrunkingClient,
    ConfigurationError,
    ResponseDecodeError,
    __version__,
)

CREDENTIALS = ("key", "token-Qx7", "acme")


def http_client_of(client: AsyncTrunkingClient) -> httpx2.AsyncClient:
    return client._requester._clients.client()


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


@pytest.mark.anyio
async def test_the_sdk_builds_one_client_without_redirects_and_with_its_pool_size() -> None:
    async with AsyncTrunkingClient(*CREDENTIALS, max_connections=7) as client:
        http = http_client_of(client)
        assert isinstance(http, httpx2.AsyncClient)
        assert http.follow_redirects is False
        assert http.timeout == client.config.timeout
        pool = http._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 7
        assert pool._max_keepalive_connections == 7
        assert http_client_of(client) is http  # one client per event loop, not per call


@pytest.mark.anyio
async def test_the_user_agent_names_the_sdk_and_httpx2() -> None:
    seen: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        body = {"request_id": "r", "response": {"code": 200, "status": "success", "data": []}}
        return httpx2.Response(200, json=body)

    transport = httpx2.MockTransport(answer)
    async with AsyncTrunkingClient(*CREDENTIALS, transport=transport, rate_limit=None) as client:
        await client.phone_numbers.list("tr1")
    agent = seen[0].headers["user-agent"]
    assert agent.startswith(f"exotel-trunking/{__version__} ")
    assert f"httpx2/{httpx2.__version__}" in agent


@pytest.mark.anyio
async def test_verify_takes_a_ca_bundle_path_and_builds_a_context_from_it(ca_file: Path) -> None:
    async with AsyncTrunkingClient(*CREDENTIALS, verify=str(ca_file)) as client:
        assert client.config.verify == str(ca_file)
        http = http_client_of(client)
    context = http._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1  # the bundle's one CA, not the system's


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"verify": "/no/such/ca.pem"}, "verify='/no/such/ca.pem' is not a CA bundle"),
        ({"verify": 3}, "verify=3 is invalid"),
        ({"proxy": "ftp://proxy.example:2121"}, "proxy='ftp://proxy.example:2121' is invalid"),
        ({"proxy": "ftp://u:pw@proxy.example"}, "proxy='ftp://proxy.example .with credentials"),
        ({"proxy": "not a url at all"}, "proxy has no host"),
        ({"http2": "yes"}, "http2='yes' must be True or False"),
        ({"attempt_timeout": 0}, "attempt_timeout=0 must be seconds > 0 or None"),
        ({"attempt_timeout": "60"}, "attempt_timeout='60'"),
        ({"max_response_bytes": 0}, "max_response_bytes=0 must be an int >= 1"),
        ({"max_response_bytes": 1.5}, "max_response_bytes=1.5"),
    ],
)
def test_a_bad_http_option_names_the_argument_and_what_is_valid(
    options: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named.replace("(", r"\(").replace("?", r"\?")):
        AsyncTrunkingClient(*CREDENTIALS, **options)


def test_a_proxy_with_credentials_is_masked_in_the_configuration() -> None:
    client = AsyncTrunkingClient(*CREDENTIALS, proxy="http://ops:s3cret-pw@proxy.internal:3128")
    shown = repr(client.config)
    assert "s3cret-pw" not in shown
    assert "proxy.internal:3128" in shown
    assert "with credentials" in shown


@pytest.mark.parametrize("option", [{"verify": False}, {"proxy": "http://p:3128"}, {"http2": True}])
def test_network_options_are_refused_with_a_users_http_client(option: dict[str, Any]) -> None:
    (name,) = option
    with pytest.raises(ConfigurationError, match=rf"{name} cannot be combined with http_client="):
        AsyncTrunkingClient(*CREDENTIALS, http_client=httpx2.AsyncClient(), **option)


@pytest.mark.parametrize("option", [{"verify": False}, {"proxy": "http://p:3128"}, {"http2": True}])
def test_network_options_are_refused_with_a_transport(option: dict[str, Any]) -> None:
    (name,) = option
    transport = httpx2.MockTransport(lambda request: httpx2.Response(500))
    with pytest.raises(ConfigurationError, match=rf"{name} cannot be combined with transport="):
        AsyncTrunkingClient(*CREDENTIALS, transport=transport, **option)


def test_a_transport_and_an_http_client_together_are_refused() -> None:
    transport = httpx2.MockTransport(lambda request: httpx2.Response(500))
    with pytest.raises(ConfigurationError, match="transport cannot be combined with http_client="):
        AsyncTrunkingClient(*CREDENTIALS, transport=transport, http_client=httpx2.AsyncClient())


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [(httpx2.Timeout(30.0), 60.0), (httpx2.Timeout(45.0), 90.0), (httpx2.Timeout(None), 60.0)],
)
def test_the_default_attempt_timeout_is_60s_or_twice_the_read_timeout(
    timeout: httpx2.Timeout, expected: float
) -> None:
    client = AsyncTrunkingClient(*CREDENTIALS, timeout=timeout)
    assert client.config.attempt_timeout == expected


def test_attempt_timeout_none_turns_the_bound_off() -> None:
    assert AsyncTrunkingClient(*CREDENTIALS, attempt_timeout=None).config.attempt_timeout is None


@pytest.mark.anyio
async def test_http2_builds_an_http2_capable_client() -> None:
    pytest.importorskip("h2")
    async with AsyncTrunkingClient(*CREDENTIALS, http2=True) as client:
        pool = http_client_of(client)._transport._pool  # type: ignore[attr-defined]
        assert pool._http2 is True


def _envelope(data: object) -> dict[str, object]:
    return {"request_id": "r", "response": {"code": 200, "status": "success", "data": data}}


@pytest.mark.anyio
async def test_a_cookie_set_by_the_server_is_never_sent_back() -> None:
    cookies: list[str | None] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        cookies.append(request.headers.get("cookie"))
        headers = {"set-cookie": "AWSALB=sticky; Path=/"}
        return httpx2.Response(200, json=_envelope([]), headers=headers)

    transport = httpx2.MockTransport(answer)
    async with AsyncTrunkingClient(*CREDENTIALS, transport=transport, rate_limit=None) as client:
        await client.phone_numbers.list("tr1")
        await client.phone_numbers.list("tr1")
    assert cookies == [None, None]


@pytest.mark.anyio
async def test_a_body_whose_encoding_cannot_be_decoded_is_a_response_decode_error() -> None:
    async def garbage() -> AsyncIterator[bytes]:
        yield b"not gzip at all"

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=garbage(), headers={"content-encoding": "gzip"})

    transport = httpx2.MockTransport(answer)
    async with AsyncTrunkingClient(*CREDENTIALS, transport=transport, rate_limit=None) as client:
        with pytest.raises(ResponseDecodeError, match="could not be decoded") as caught:
            await client.phone_numbers.list("tr1")
    assert caught.value.status_code == 200


def test_with_options_keeps_the_attempt_timeout_or_raises_it_for_a_longer_read_timeout() -> None:
    client = AsyncTrunkingClient(*CREDENTIALS, attempt_timeout=20)
    assert client.with_options(max_retries=0)._requester.attempt_timeout == 20
    longer = client.with_options(timeout=50)._requester
    assert longer.attempt_timeout == 100
    assert longer.timeout.read == 50
    given = client.with_options(timeout=50, attempt_timeout=5)._requester
    assert given.attempt_timeout == 5
    off = AsyncTrunkingClient(*CREDENTIALS, attempt_timeout=None)
    assert off.with_options(timeout=50)._requester.attempt_timeout is None


@pytest.mark.anyio
async def test_a_next_page_on_a_host_that_only_starts_like_the_apis_is_refused() -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        body = _envelope(None)
        body["response"] = [{"code": 200, "status": "success", "data": {"phone_number": "+1"}}]
        body["metadata"] = {
            "next_page_uri": "https://api.in.exotel.co/v2/accounts/acme/trunks/tr1/phone-numbers"
        }
        return httpx2.Response(200, json=body)

    transport = httpx2.MockTransport(answer)
    async with AsyncTrunkingClient(*CREDENTIALS, transport=transport, rate_limit=None) as client:
        with pytest.raises(ResponseDecodeError, match="another host"):
            await client.phone_numbers.list("tr1")
