"""``client.phone_numbers``: Map Phone Number and Get Phone Numbers, in both dialects."""

from __future__ import annotations

import pytest
import respx

from exotel_trunking import ConflictError, NotFoundError, PhoneNumber

from .. import wire

pytestmark = pytest.mark.asyncio

PATH = f"trunks/{wire.TRUNK_SID}/phone-numbers"


def expected_number(
    dialect: wire.Dialect, index: int = 0, number: str = "+919876543210"
) -> PhoneNumber:
    live = dialect == "live"
    return PhoneNumber(
        id=wire.record_id(dialect, "pn", index),
        phone_number=number,
        trunk_sid=wire.TRUNK_SID,
        date_created=wire.DATETIMES[dialect],
        mode="flow" if live else None,
        date_updated=wire.DATETIMES[dialect] if live else None,
    )


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_map_posts_the_number_without_mode_and_decodes_the_mapping(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    route = exotel.post(f"/{PATH}").respond(
        200, json=wire.single(dialect, wire.phone_number_record(dialect), method="POST")
    )

    async with wire.make_client(exotel) as client:
        mapped = await client.phone_numbers.map(wire.TRUNK_SID, "+919876543210")

    assert route.call_count == 1
    wire.assert_request(
        route.calls.last.request, "POST", PATH, body={"phone_number": "+919876543210"}
    )
    assert mapped == expected_number(dialect)
    if dialect == "live":
        assert mapped.id == "41512"  # a numeric string stays a string


@pytest.mark.parametrize("mode", ["pstn", "flow"])
async def test_map_sends_mode_when_given(exotel: respx.MockRouter, mode: str) -> None:
    route = exotel.post(f"/{PATH}").respond(
        200, json=wire.single("live", wire.phone_number_record("live"), method="POST")
    )

    async with wire.make_client(exotel) as client:
        await client.phone_numbers.map(wire.TRUNK_SID, "+919876543210", mode=mode)

    wire.assert_request(
        route.calls.last.request,
        "POST",
        PATH,
        body={"phone_number": "+919876543210", "mode": mode},
    )


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("+91 98765-43210", "+919876543210"),
        ("+1 (415) 555.0100", "+14155550100"),
        ("+91\t98765 43210", "+919876543210"),
    ],
)
async def test_map_strips_spaces_dashes_dots_and_parentheses_before_sending(
    exotel: respx.MockRouter, given: str, sent: str
) -> None:
    route = exotel.post(f"/{PATH}").respond(
        200, json=wire.single("reference", wire.phone_number_record("reference", phone_number=sent))
    )

    async with wire.make_client(exotel) as client:
        await client.phone_numbers.map(wire.TRUNK_SID, given)

    wire.assert_request(route.calls.last.request, "POST", PATH, body={"phone_number": sent})


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_map_of_an_already_mapped_number_raises_conflict_error(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    status, body = wire.duplicate(dialect)
    route = exotel.post(f"/{PATH}").respond(status, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(ConflictError) as caught:
            await client.phone_numbers.map(wire.TRUNK_SID, "+919876543210")

    assert route.call_count == 1
    assert caught.value.status_code == 409
    assert caught.value.error_code == (1008 if dialect == "live" else 1002)


async def test_map_to_an_unknown_trunk_raises_not_found_error(exotel: respx.MockRouter) -> None:
    body = wire.failure("reference", 404, 1003, "Resource not found", "No trunk tr_gone")
    exotel.post("/trunks/tr_gone/phone-numbers").respond(404, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.phone_numbers.map("tr_gone", "+919876543210")

    assert caught.value.description == "No trunk tr_gone"


async def test_map_percent_encodes_the_trunk_sid_in_the_path(exotel: respx.MockRouter) -> None:
    route = exotel.post("/trunks/tr:1@x+yü/phone-numbers").respond(
        200, json=wire.single("reference", wire.phone_number_record("reference"))
    )

    async with wire.make_client(exotel) as client:
        await client.phone_numbers.map("tr:1@x+yü", "+919876543210")

    (call,) = route.calls
    assert call.request.url.raw_path == (
        f"{wire.ACCOUNT_PATH}/trunks/tr%3A1%40x%2By%C3%BC/phone-numbers".encode()
    )


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_list_returns_every_number_of_every_page(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    numbers = [f"+9198765432{index:02d}" for index in range(5)]
    records = [
        wire.phone_number_record(dialect, index, phone_number=number)
        for index, number in enumerate(numbers)
    ]
    pages = wire.list_pages(dialect, records, path=PATH, page_size=2)
    route = exotel.get(f"/{PATH}").mock(side_effect=wire.responses(pages))

    async with wire.make_client(exotel) as client:
        listed = await client.phone_numbers.list(wire.TRUNK_SID)

    assert listed == [
        expected_number(dialect, index, number) for index, number in enumerate(numbers)
    ]
    if dialect == "live":
        assert route.call_count == 3
        queries = [[], [("offset", "2"), ("page_size", "2")], [("offset", "4"), ("page_size", "2")]]
    else:
        assert route.call_count == 1
        queries = [[]]
    for call, query in zip(route.calls, queries, strict=True):
        wire.assert_request(call.request, "GET", PATH, query=query)


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_list_of_a_trunk_without_numbers_is_empty(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    (page,) = wire.list_pages(dialect, [], path=PATH)
    exotel.get(f"/{PATH}").respond(200, json=page)

    async with wire.make_client(exotel) as client:
        assert await client.phone_numbers.list(wire.TRUNK_SID) == []
