"""Removing and changing numbers, whitelisted IPs, destinations and settings, on the wire.

The SDK finds each record's id in the trunk's listing, then sends ``DELETE ...?id=`` or
``PUT .../{id}``. All but the number's PUT are known only from Exotel's Postman collection,
so their answers are read when they hold the record and otherwise not needed.
"""

from __future__ import annotations

from typing import Any

import pytest
import respx

from exotel_trunking import (
    DestinationUri,
    InvalidParameterError,
    NotFoundError,
    PhoneNumber,
    TrunkSetting,
    WhitelistedIp,
)

from .. import wire

pytestmark = pytest.mark.asyncio

NUMBERS = f"trunks/{wire.TRUNK_SID}/phone-numbers"
IPS = f"trunks/{wire.TRUNK_SID}/whitelisted-ips"
DESTINATIONS = f"trunks/{wire.TRUNK_SID}/destination-uris"
SETTINGS = f"trunks/{wire.TRUNK_SID}/settings"


def listing(*records: dict[str, Any]) -> dict[str, Any]:
    return wire.per_item("live", [wire.item_ok("live", r) for r in records], method="GET")


#: What an undocumented answer may hold instead of the record.
NO_RECORD = [
    pytest.param(wire.single("live", None, method="DELETE"), id="data-null"),
    pytest.param(wire.single("live", {}, method="DELETE"), id="data-empty"),
    pytest.param(wire.single("live", {"deleted": True}, method="DELETE"), id="other-shape"),
    pytest.param(wire.per_item("live", [], method="DELETE"), id="empty-list"),
]


# -- phone numbers --------------------------------------------------------------------------


async def test_remove_number_finds_its_id_and_deletes_by_query_id(
    exotel: respx.MockRouter,
) -> None:
    records = [
        wire.phone_number_record("live", i, phone_number=f"+91987654321{i}") for i in range(3)
    ]
    pages = wire.list_pages("live", records, path=NUMBERS, page_size=2)
    read = exotel.get(f"/{NUMBERS}").mock(side_effect=wire.responses(pages))
    route = exotel.delete(f"/{NUMBERS}").respond(
        200, json=wire.single("live", records[2], method="DELETE")
    )

    async with wire.make_client(exotel) as client:
        removed = await client.phone_numbers.remove(wire.TRUNK_SID, "+91 98765 43212")

    assert read.call_count == 2
    wire.assert_request(route.calls.last.request, "DELETE", NUMBERS, query=[("id", "41514")])
    assert removed.phone_number == "+919876543212"
    assert removed.id == "41514"


async def test_a_mapped_number_too_short_for_its_country_can_still_be_removed_and_updated(
    exotel: respx.MockRouter,
) -> None:
    # Mapped before the SDK checked lengths (the dashboard, an older SDK): map would refuse it,
    # but naming it to take it off the trunk must work.
    odd = "+4420123"
    record = wire.phone_number_record("live", phone_number=odd)
    exotel.get(f"/{NUMBERS}").respond(200, json=listing(record))
    removed = exotel.delete(f"/{NUMBERS}").respond(200, json=wire.single("live", record))
    answer = wire.single("live", record)
    updated = exotel.put(f"/{NUMBERS}/{record['id']}").respond(200, json=answer)

    async with wire.make_client(exotel) as client:
        with pytest.raises(InvalidParameterError, match=r"too short .* for GB"):
            await client.phone_numbers.map(wire.TRUNK_SID, odd)
        await client.phone_numbers.update(wire.TRUNK_SID, odd, mode="flow")
        await client.phone_numbers.remove(wire.TRUNK_SID, odd)

    assert (updated.call_count, removed.call_count) == (1, 1)
    wire.assert_request(removed.calls.last.request, "DELETE", NUMBERS, query=[("id", record["id"])])


@pytest.mark.parametrize("answer", NO_RECORD)
async def test_remove_number_whose_answer_holds_no_record_returns_the_listed_one(
    exotel: respx.MockRouter, answer: dict[str, Any]
) -> None:
    exotel.get(f"/{NUMBERS}").respond(200, json=listing(wire.phone_number_record("live")))
    exotel.delete(f"/{NUMBERS}").respond(200, json=answer)

    async with wire.make_client(exotel) as client:
        removed = await client.phone_numbers.remove(wire.TRUNK_SID, "+919876543210")

    assert removed == PhoneNumber(
        id="41512",
        phone_number="+919876543210",
        trunk_sid=wire.TRUNK_SID,
        date_created=wire.DATETIMES["live"],
        mode="flow",
        date_updated=wire.DATETIMES["live"],
    )


async def test_remove_of_a_number_not_on_the_trunk_raises_not_found_and_sends_no_delete(
    exotel: respx.MockRouter,
) -> None:
    exotel.get(f"/{NUMBERS}").respond(200, json=listing(wire.phone_number_record("live")))

    async with wire.make_client(exotel) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.phone_numbers.remove(wire.TRUNK_SID, "+919876543219")

    assert f"+919876543219 is not on trunk {wire.TRUNK_SID}" in str(caught.value)
    assert caught.value.error_code is None  # the SDK's finding, not the API's


async def test_update_number_puts_number_and_mode_at_its_id(exotel: respx.MockRouter) -> None:
    exotel.get(f"/{NUMBERS}").respond(200, json=listing(wire.phone_number_record("live")))
    changed = {**wire.phone_number_record("live"), "mode": "pstn"}
    route = exotel.put(f"/{NUMBERS}/41512").respond(
        200, json=wire.single("live", changed, method="PUT")
    )

    async with wire.make_client(exotel) as client:
        updated = await client.phone_numbers.update(wire.TRUNK_SID, "+919876543210", mode="pstn")

    wire.assert_request(
        route.calls.last.request,
        "PUT",
        f"{NUMBERS}/41512",
        body={"phone_number": "+919876543210", "mode": "pstn"},
    )
    assert updated.mode == "pstn"


# -- whitelisted IPs ------------------------------------------------------------------------


async def test_remove_ip_by_cidr_finds_the_entry_with_that_mask(exotel: respx.MockRouter) -> None:
    records = [
        wire.whitelisted_ip_record("live", 0, ip="203.0.113.0", mask=32),
        wire.whitelisted_ip_record("live", 1, ip="203.0.113.0", mask=24),
    ]
    exotel.get(f"/{IPS}").respond(200, json=listing(*records))
    route = exotel.delete(f"/{IPS}").respond(
        200, json=wire.single("live", records[1], method="DELETE")
    )

    async with wire.make_client(exotel) as client:
        removed = await client.whitelisted_ips.remove(wire.TRUNK_SID, "203.0.113.0/24")

    wire.assert_request(route.calls.last.request, "DELETE", IPS, query=[("id", "41513")])
    assert removed.cidr == "203.0.113.0/24"


async def test_remove_ip_accepts_a_private_address_the_service_took(
    exotel: respx.MockRouter,
) -> None:
    record = wire.whitelisted_ip_record("live", ip="192.168.1.1")
    exotel.get(f"/{IPS}").respond(200, json=listing(record))
    exotel.delete(f"/{IPS}").respond(200, json=wire.single("live", None, method="DELETE"))

    async with wire.make_client(exotel) as client:
        removed = await client.whitelisted_ips.remove(wire.TRUNK_SID, "192.168.1.1")

    assert removed.ip == "192.168.1.1"


async def test_remove_ip_names_the_entry_with_another_mask_when_there_is_one(
    exotel: respx.MockRouter,
) -> None:
    record = wire.whitelisted_ip_record("live", ip="203.0.113.0", mask=24)
    exotel.get(f"/{IPS}").respond(200, json=listing(record))

    async with wire.make_client(exotel) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.whitelisted_ips.remove(wire.TRUNK_SID, "203.0.113.0")

    assert "203.0.113.0/32 is not on trunk" in str(caught.value)
    assert "it has 203.0.113.0/24" in str(caught.value)


async def test_update_ip_puts_the_new_address_and_mask_at_the_entrys_id(
    exotel: respx.MockRouter,
) -> None:
    exotel.get(f"/{IPS}").respond(200, json=listing(wire.whitelisted_ip_record("live")))
    new = wire.whitelisted_ip_record("live", ip="198.51.100.0", mask=28)
    route = exotel.put(f"/{IPS}/41512").respond(200, json=wire.single("live", new, method="PUT"))

    async with wire.make_client(exotel) as client:
        updated = await client.whitelisted_ips.update(
            wire.TRUNK_SID, "203.0.113.50", "198.51.100.0/28"
        )

    wire.assert_request(
        route.calls.last.request, "PUT", f"{IPS}/41512", body={"ip": "198.51.100.0", "mask": 28}
    )
    assert updated.cidr == "198.51.100.0/28"


async def test_update_ip_whose_answer_holds_no_entry_reads_it_back(
    exotel: respx.MockRouter,
) -> None:
    new = wire.whitelisted_ip_record("live", ip="198.51.100.0", mask=28)
    read = exotel.get(f"/{IPS}").mock(
        side_effect=wire.responses([listing(wire.whitelisted_ip_record("live")), listing(new)])
    )
    exotel.put(f"/{IPS}/41512").respond(200, json=wire.single("live", None, method="PUT"))

    async with wire.make_client(exotel) as client:
        updated = await client.whitelisted_ips.update(
            wire.TRUNK_SID, "203.0.113.50", "198.51.100.0/28"
        )

    assert read.call_count == 2
    assert updated == WhitelistedIp(
        id="41512",
        ip="198.51.100.0",
        mask=28,
        trunk_sid=wire.TRUNK_SID,
        date_created=wire.DATETIMES["live"],
        friendly_name="sbc-0",
    )


# -- destinations ---------------------------------------------------------------------------


async def test_remove_destination_matches_with_or_without_sip_and_in_any_case(
    exotel: respx.MockRouter,
) -> None:
    records = [
        wire.destination_uri_record("live", 0),
        wire.destination_uri_record("live", 1, destination="sip:pbx.example.com:5060"),
    ]
    exotel.get(f"/{DESTINATIONS}").respond(200, json=listing(*records))
    route = exotel.delete(f"/{DESTINATIONS}").respond(
        200, json=wire.single("live", None, method="DELETE")
    )

    async with wire.make_client(exotel) as client:
        removed = await client.destination_uris.remove(wire.TRUNK_SID, "PBX.example.com:5060")

    wire.assert_request(route.calls.last.request, "DELETE", DESTINATIONS, query=[("id", "41513")])
    assert removed == DestinationUri(
        id="41513",
        destination="sip:pbx.example.com:5060",
        trunk_sid=wire.TRUNK_SID,
        date_created=wire.DATETIMES["live"],
        type="ip",
        priority=1,
        weight=10,
    )


async def test_update_destination_puts_only_priority_and_weight_given(
    exotel: respx.MockRouter,
) -> None:
    record = wire.destination_uri_record("live")
    exotel.get(f"/{DESTINATIONS}").respond(200, json=listing(record))
    route = exotel.put(f"/{DESTINATIONS}/41512").respond(
        200, json=wire.single("live", {**record, "weight": 5}, method="PUT")
    )

    async with wire.make_client(exotel) as client:
        updated = await client.destination_uris.update(
            wire.TRUNK_SID, "203.0.113.50:5061;transport=tls", weight=5
        )

    wire.assert_request(
        route.calls.last.request, "PUT", f"{DESTINATIONS}/41512", body={"weight": 5}
    )
    assert updated.weight == 5


# -- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_settings_list_reads_both_list_shapes(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    pages = wire.list_pages(dialect, [wire.setting_record(dialect)], path=SETTINGS)
    route = exotel.get(f"/{SETTINGS}").mock(side_effect=wire.responses(pages))

    async with wire.make_client(exotel) as client:
        listed = await client.settings.list(wire.TRUNK_SID)

    wire.assert_request(route.calls.last.request, "GET", SETTINGS)
    assert listed == [
        TrunkSetting(
            name="trunk_external_alias",
            value="+919876543210",
            trunk_sid=wire.TRUNK_SID,
            date_created=wire.DATETIMES[dialect],
        )
    ]


async def test_settings_delete_sends_the_name_in_the_query(exotel: respx.MockRouter) -> None:
    route = exotel.delete(f"/{SETTINGS}").respond(
        200, json=wire.single("live", None, method="DELETE")
    )

    async with wire.make_client(exotel) as client:
        assert await client.settings.delete(wire.TRUNK_SID, "trunk_external_alias") is None  # type: ignore[func-returns-value]

    wire.assert_request(
        route.calls.last.request, "DELETE", SETTINGS, query=[("name", "trunk_external_alias")]
    )
