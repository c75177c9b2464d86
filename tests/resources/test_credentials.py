"""``client.credentials``: Get Credentials, in both dialects, including "none yet"."""

from __future__ import annotations

import pytest
import respx

from exotel_trunking import Credentials, NotFoundError

from .. import wire

pytestmark = pytest.mark.asyncio

PATH = f"trunks/{wire.TRUNK_SID}/credentials"


@pytest.mark.parametrize(
    ("dialect", "shape"),
    [
        pytest.param("reference", "single", id="reference"),
        pytest.param("live", "single", id="live-single-envelope"),
        pytest.param("live", "per-item", id="live-list-of-one"),
    ],
)
async def test_get_returns_the_username_and_the_real_password(
    exotel: respx.MockRouter, dialect: wire.Dialect, shape: str
) -> None:
    record = wire.credentials_record(dialect)
    body = (
        wire.single(dialect, record)
        if shape == "single"
        else wire.per_item(dialect, [wire.item_ok(dialect, record)], method="GET")
    )
    route = exotel.get(f"/{PATH}").respond(200, json=body)

    async with wire.make_client(exotel) as client:
        credentials = await client.credentials.get(wire.TRUNK_SID)

    assert route.call_count == 1
    wire.assert_request(route.calls.last.request, "GET", PATH)
    assert credentials == Credentials(username=wire.TRUNK_SID, password=wire.SIP_PASSWORD)
    assert credentials is not None
    assert credentials.password == wire.SIP_PASSWORD


async def test_get_returns_none_when_the_live_service_answers_an_empty_list(
    exotel: respx.MockRouter,
) -> None:
    exotel.get(f"/{PATH}").respond(200, json=wire.per_item("live", [], method="GET"))

    async with wire.make_client(exotel) as client:
        assert await client.credentials.get(wire.TRUNK_SID) is None


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_get_for_an_unknown_trunk_raises_not_found_error(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    body = wire.failure(dialect, 404, 1003, "Resource not found", method="GET")
    exotel.get("/trunks/tr_gone/credentials").respond(404, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.credentials.get("tr_gone")

    assert caught.value.error_code == 1003


async def test_get_raises_the_error_of_a_failed_live_item(exotel: respx.MockRouter) -> None:
    failed = wire.item_failed("live", 404, 1003, "Resource not found", "No credentials")
    exotel.get(f"/{PATH}").respond(200, json=wire.per_item("live", [failed], method="GET"))

    async with wire.make_client(exotel) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.credentials.get(wire.TRUNK_SID)

    assert caught.value.description == "No credentials"
    assert caught.value.request_id == wire.REQUEST_IDS["live"]
