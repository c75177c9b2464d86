"""``client.whitelisted_ips``: Whitelist IP Address and Get Whitelisted IPs, in both dialects."""

from __future__ import annotations

import pytest
import respx

from exotel_trunking import ConflictError, WhitelistedIp

from .. import wire

pytestmark = pytest.mark.asyncio

PATH = f"trunks/{wire.TRUNK_SID}/whitelisted-ips"


def expected_entry(
    dialect: wire.Dialect, index: int = 0, ip: str = "203.0.113.50", mask: int = 32
) -> WhitelistedIp:
    return WhitelistedIp(
        id=wire.record_id(dialect, "wl", index),
        ip=ip,
        mask=mask,
        trunk_sid=wire.TRUNK_SID,
        date_created=wire.DATETIMES[dialect],
        friendly_name=f"sbc-{index}" if dialect == "live" else None,
    )


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_add_of_a_plain_address_sends_mask_32_and_decodes_the_entry(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    route = exotel.post(f"/{PATH}").respond(
        200, json=wire.single(dialect, wire.whitelisted_ip_record(dialect), method="POST")
    )

    async with wire.make_client(exotel) as client:
        entry = await client.whitelisted_ips.add(wire.TRUNK_SID, "203.0.113.50")

    assert route.call_count == 1
    wire.assert_request(
        route.calls.last.request, "POST", PATH, body={"ip": "203.0.113.50", "mask": 32}
    )
    assert entry == expected_entry(dialect)
    assert entry.cidr == "203.0.113.50/32"


@pytest.mark.parametrize(
    ("ip", "mask", "body"),
    [
        pytest.param("203.0.113.0", 24, {"ip": "203.0.113.0", "mask": 24}, id="mask-argument"),
        pytest.param("203.0.113.0/24", None, {"ip": "203.0.113.0", "mask": 24}, id="cidr"),
        pytest.param("203.0.113.0/24", 24, {"ip": "203.0.113.0", "mask": 24}, id="cidr-same-mask"),
        pytest.param("198.51.100.0/30", None, {"ip": "198.51.100.0", "mask": 30}, id="cidr-30"),
        pytest.param("8.8.0.0/16", None, {"ip": "8.8.0.0", "mask": 16}, id="cidr-16"),
        pytest.param(" 192.0.2.7 ", None, {"ip": "192.0.2.7", "mask": 32}, id="surrounding-space"),
    ],
)
async def test_add_sends_the_address_and_the_mask_it_carries(
    exotel: respx.MockRouter, ip: str, mask: int | None, body: dict[str, object]
) -> None:
    route = exotel.post(f"/{PATH}").respond(
        200, json=wire.single("reference", wire.whitelisted_ip_record("reference"))
    )

    async with wire.make_client(exotel) as client:
        await client.whitelisted_ips.add(wire.TRUNK_SID, ip, mask=mask)

    wire.assert_request(route.calls.last.request, "POST", PATH, body=body)


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_add_of_an_already_whitelisted_address_raises_conflict_error(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    status, body = wire.duplicate(dialect)
    route = exotel.post(f"/{PATH}").respond(status, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(ConflictError):
            await client.whitelisted_ips.add(wire.TRUNK_SID, "203.0.113.50")

    assert route.call_count == 1


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_list_returns_every_entry_of_every_page(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    ips = [f"203.0.113.{10 + index}" for index in range(6)]
    records = [wire.whitelisted_ip_record(dialect, index, ip=ip) for index, ip in enumerate(ips)]
    pages = wire.list_pages(dialect, records, path=PATH, page_size=2)
    route = exotel.get(f"/{PATH}").mock(side_effect=wire.responses(pages))

    async with wire.make_client(exotel) as client:
        listed = await client.whitelisted_ips.list(wire.TRUNK_SID)

    assert listed == [expected_entry(dialect, index, ip) for index, ip in enumerate(ips)]
    assert route.call_count == (3 if dialect == "live" else 1)
    for call in route.calls:
        assert call.request.headers["authorization"] == wire.BASIC_AUTH
    if dialect == "live":
        assert [dict(call.request.url.params) for call in route.calls] == [
            {},
            {"offset": "2", "page_size": "2"},
            {"offset": "4", "page_size": "2"},
        ]
