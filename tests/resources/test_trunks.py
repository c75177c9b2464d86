"""``client.trunks``: Create Trunk and Delete Trunk, in both dialects."""

from __future__ import annotations

import pytest
import respx

from exotel_trunking import ConflictError, NotFoundError, Trunk

from .. import wire

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_create_posts_name_default_nso_code_and_account_domain(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    route = exotel.post("/trunks").respond(
        200, json=wire.single(dialect, wire.trunk_record(dialect), method="POST")
    )

    async with wire.make_client(exotel) as client:
        trunk = await client.trunks.create("my_trunk")

    assert route.call_count == 1
    wire.assert_request(
        route.calls.last.request,
        "POST",
        "trunks",
        body={
            "trunk_name": "my_trunk",
            "nso_code": "ANY-ANY",
            "domain_name": f"{wire.ACCOUNT_SID}.pstn.exotel.com",
        },
    )
    assert trunk == Trunk(
        trunk_sid=wire.TRUNK_SID,
        trunk_name="my_trunk",
        domain_name="acme.pstn.exotel.com",
        nso_code="ANY-ANY",
        date_created=wire.DATETIMES[dialect],
        date_updated=wire.DATETIMES[dialect],
        status="active" if dialect == "live" else None,
    )
    assert trunk.date_created is not None
    assert trunk.date_created.utcoffset() is not None


async def test_create_sends_the_given_nso_code_and_domain_name(exotel: respx.MockRouter) -> None:
    route = exotel.post("/trunks").respond(
        200, json=wire.single("reference", wire.trunk_record("reference"), method="POST")
    )

    async with wire.make_client(exotel) as client:
        await client.trunks.create("t_1", nso_code="IN-JIO", domain_name="pbx.example.com")

    wire.assert_request(
        route.calls.last.request,
        "POST",
        "trunks",
        body={"trunk_name": "t_1", "nso_code": "IN-JIO", "domain_name": "pbx.example.com"},
    )


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_create_of_an_existing_name_raises_conflict_error_in_both_dialects(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    status, body = wire.duplicate(dialect)
    route = exotel.post("/trunks").respond(status, json=body)

    async with wire.make_client(exotel, max_retries=3) as client:
        with pytest.raises(ConflictError) as caught:
            await client.trunks.create("my_trunk")

    assert route.call_count == 1  # a conflict is final, never retried
    error = caught.value
    assert error.status_code == 409
    assert error.error_code == (1008 if dialect == "live" else 1002)
    assert error.message == ("Duplicate resource" if dialect == "live" else "Resource exists")
    assert error.request_id == wire.REQUEST_IDS[dialect]
    assert (error.method, error.path) == ("POST", f"{wire.ACCOUNT_PATH}/trunks")


@pytest.mark.parametrize(
    ("dialect", "data"),
    [
        pytest.param("reference", None, id="reference-data-null"),
        pytest.param("live", wire.trunk_record("live"), id="live-deleted-trunk-data"),
    ],
)
async def test_delete_sends_trunk_sid_as_query_without_body_and_returns_none(
    exotel: respx.MockRouter, dialect: wire.Dialect, data: object
) -> None:
    route = exotel.delete("/trunks").respond(200, json=wire.single(dialect, data, method="DELETE"))

    async with wire.make_client(exotel) as client:
        result = await client.trunks.delete(wire.TRUNK_SID)  # type: ignore[func-returns-value]

    assert result is None  # typed None: this checks that the record sent back is dropped
    assert route.call_count == 1
    wire.assert_request(
        route.calls.last.request, "DELETE", "trunks", query=[("trunk_sid", wire.TRUNK_SID)]
    )


async def test_delete_percent_encodes_the_trunk_sid_in_the_query(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.delete("/trunks").respond(200, json=wire.single("reference", None))

    async with wire.make_client(exotel) as client:
        await client.trunks.delete("tr+1&x=y")

    (call,) = route.calls
    request = call.request
    assert request.url.raw_path == f"{wire.ACCOUNT_PATH}/trunks?trunk_sid=tr%2B1%26x%3Dy".encode()
    assert request.url.params["trunk_sid"] == "tr+1&x=y"


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_delete_of_an_unknown_trunk_raises_not_found_error(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    body = wire.failure(dialect, 404, 1003, "Resource not found", method="DELETE")
    route = exotel.delete("/trunks").respond(404, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.trunks.delete("tr_missing")

    assert route.call_count == 1
    assert caught.value.error_code == 1003
    assert caught.value.request_id == wire.REQUEST_IDS[dialect]
