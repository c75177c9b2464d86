"""``client.destination_uris``: Add Destination URI and Get Destination URIs, in both dialects."""

from __future__ import annotations

import pytest
import respx

from exotel_trunking import (
    APIStatusError,
    BadRequestError,
    DestinationUri,
    ExotelError,
    PartialFailureError,
)

from .. import wire

pytestmark = pytest.mark.asyncio

PATH = f"trunks/{wire.TRUNK_SID}/destination-uris"
IP_DESTINATION = "203.0.113.50:5061;transport=tls"
FQDN_DESTINATION = "sip.example.com:5060;transport=tcp"


def expected_uri(dialect: wire.Dialect, index: int, destination: str) -> DestinationUri:
    live = dialect == "live"
    return DestinationUri(
        id=wire.record_id(dialect, "du", index),
        destination=destination,
        trunk_sid=wire.TRUNK_SID,
        date_created=wire.DATETIMES[dialect],
        type="ip" if live else None,
        priority=1 if live else None,
        weight=10 if live else None,
    )


def not_whitelisted(dialect: wire.Dialect) -> dict[str, object]:
    return wire.item_failed(dialect, 400, 1002, "Invalid parameter", "Destination not whitelisted")


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_add_posts_every_destination_without_sip_prefix_and_decodes_them_in_order(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    records = [
        wire.destination_uri_record(dialect, 0, destination=f"sip:{IP_DESTINATION}"),
        wire.destination_uri_record(dialect, 1, destination=f"sip:{FQDN_DESTINATION}"),
    ]
    metadata = {"total": 2, "success": 2, "failed": 0} if dialect == "live" else None
    body = wire.per_item(
        dialect, [wire.item_ok(dialect, record) for record in records], metadata=metadata
    )
    route = exotel.post(f"/{PATH}").respond(200, json=body)

    async with wire.make_client(exotel) as client:
        added = await client.destination_uris.add(
            wire.TRUNK_SID, [f"sip:{IP_DESTINATION}", FQDN_DESTINATION]
        )

    assert route.call_count == 1
    wire.assert_request(
        route.calls.last.request,
        "POST",
        PATH,
        body={"destinations": [{"destination": IP_DESTINATION}, {"destination": FQDN_DESTINATION}]},
    )
    assert added == [
        expected_uri(dialect, 0, f"sip:{IP_DESTINATION}"),
        expected_uri(dialect, 1, f"sip:{FQDN_DESTINATION}"),
    ]


async def test_add_accepts_one_destination_as_a_plain_string(exotel: respx.MockRouter) -> None:
    record = wire.destination_uri_record("reference", destination=f"sip:{FQDN_DESTINATION}")
    route = exotel.post(f"/{PATH}").respond(
        200, json=wire.per_item("reference", [wire.item_ok("reference", record)])
    )

    async with wire.make_client(exotel) as client:
        added = await client.destination_uris.add(
            wire.TRUNK_SID, "SIP:Sip.Example.COM:5060;transport=TCP"
        )

    wire.assert_request(
        route.calls.last.request,
        "POST",
        PATH,
        body={"destinations": [{"destination": FQDN_DESTINATION}]},
    )
    assert [uri.destination for uri in added] == [f"sip:{FQDN_DESTINATION}"]


async def test_add_207_with_a_failed_item_raises_partial_failure_error_with_both_halves(
    exotel: respx.MockRouter,
) -> None:
    record = wire.destination_uri_record("live", destination=f"sip:{FQDN_DESTINATION}")
    body = wire.per_item(
        "live",
        [wire.item_ok("live", record), not_whitelisted("live")],
        http_code=207,
        metadata={"total": 2, "success": 1, "failed": 1},
    )
    route = exotel.post(f"/{PATH}").respond(207, json=body)

    async with wire.make_client(exotel, max_retries=3) as client:
        with pytest.raises(PartialFailureError) as caught:
            await client.destination_uris.add(wire.TRUNK_SID, [FQDN_DESTINATION, IP_DESTINATION])

    assert route.call_count == 1
    error = caught.value
    assert isinstance(error, ExotelError)
    assert error.succeeded == [expected_uri("live", 0, f"sip:{FQDN_DESTINATION}")]
    [(item, item_error)] = error.failed
    assert item == IP_DESTINATION
    assert isinstance(item_error, BadRequestError)
    assert item_error.status_code == 400
    assert item_error.error_code == 1002
    assert item_error.message == "Invalid parameter"
    assert item_error.description == "Destination not whitelisted"
    assert error.request_id == wire.REQUEST_IDS["live"]
    assert str(error) == f"1 of 2 items failed: {IP_DESTINATION!r}: Destination not whitelisted"


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_add_where_every_item_failed_raises_partial_failure_error_with_nothing_succeeded(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    body = wire.per_item(dialect, [not_whitelisted(dialect)], http_code=207)
    exotel.post(f"/{PATH}").respond(207, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(PartialFailureError) as caught:
            await client.destination_uris.add(wire.TRUNK_SID, IP_DESTINATION)

    assert caught.value.succeeded == []
    assert [item for item, _ in caught.value.failed] == [IP_DESTINATION]
    assert all(isinstance(error, APIStatusError) for _, error in caught.value.failed)


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_list_returns_every_destination_of_every_page(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    destinations = [f"sip:203.0.113.{index}:5061;transport=tls" for index in range(1, 6)]
    records = [
        wire.destination_uri_record(dialect, index, destination=destination)
        for index, destination in enumerate(destinations)
    ]
    pages = wire.list_pages(dialect, records, path=PATH, page_size=2)
    route = exotel.get(f"/{PATH}").mock(side_effect=wire.responses(pages))

    async with wire.make_client(exotel) as client:
        listed = await client.destination_uris.list(wire.TRUNK_SID)

    assert listed == [
        expected_uri(dialect, index, destination) for index, destination in enumerate(destinations)
    ]
    assert route.call_count == len(pages)
    assert len(pages) == (3 if dialect == "live" else 1)
    wire.assert_request(route.calls[0].request, "GET", PATH)
