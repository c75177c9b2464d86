"""What every list call does with pages: follow ``next_page_uri``, safely, to the end."""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx

from exotel_trunking import NotFoundError, PhoneNumber, ResponseDecodeError
from exotel_trunking._transport._envelope import decode
from exotel_trunking._transport._pagination import ListIterator

from .. import wire

pytestmark = pytest.mark.asyncio

PATH = f"trunks/{wire.TRUNK_SID}/phone-numbers"


def live_page(index: int, next_page_uri: str | None) -> dict[str, Any]:
    record = wire.phone_number_record("live", index, phone_number=f"+91987654321{index}")
    return wire.per_item(
        "live",
        [wire.item_ok("live", record)],
        method="GET",
        metadata={"page_size": 1, "next_page_uri": next_page_uri},
    )


async def test_an_absolute_next_page_uri_on_the_same_host_is_followed(
    exotel: respx.MockRouter,
) -> None:
    absolute = wire.BASE_URL + wire.page_uri(PATH, 1, 1)
    route = exotel.get(f"/{PATH}").mock(
        side_effect=wire.responses([live_page(0, absolute), live_page(1, None)])
    )

    async with wire.make_client(exotel) as client:
        listed = await client.phone_numbers.list(wire.TRUNK_SID)

    assert [number.id for number in listed] == ["41512", "41513"]
    wire.assert_request(
        route.calls[1].request, "GET", PATH, query=[("offset", "1"), ("page_size", "1")]
    )


async def test_a_repeated_next_page_uri_raises_instead_of_looping_forever(
    exotel: respx.MockRouter,
) -> None:
    uri = wire.page_uri(PATH, 1, 1)
    route = exotel.get(f"/{PATH}").mock(
        side_effect=wire.responses([live_page(0, uri), live_page(1, uri)])
    )

    async with wire.make_client(exotel) as client:
        with pytest.raises(ResponseDecodeError, match="next_page_uri"):
            await client.phone_numbers.list(wire.TRUNK_SID)

    assert route.call_count == 2


@pytest.mark.parametrize(
    "next_page_uri",
    [
        pytest.param("https://evil.example.net" + wire.page_uri(PATH, 1, 1), id="other-host"),
        pytest.param("http://api.in.exotel.com" + wire.page_uri(PATH, 1, 1), id="plain-http"),
        pytest.param(
            "/v2/accounts/someone_else/trunks/x/phone-numbers?offset=1", id="other-account"
        ),
    ],
)
async def test_a_next_page_uri_off_the_account_is_refused_and_never_requested(
    exotel: respx.MockRouter, next_page_uri: str
) -> None:
    # Only the first page is routed: a request to the other place would be unrouted and raise
    # the router's AllMockedAssertionError instead of the ResponseDecodeError expected here.
    route = exotel.get(f"/{PATH}").respond(200, json=live_page(0, next_page_uri))

    async with wire.make_client(exotel) as client:
        with pytest.raises(ResponseDecodeError, match="refusing to follow next_page_uri"):
            await client.phone_numbers.list(wire.TRUNK_SID)

    assert route.call_count == 1  # the credentials never went to the other place


async def test_a_failed_item_on_a_page_raises_its_error(exotel: respx.MockRouter) -> None:
    body = wire.per_item(
        "live",
        [
            wire.item_ok("live", wire.phone_number_record("live")),
            wire.item_failed("live", 404, 1003, "Resource not found"),
        ],
        method="GET",
    )
    exotel.get(f"/{PATH}").respond(200, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(NotFoundError):
            await client.phone_numbers.list(wire.TRUNK_SID)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"id": "1"}, id="object"),
        pytest.param("none", id="string"),
        pytest.param([{"id": "1"}, "x"], id="list-with-a-non-object"),
    ],
)
async def test_a_reference_list_whose_data_is_not_a_list_of_records_raises(
    exotel: respx.MockRouter, data: object
) -> None:
    exotel.get(f"/{PATH}").respond(200, json=wire.single("reference", data))

    async with wire.make_client(exotel) as client:
        with pytest.raises(ResponseDecodeError):
            await client.phone_numbers.list(wire.TRUNK_SID)


async def test_a_reference_list_with_data_null_is_empty(exotel: respx.MockRouter) -> None:
    exotel.get(f"/{PATH}").respond(200, json=wire.single("reference", None))

    async with wire.make_client(exotel) as client:
        assert await client.phone_numbers.list(wire.TRUNK_SID) == []


async def test_ten_live_pages_come_back_as_one_list_in_order(exotel: respx.MockRouter) -> None:
    pages = [
        live_page(index, wire.page_uri(PATH, index + 1, 1) if index < 9 else None)
        for index in range(10)
    ]
    route = exotel.get(f"/{PATH}").mock(side_effect=wire.responses(pages))

    async with wire.make_client(exotel) as client:
        listed = await client.phone_numbers.list(wire.TRUNK_SID)

    assert route.call_count == 10
    assert all(isinstance(number, PhoneNumber) for number in listed)
    assert [number.phone_number for number in listed] == [
        f"+91987654321{index}" for index in range(10)
    ]


async def test_a_first_page_can_be_handed_in_only_before_any_page_was_fetched(
    exotel: respx.MockRouter,
) -> None:
    pages = [live_page(0, wire.page_uri(PATH, 1, 1)), live_page(1, None)]
    exotel.get(f"/{PATH}").mock(side_effect=wire.responses(pages))

    async with wire.make_client(exotel) as client:
        iterator = client.phone_numbers.iter(wire.TRUNK_SID)
        assert isinstance(iterator, ListIterator)
        first = await iterator.__anext__()
        again = decode(200, json.dumps(pages[0]).encode())
        with pytest.raises(RuntimeError, match="before any is fetched"):
            iterator.begin_with(again)
        rest = [number async for number in iterator]

    assert [number.phone_number for number in [first, *rest]] == ["+919876543210", "+919876543211"]
