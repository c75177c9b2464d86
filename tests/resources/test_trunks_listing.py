"""``client.trunks``: list, iter, find, get and update (known from Exotel's scripts and Postman
collection, with no example answers), on the wire."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from exotel_trunking import APIStatusError, ConflictError, NotFoundError, Trunk

from .. import wire

pytestmark = pytest.mark.asyncio


def trunk(index: int, name: str | None = None) -> dict[str, Any]:
    return {
        **wire.trunk_record("live", trunk_name=name or f"tenant_{index}"),
        "trunk_sid": f"trmum{index:023d}",
    }


def expected(index: int, name: str | None = None) -> Trunk:
    return Trunk(
        trunk_sid=f"trmum{index:023d}",
        trunk_name=name or f"tenant_{index}",
        domain_name=f"{wire.ACCOUNT_SID}.pstn.exotel.com",
        nso_code="ANY-ANY",
        date_created=wire.DATETIMES["live"],
        date_updated=wire.DATETIMES["live"],
        status="active",
    )


async def test_list_reads_every_page_of_the_accounts_trunks(exotel: respx.MockRouter) -> None:
    pages = wire.list_pages("live", [trunk(i) for i in range(5)], path="trunks", page_size=2)
    route = exotel.get("/trunks").mock(side_effect=wire.responses(pages))

    async with wire.make_client(exotel) as client:
        listed = await client.trunks.list()

    assert listed == [expected(i) for i in range(5)]
    wire.assert_request(route.calls[0].request, "GET", "trunks")
    assert [dict(c.request.url.params) for c in route.calls] == [
        {},
        {"offset": "2", "page_size": "2"},
        {"offset": "4", "page_size": "2"},
    ]


async def test_list_reads_the_reference_shape_too(exotel: respx.MockRouter) -> None:
    exotel.get("/trunks").respond(200, json=wire.single("reference", [trunk(0), trunk(1)]))

    async with wire.make_client(exotel) as client:
        assert await client.trunks.list() == [expected(0), expected(1)]


async def test_find_reads_every_page_so_that_a_second_trunk_of_the_name_is_not_missed(
    exotel: respx.MockRouter,
) -> None:
    pages = wire.list_pages("live", [trunk(i) for i in range(6)], path="trunks", page_size=2)
    route = exotel.get("/trunks").mock(side_effect=wire.responses(pages))

    async with wire.make_client(exotel) as client:
        found = await client.trunks.find("tenant_3")

    assert found == expected(3)
    assert route.call_count == 3  # the last page too: a duplicate could be there


async def test_find_of_a_name_two_trunks_share_raises_conflict_naming_both_sids(
    exotel: respx.MockRouter,
) -> None:
    records = [trunk(0), trunk(1, "tenant_x"), trunk(2), trunk(3, "tenant_x")]
    pages = wire.list_pages("live", records, path="trunks", page_size=2)
    exotel.get("/trunks").mock(side_effect=wire.responses(pages))

    async with wire.make_client(exotel) as client:
        with pytest.raises(ConflictError) as raised:
            await client.trunks.find("tenant_x")

    message = str(raised.value)
    assert f"trmum{1:023d}" in message
    assert f"trmum{3:023d}" in message
    assert "pass the sid" in message


async def test_find_returns_none_after_the_last_page(exotel: respx.MockRouter) -> None:
    pages = wire.list_pages("live", [trunk(i) for i in range(3)], path="trunks", page_size=2)
    route = exotel.get("/trunks").mock(side_effect=wire.responses(pages))

    async with wire.make_client(exotel) as client:
        assert await client.trunks.find("tenant_9") is None

    assert route.call_count == 2


async def test_find_of_a_name_differing_only_in_case_finds_nothing(
    exotel: respx.MockRouter,
) -> None:
    exotel.get("/trunks").respond(200, json=wire.single("live", [trunk(0, "Tenant")]))

    async with wire.make_client(exotel) as client:
        assert await client.trunks.find("tenant") is None


async def test_get_filters_by_trunk_sid_and_checks_the_sid_itself(
    exotel: respx.MockRouter,
) -> None:
    # A service that ignored the filter would answer every trunk: get still picks the right one.
    route = exotel.get("/trunks").respond(
        200, json=wire.per_item("live", [wire.item_ok("live", trunk(i)) for i in range(3)])
    )

    async with wire.make_client(exotel) as client:
        got = await client.trunks.get(f"trmum{2:023d}")

    assert got == expected(2)
    wire.assert_request(
        route.calls.last.request, "GET", "trunks", query=[("trunk_sid", got.trunk_sid)]
    )


async def test_get_of_a_sid_no_trunk_has_raises_not_found(exotel: respx.MockRouter) -> None:
    exotel.get("/trunks").respond(200, json=wire.per_item("live", [], method="GET"))

    async with wire.make_client(exotel) as client:
        with pytest.raises(NotFoundError, match="no trunk of this account has the sid"):
            await client.trunks.get("trmumnope")


async def test_update_puts_only_the_fields_given_at_the_trunks_path(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.put(f"/trunks/{wire.TRUNK_SID}").respond(
        200, json=wire.single("live", wire.trunk_record("live", trunk_name="renamed"), method="PUT")
    )

    async with wire.make_client(exotel) as client:
        updated = await client.trunks.update(wire.TRUNK_SID, trunk_name="renamed")

    wire.assert_request(
        route.calls.last.request, "PUT", f"trunks/{wire.TRUNK_SID}", body={"trunk_name": "renamed"}
    )
    assert updated.trunk_name == "renamed"
    assert updated.trunk_sid == wire.TRUNK_SID


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(None, id="data-null"),
        pytest.param({}, id="data-empty"),
        pytest.param({"updated": True}, id="data-other-shape"),
    ],
)
async def test_update_whose_answer_holds_no_trunk_reads_it_back(
    exotel: respx.MockRouter, answer: Any
) -> None:
    exotel.put(f"/trunks/{wire.TRUNK_SID}").respond(200, json=wire.single("live", answer))
    read = exotel.get("/trunks").respond(
        200,
        json=wire.per_item(
            "live", [wire.item_ok("live", wire.trunk_record("live", trunk_name="renamed"))]
        ),
    )

    async with wire.make_client(exotel) as client:
        updated = await client.trunks.update(wire.TRUNK_SID, nso_code="IN-JIO")

    assert read.call_count == 1
    assert updated.trunk_name == "renamed"


async def test_the_reference_dialects_405_for_listing_is_raised(exotel: respx.MockRouter) -> None:
    body = wire.failure("reference", 405, 1000, "Invalid request", method="GET")
    exotel.get("/trunks").respond(405, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.trunks.find("tenant_0")

    assert (caught.value.status_code, caught.value.error_code) == (405, 1000)
