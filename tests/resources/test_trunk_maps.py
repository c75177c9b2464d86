"""``client.trunk_maps.lookup``: which trunk holds a number; its answer is undocumented, so
every plausible shape is read."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from exotel_trunking import NotFoundError, ResponseDecodeError, TrunkMap

from .. import wire

pytestmark = pytest.mark.asyncio

NUMBER = "+919876543210"
HOLDER = "trmum15f77c83605998cdb9d1a1n"


def mapping(**fields: Any) -> dict[str, Any]:
    record = {
        "id": "41512",
        "phone_number": NUMBER,
        "trunk_sid": HOLDER,
        "mode": "flow",
        "date_created": wire.TIMESTAMPS["live"],
        "date_updated": wire.TIMESTAMPS["live"],
    }
    record.update(fields)
    return {key: value for key, value in record.items() if value is not None}


FULL = TrunkMap(
    phone_number=NUMBER,
    trunk_sid=HOLDER,
    id="41512",
    mode="flow",
    date_created=wire.DATETIMES["live"],
    date_updated=wire.DATETIMES["live"],
)


async def test_lookup_asks_the_account_level_trunk_maps_by_exophone(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.get("/trunk-maps").respond(
        200, json=wire.per_item("live", [wire.item_ok("live", mapping())], method="GET")
    )

    async with wire.make_client(exotel) as client:
        found = await client.trunk_maps.lookup("+91 98765-43210")

    wire.assert_request(route.calls.last.request, "GET", "trunk-maps", query=[("exophone", NUMBER)])
    assert route.calls.last.request.url.query == b"exophone=%2B919876543210"
    assert found == FULL


@pytest.mark.parametrize(
    ("body", "found"),
    [
        pytest.param(wire.single("live", mapping()), FULL, id="single-envelope"),
        pytest.param(wire.single("reference", [mapping()]), FULL, id="data-array"),
        pytest.param(
            wire.single("live", {"exophone": NUMBER, "trunk_sid": HOLDER}),
            TrunkMap(phone_number=NUMBER, trunk_sid=HOLDER),
            id="named-exophone-and-nothing-else",
        ),
        pytest.param(
            wire.single("live", {"trunk_sid": HOLDER}),
            TrunkMap(phone_number=NUMBER, trunk_sid=HOLDER),
            id="number-not-named",
        ),
        pytest.param(
            wire.single("live", mapping(phone_number="09876543210")),
            FULL,
            id="national-form",
        ),
        pytest.param(wire.per_item("live", [], method="GET"), None, id="empty-list"),
        pytest.param(wire.single("live", None), None, id="data-null"),
        pytest.param(wire.single("live", []), None, id="data-empty-array"),
        pytest.param(
            wire.single("live", [mapping(phone_number="+919800000001")]),
            None,
            id="only-another-numbers-mapping",
        ),
    ],
)
async def test_lookup_reads_every_plausible_answer(
    exotel: respx.MockRouter, body: dict[str, Any], found: TrunkMap | None
) -> None:
    exotel.get("/trunk-maps").respond(200, json=body)

    async with wire.make_client(exotel) as client:
        assert await client.trunk_maps.lookup(NUMBER) == found


async def test_lookup_picks_the_asked_numbers_mapping_out_of_several(
    exotel: respx.MockRouter,
) -> None:
    other = mapping(phone_number="+919800000001", trunk_sid="trmumother")
    exotel.get("/trunk-maps").respond(200, json=wire.single("live", [other, mapping()]))

    async with wire.make_client(exotel) as client:
        assert await client.trunk_maps.lookup(NUMBER) == FULL


async def test_a_mapping_without_a_trunk_sid_is_a_decode_error(exotel: respx.MockRouter) -> None:
    exotel.get("/trunk-maps").respond(200, json=wire.single("live", {"phone_number": NUMBER}))

    async with wire.make_client(exotel) as client:
        with pytest.raises(ResponseDecodeError, match="trunk_sid"):
            await client.trunk_maps.lookup(NUMBER)


async def test_the_reference_dialects_404_is_raised_not_read_as_unmapped(
    exotel: respx.MockRouter,
) -> None:
    body = wire.failure("reference", 404, 1003, "Resource not found", method="GET")
    exotel.get("/trunk-maps").respond(404, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(NotFoundError):
            await client.trunk_maps.lookup(NUMBER)
