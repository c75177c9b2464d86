"""``client.settings``: Set Trunk Alias, in both dialects."""

from __future__ import annotations

import pytest
import respx

from exotel_trunking import BadRequestError, ConflictError, ResponseDecodeError, TrunkSetting

from .. import wire

pytestmark = pytest.mark.asyncio

PATH = f"trunks/{wire.TRUNK_SID}/settings"


@pytest.mark.parametrize(
    ("dialect", "shape"),
    [
        pytest.param("reference", "per-item", id="reference"),
        pytest.param("live", "per-item", id="live-list"),
        pytest.param("live", "single", id="live-single-envelope"),
    ],
)
async def test_set_alias_posts_trunk_external_alias_and_decodes_the_setting(
    exotel: respx.MockRouter, dialect: wire.Dialect, shape: str
) -> None:
    record = wire.setting_record(dialect)
    body = (
        wire.per_item(dialect, [wire.item_ok(dialect, record)])
        if shape == "per-item"
        else wire.single(dialect, record, method="POST")
    )
    route = exotel.post(f"/{PATH}").respond(200, json=body)

    async with wire.make_client(exotel) as client:
        setting = await client.settings.set_alias(wire.TRUNK_SID, "+91 98765 43210")

    assert route.call_count == 1
    wire.assert_request(
        route.calls.last.request,
        "POST",
        PATH,
        body={"settings": [{"name": "trunk_external_alias", "value": "+919876543210"}]},
    )
    assert setting == TrunkSetting(
        name="trunk_external_alias",
        value="+919876543210",
        trunk_sid=wire.TRUNK_SID,
        date_created=wire.DATETIMES[dialect],
    )


@pytest.mark.parametrize("dialect", wire.DIALECTS)
async def test_set_alias_duplicate_raises_conflict_error(
    exotel: respx.MockRouter, dialect: wire.Dialect
) -> None:
    status, body = wire.duplicate(dialect)
    route = exotel.post(f"/{PATH}").respond(status, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(ConflictError):
            await client.settings.set_alias(wire.TRUNK_SID, "+919876543210")

    assert route.call_count == 1


async def test_set_alias_raises_the_error_of_a_failed_item_in_a_207(
    exotel: respx.MockRouter,
) -> None:
    failed = wire.item_failed("live", 400, 1002, "Invalid parameter", "Number not on account")
    exotel.post(f"/{PATH}").respond(207, json=wire.per_item("live", [failed], http_code=207))

    async with wire.make_client(exotel) as client:
        with pytest.raises(BadRequestError) as caught:
            await client.settings.set_alias(wire.TRUNK_SID, "+919876543210")

    assert caught.value.error_code == 1002
    assert caught.value.description == "Number not on account"


async def test_set_alias_answered_with_an_empty_list_raises_response_decode_error(
    exotel: respx.MockRouter,
) -> None:
    exotel.post(f"/{PATH}").respond(200, json=wire.per_item("live", []))

    async with wire.make_client(exotel) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.settings.set_alias(wire.TRUNK_SID, "+919876543210")

    assert caught.value.request_id == wire.REQUEST_IDS["live"]
