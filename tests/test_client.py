"""``AsyncTrunkingClient``: what goes on the wire, who owns the pool, redirects, and trio."""

from __future__ import annotations

import json

import anyio
import httpx
import httpx2
import pytest
import respx

from exotel_trunking import (
    APIConnectionError,
    AsyncTrunkingClient,
    ConflictError,
    ExotelError,
    InternalServerError,
    InvalidParameterError,
    RetryPolicy,
    Trunk,
    __version__,
)

from . import wire

TRUNK_BODY = wire.single("reference", wire.trunk_record("reference"), method="POST")


@pytest.fixture(autouse=True)
def no_exotel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEY", "API_TOKEN", "ACCOUNT_SID", "REGION", "BASE_URL"):
        monkeypatch.delenv(f"EXOTEL_{name}", raising=False)


def ok(body: object = None) -> httpx.Response:
    return httpx.Response(200, json=wire.single("reference", body))


class TrackedTransport(httpx2.AsyncBaseTransport):
    """A transport that hands every request to ``inner`` and counts how often it was closed."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.closed = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        self.closed += 1


# -- what every request carries ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_every_request_carries_basic_auth_user_agent_and_accept(
    exotel: respx.MockRouter,
) -> None:
    exotel.post("/trunks").respond(200, json=TRUNK_BODY)
    exotel.get(f"/trunks/{wire.TRUNK_SID}/phone-numbers").mock(return_value=ok([]))
    exotel.delete("/trunks").mock(return_value=ok(None))

    async with wire.make_client(exotel) as client:
        await client.trunks.create("my_trunk")
        await client.phone_numbers.list(wire.TRUNK_SID)
        await client.trunks.delete(wire.TRUNK_SID)

    requests = [call.request for call in exotel.calls]
    assert [request.method for request in requests] == ["POST", "GET", "DELETE"]
    for request in requests:
        assert request.headers["authorization"] == wire.BASIC_AUTH
        assert request.headers["accept"] == "application/json"
        assert request.headers["user-agent"].startswith(f"exotel-trunking/{__version__} ")
        assert request.url.userinfo == b""
        assert request.url.path.startswith(f"/v2/accounts/{wire.ACCOUNT_SID}/")


@pytest.mark.asyncio
async def test_only_requests_with_a_body_carry_content_type_json(
    exotel: respx.MockRouter,
) -> None:
    create = exotel.post("/trunks").respond(200, json=TRUNK_BODY)
    listing = exotel.get(f"/trunks/{wire.TRUNK_SID}/phone-numbers").mock(return_value=ok([]))

    async with wire.make_client(exotel) as client:
        await client.trunks.create("my_trunk")
        await client.phone_numbers.list(wire.TRUNK_SID)

    post, get = create.calls.last.request, listing.calls.last.request
    assert post.headers["content-type"] == "application/json"
    assert json.loads(post.content)["trunk_name"] == "my_trunk"
    assert "content-type" not in get.headers
    assert get.content == b""


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("region", "host"),
    [(None, "api.in.exotel.com"), ("in", "api.in.exotel.com"), ("sg", "api.exotel.com")],
)
async def test_requests_go_to_the_region_host_over_https(region: str | None, host: str) -> None:
    with wire.mock_exotel(f"https://{host}{wire.ACCOUNT_PATH}") as exotel:
        route = exotel.delete("/trunks").mock(return_value=ok(None))

        async with AsyncTrunkingClient(
            wire.API_KEY,
            wire.API_TOKEN,
            wire.ACCOUNT_SID,
            region=region,
            rate_limit=None,
            transport=wire.respx_transport(exotel),
        ) as client:
            await client.trunks.delete(wire.TRUNK_SID)

    (call,) = route.calls
    assert call.request.url.scheme == "https"
    assert call.request.url.host == host
    assert call.request.url.path == f"/v2/accounts/{wire.ACCOUNT_SID}/trunks"


@pytest.mark.asyncio
async def test_a_base_url_with_a_path_prefix_keeps_the_prefix() -> None:
    base_url = "http://127.0.0.1:4010/exotel/"
    with wire.mock_exotel(f"{base_url}v2/accounts/{wire.ACCOUNT_SID}") as exotel:
        route = exotel.delete("/trunks").mock(return_value=ok(None))

        async with wire.make_client(exotel, base_url=base_url) as client:
            await client.trunks.delete(wire.TRUNK_SID)

    assert str(route.calls.last.request.url) == (
        f"http://127.0.0.1:4010/exotel/v2/accounts/{wire.ACCOUNT_SID}/trunks"
        f"?trunk_sid={wire.TRUNK_SID}"
    )


def test_the_client_exposes_its_account_and_base_url() -> None:
    client = wire.make_client(wire.mock_exotel())

    assert client.account_sid == wire.ACCOUNT_SID
    assert client.base_url == wire.BASE_URL
    assert client.config.api_key == wire.API_KEY
    assert repr(client) == (
        f"AsyncTrunkingClient(account_sid={wire.ACCOUNT_SID!r}, base_url={wire.BASE_URL!r})"
    )


# -- redirects ---------------------------------------------------------------------------------
# Nothing answers for evil.example.net: a request there would be unrouted, and the router's
# AllMockedAssertionError (which the SDK does not catch) would fail the test.


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_raises_and_the_location_host_never_hears_from_the_client(
    exotel: respx.MockRouter, status: int
) -> None:
    exotel.post("/trunks").respond(status, headers={"Location": "https://evil.example.net/collect"})

    async with wire.make_client(exotel) as client:
        with pytest.raises(ExotelError) as caught:
            await client.trunks.create("my_trunk")

    assert [call.request.url.host for call in exotel.calls] == ["api.in.exotel.com"]
    assert getattr(caught.value, "status_code", None) == status


@pytest.mark.asyncio
async def test_a_redirect_is_not_followed_even_when_the_given_http_client_would_follow_it(
    exotel: respx.MockRouter,
) -> None:
    exotel.post("/trunks").respond(302, headers={"Location": "https://evil.example.net/collect"})
    own = httpx2.AsyncClient(transport=wire.respx_transport(exotel), follow_redirects=True)

    async with own, wire.make_client(http_client=own) as client:
        with pytest.raises(ExotelError):
            await client.trunks.create("my_trunk")

    assert [call.request.url.host for call in exotel.calls] == ["api.in.exotel.com"]


@pytest.mark.asyncio
async def test_a_given_http_client_applies_its_hooks_and_defaults_and_the_sdk_timeout(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.delete("/trunks").mock(return_value=ok(None))
    hooked: list[str] = []

    async def hook(request: httpx2.Request) -> None:
        hooked.append(str(request.url))

    own = httpx2.AsyncClient(
        transport=wire.respx_transport(exotel),
        headers={"X-Team": "voice", "User-Agent": "theirs"},
        event_hooks={"request": [hook]},
        timeout=99.0,
    )
    async with own, wire.make_client(http_client=own, timeout=7.0) as client:
        await client.trunks.delete(wire.TRUNK_SID)
        timeout = client.config.timeout.as_dict()

    (call,) = route.calls
    sent = call.request
    assert hooked == [str(sent.url)]
    assert sent.headers["x-team"] == "voice"  # the client's own default
    assert sent.headers["user-agent"].startswith("exotel-trunking/")  # the SDK's wins
    assert sent.extensions["timeout"] == timeout  # the SDK's, not the client's 99 s
    assert timeout["read"] == 7.0


@pytest.mark.asyncio
async def test_the_sdk_hands_its_requests_to_the_transport_with_its_timeout(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.delete("/trunks").mock(return_value=ok(None))

    async with wire.make_client(exotel, timeout=httpx2.Timeout(3.0, connect=1.5)) as client:
        await client.trunks.delete(wire.TRUNK_SID)

    (call,) = route.calls
    sent = call.request
    assert sent.extensions["timeout"] == client.config.timeout.as_dict()
    assert sent.extensions["timeout"]["connect"] == 1.5
    assert sent.extensions["timeout"]["read"] == 3.0


@pytest.mark.asyncio
async def test_a_call_after_the_user_closed_their_http_client_says_so_and_sends_nothing(
    exotel: respx.MockRouter,
) -> None:
    own = httpx2.AsyncClient(transport=wire.respx_transport(exotel))  # no route: sending fails
    client = wire.make_client(http_client=own)
    await own.aclose()

    with pytest.raises(APIConnectionError, match="the http_client given to the client has been"):
        await client.trunks.delete(wire.TRUNK_SID)


@pytest.mark.asyncio
async def test_a_call_after_aclose_with_a_given_http_client_says_so_and_leaves_it_open(
    exotel: respx.MockRouter,
) -> None:
    # Only the user's own request is routed: one by the SDK would fail the test.
    still_usable = exotel.get("https://example.org/still-usable").respond(200)
    own = httpx2.AsyncClient(transport=wire.respx_transport(exotel))
    client = wire.make_client(http_client=own)
    await client.aclose()

    with pytest.raises(APIConnectionError, match=r"stopped: the client has been closed$"):
        await client.trunks.delete(wire.TRUNK_SID)
    assert not own.is_closed  # the SDK's aclose() stops its own calls, not the user's client
    assert (await own.get("https://example.org/still-usable")).status_code == 200
    assert still_usable.call_count == 1
    await own.aclose()


# -- who owns the pool -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_given_http_client_is_used_with_the_sdk_headers_and_left_open(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.delete("/trunks").mock(return_value=ok(None))
    exotel.get("https://example.org/still-usable").respond(200)
    own = httpx2.AsyncClient(transport=wire.respx_transport(exotel))

    async with wire.make_client(http_client=own) as client:
        await client.trunks.delete(wire.TRUNK_SID)

    assert not own.is_closed
    response = await own.get("https://example.org/still-usable")
    assert response.status_code == 200
    await own.aclose()
    (call,) = route.calls
    assert call.request.headers["authorization"] == wire.BASIC_AUTH
    assert call.request.url.host == "api.in.exotel.com"


@pytest.mark.asyncio
async def test_leaving_async_with_closes_the_pool_the_sdk_created(
    exotel: respx.MockRouter,
) -> None:
    exotel.delete("/trunks").mock(return_value=ok(None))
    transport = TrackedTransport(wire.respx_transport(exotel))

    async with wire.make_client(transport=transport) as client:
        await client.trunks.delete(wire.TRUNK_SID)
        assert transport.closed == 0

    assert transport.closed == 1


@pytest.mark.asyncio
async def test_with_options_shares_the_pool_and_closing_it_leaves_the_pool_open(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.delete("/trunks").mock(return_value=ok(None))
    transport = TrackedTransport(wire.respx_transport(exotel))
    client = wire.make_client(transport=transport)

    derived = client.with_options(max_retries=2)
    await derived.trunks.delete(wire.TRUNK_SID)
    await derived.aclose()
    assert transport.closed == 0
    await client.trunks.delete(wire.TRUNK_SID)  # the original is unaffected
    await client.aclose()

    assert transport.closed == 1
    assert route.call_count == 2
    assert derived.account_sid == client.account_sid
    assert derived.config is client.config


@pytest.mark.asyncio
async def test_with_options_max_retries_applies_to_the_derived_client_only(
    exotel: respx.MockRouter,
) -> None:
    def unavailable() -> httpx.Response:
        return httpx.Response(503, json=wire.failure("live", 503, 1099, "Unavailable"))

    route = exotel.delete("/trunks").mock(side_effect=[unavailable(), ok(None), unavailable()])
    client = wire.make_client(exotel, retry=RetryPolicy(initial_delay=0.0), max_retries=1)

    await client.trunks.delete(wire.TRUNK_SID)  # 503, then retried to success
    with pytest.raises(InternalServerError):
        await client.with_options(max_retries=0).trunks.delete(wire.TRUNK_SID)
    await client.aclose()

    assert route.call_count == 3


@pytest.mark.asyncio
async def test_timeouts_default_to_30s_and_with_options_changes_them(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.delete("/trunks").mock(return_value=ok(None))
    client = wire.make_client(exotel)

    await client.trunks.delete(wire.TRUNK_SID)
    await client.with_options(timeout=5.0).trunks.delete(wire.TRUNK_SID)
    await client.aclose()

    default, changed = (call.request.extensions["timeout"] for call in route.calls)
    assert default == {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": None}
    assert changed["read"] == 5.0


# -- asyncio and trio --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_create_sends_the_request_and_decodes_the_trunk_on_every_backend(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.post("/trunks").respond(
        200, json=wire.single("live", wire.trunk_record("live"), method="POST")
    )

    async with wire.make_client(exotel) as client:
        trunk = await client.trunks.create("my_trunk")

    wire.assert_request(
        route.calls.last.request,
        "POST",
        "trunks",
        body={
            "trunk_name": "my_trunk",
            "nso_code": "ANY-ANY",
            "domain_name": "acme.pstn.exotel.com",
        },
    )
    assert isinstance(trunk, Trunk)
    assert trunk.date_created == wire.DATETIMES["live"]


@pytest.mark.anyio
async def test_a_live_list_follows_three_pages_on_every_backend(exotel: respx.MockRouter) -> None:
    path = f"trunks/{wire.TRUNK_SID}/whitelisted-ips"
    records = [wire.whitelisted_ip_record("live", index) for index in range(5)]
    route = exotel.get(f"/{path}").mock(
        side_effect=wire.responses(wire.list_pages("live", records, path=path))
    )

    async with wire.make_client(exotel) as client:
        listed = await client.whitelisted_ips.list(wire.TRUNK_SID)

    assert route.call_count == 3
    assert [entry.id for entry in listed] == ["41512", "41513", "41514", "41515", "41516"]


@pytest.mark.anyio
async def test_a_duplicate_under_http_200_raises_conflict_error_on_every_backend(
    exotel: respx.MockRouter,
) -> None:
    status, body = wire.duplicate("live")
    exotel.post(f"/trunks/{wire.TRUNK_SID}/phone-numbers").respond(status, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(ConflictError) as caught:
            await client.phone_numbers.map(wire.TRUNK_SID, "+919876543210")

    assert caught.value.error_code == 1008


@pytest.mark.anyio
async def test_an_html_502_raises_internal_server_error_on_every_backend(
    exotel: respx.MockRouter,
) -> None:
    exotel.get(f"/trunks/{wire.TRUNK_SID}/credentials").respond(
        502, text="<html><h1>502 Bad Gateway</h1></html>"
    )

    async with wire.make_client(exotel) as client:
        with pytest.raises(InternalServerError, match="502 Bad Gateway"):
            await client.credentials.get(wire.TRUNK_SID)


@pytest.mark.anyio
async def test_empty_live_credentials_are_none_on_every_backend(exotel: respx.MockRouter) -> None:
    exotel.get(f"/trunks/{wire.TRUNK_SID}/credentials").respond(
        200, json=wire.per_item("live", [], method="GET")
    )

    async with wire.make_client(exotel) as client:
        assert await client.credentials.get(wire.TRUNK_SID) is None


@pytest.mark.anyio
async def test_an_invalid_argument_sends_nothing_on_every_backend(exotel: respx.MockRouter) -> None:
    # No route: a request would raise the router's AllMockedAssertionError, not the
    # InvalidParameterError expected here.
    async with wire.make_client(exotel) as client:
        with pytest.raises(InvalidParameterError):
            await client.whitelisted_ips.add(wire.TRUNK_SID, "10.0.0.1")


@pytest.mark.anyio
async def test_one_client_serves_many_concurrent_tasks_on_every_backend(
    exotel: respx.MockRouter,
) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        number = json.loads(request.content)["phone_number"]
        record = wire.phone_number_record("live", phone_number=number)
        return httpx.Response(200, json=wire.single("live", record, method="POST"))

    route = exotel.post(f"/trunks/{wire.TRUNK_SID}/phone-numbers").mock(side_effect=echo)
    numbers = [f"+9198765{index:05d}" for index in range(40)]
    mapped: dict[str, str] = {}

    async with wire.make_client(exotel, max_connections=8) as client:

        async def map_one(number: str) -> None:
            mapped[number] = (await client.phone_numbers.map(wire.TRUNK_SID, number)).phone_number

        async with anyio.create_task_group() as group:
            for number in numbers:
                group.start_soon(map_one, number)

    assert mapped == {number: number for number in numbers}
    assert route.call_count == 40
