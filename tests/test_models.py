"""The models of API.md section 3: frozen, tolerant of new fields, strict about required ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
import respx

from exotel_trunking import (
    Credentials,
    DestinationUri,
    PhoneNumber,
    ResponseDecodeError,
    SipCredential,
    Trunk,
    TrunkMap,
    TrunkSetting,
    WhitelistedIp,
)
from exotel_trunking._converter import converter, structure

from . import wire

MODELS = [Trunk, PhoneNumber, WhitelistedIp, DestinationUri, Credentials, TrunkSetting]
RECORDS: dict[type, Any] = {
    Trunk: wire.trunk_record,
    PhoneNumber: wire.phone_number_record,
    WhitelistedIp: wire.whitelisted_ip_record,
    DestinationUri: wire.destination_uri_record,
    Credentials: wire.credentials_record,
    TrunkSetting: wire.setting_record,
}
CONTRACT_FIELDS = {
    Trunk: ["trunk_sid", "trunk_name", "domain_name", "nso_code", "date_created", "date_updated"],
    PhoneNumber: ["id", "phone_number", "trunk_sid", "date_created"],
    WhitelistedIp: ["id", "ip", "mask", "trunk_sid", "date_created"],
    DestinationUri: ["id", "destination", "trunk_sid", "date_created"],
    Credentials: ["username", "password"],
    TrunkSetting: ["name", "value", "trunk_sid", "date_created"],
}
REQUIRED = [
    (Trunk, "trunk_sid"),
    (Trunk, "trunk_name"),
    (PhoneNumber, "id"),
    (PhoneNumber, "phone_number"),
    (PhoneNumber, "trunk_sid"),
    (WhitelistedIp, "id"),
    (WhitelistedIp, "ip"),
    (WhitelistedIp, "mask"),
    (WhitelistedIp, "trunk_sid"),
    (DestinationUri, "id"),
    (DestinationUri, "destination"),
    (DestinationUri, "trunk_sid"),
    (Credentials, "username"),
    (Credentials, "password"),
    (TrunkSetting, "name"),
    (TrunkSetting, "value"),
]


def ids(model: type) -> str:
    return model.__name__


# -- shape -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_every_model_has_the_contract_fields_in_order(model: type) -> None:
    names = [field.name for field in attrs.fields(model)]

    assert names[: len(CONTRACT_FIELDS[model])] == CONTRACT_FIELDS[model]


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_every_model_is_frozen_and_slotted(model: type) -> None:
    instance: object = structure(RECORDS[model]("reference"), model, where="test")

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(instance, attrs.fields(model)[0].name, "changed")
    assert not hasattr(instance, "__dict__")


# -- forward compatibility ---------------------------------------------------------------------


def test_the_response_converter_never_forbids_extra_keys() -> None:
    assert converter.forbid_extra_keys is False


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_unknown_fields_are_ignored_and_known_ones_unchanged(model: type) -> None:
    plain = RECORDS[model]("reference")
    noisy = {
        **plain,
        "brand_new": "value",
        "nested": {"deeper": {"list": [1, {"x": None}]}},
        "items": [{"id": 1}],
    }

    assert structure(noisy, model, where="test") == structure(plain, model, where="test")


def test_a_new_status_value_is_kept_as_given() -> None:
    record = {**wire.trunk_record("live"), "status": "MIGRATING"}

    assert structure(record, Trunk, where="test").status == "MIGRATING"


@pytest.mark.asyncio
async def test_unknown_fields_at_every_level_of_a_response_are_ignored(
    exotel: respx.MockRouter,
) -> None:
    record = {**wire.trunk_record("reference"), "future": {"a": [1, 2, {"b": None}]}}
    body = {
        "request_id": "r1",
        "method": "POST",
        "http_code": 200,
        "response": {"status": "success", "code": 200, "data": record, "hint": {"x": 1}},
        "metadata": {"quota": {"left": 3}},
        "links": [{"rel": "self"}],
    }
    exotel.post("/trunks").respond(200, json=body)

    async with wire.make_client(exotel) as client:
        trunk = await client.trunks.create("my_trunk")

    assert trunk == structure(wire.trunk_record("reference"), Trunk, where="test")


# -- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-22T10:30:00Z", datetime(2025, 1, 22, 10, 30, tzinfo=UTC)),
        ("2025-01-22T10:30:00z", datetime(2025, 1, 22, 10, 30, tzinfo=UTC)),
        ("2025-01-22T10:30:00+00:00", datetime(2025, 1, 22, 10, 30, tzinfo=UTC)),
        (
            "2025-01-22T16:00:00+05:30",
            datetime(2025, 1, 22, 16, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        (
            "2025-01-22T10:30:00.123456Z",
            datetime(2025, 1, 22, 10, 30, 0, 123456, tzinfo=UTC),
        ),
        ("2025-01-22 10:30:00", datetime(2025, 1, 22, 10, 30, tzinfo=UTC)),
        ("2025-01-22T10:30:00", datetime(2025, 1, 22, 10, 30, tzinfo=UTC)),
    ],
)
def test_timestamps_become_timezone_aware_datetimes(text: str, expected: datetime) -> None:
    record = {**wire.phone_number_record("reference"), "date_created": text}

    parsed = structure(record, PhoneNumber, where="test").date_created

    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() == expected.utcoffset()


def test_a_missing_or_null_optional_timestamp_is_none() -> None:
    record = wire.phone_number_record("reference")
    without = {key: value for key, value in record.items() if key != "date_created"}

    assert structure(without, PhoneNumber, where="test").date_created is None
    assert structure({**record, "date_created": None}, PhoneNumber, where="t").date_created is None


def test_numeric_ids_become_strings() -> None:
    record = {**wire.phone_number_record("live"), "id": 41512}

    assert structure(record, PhoneNumber, where="test").id == "41512"


def test_the_whitelisted_ip_cidr_joins_address_and_mask() -> None:
    entry = structure(
        wire.whitelisted_ip_record("reference", mask=24, ip="203.0.113.0"),
        WhitelistedIp,
        where="test",
    )

    assert entry.cidr == "203.0.113.0/24"


# -- required fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "field"), REQUIRED, ids=[f"{m.__name__}.{f}" for m, f in REQUIRED]
)
def test_a_missing_required_field_raises_response_decode_error_with_its_path(
    model: type, field: str
) -> None:
    record = {key: value for key, value in RECORDS[model]("live").items() if key != field}

    with pytest.raises(ResponseDecodeError) as caught:
        structure(record, model, where="test")

    assert f"$.data.{field}" in str(caught.value)
    assert "missing" in str(caught.value)
    assert type(caught.value) is ResponseDecodeError  # one error, not an exception group


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (Trunk, "trunk_sid", None),
        (Trunk, "trunk_name", ["a"]),
        (Trunk, "trunk_sid", {"id": 1}),
        (Trunk, "trunk_sid", True),
        (Trunk, "trunk_sid", 1.5),
        (Trunk, "date_created", 1737541800),
        (Trunk, "date_created", "yesterday"),
        (Trunk, "date_updated", "2025-13-01T00:00:00Z"),
        (PhoneNumber, "id", None),
        (WhitelistedIp, "mask", "thirty-two"),
        (WhitelistedIp, "mask", None),
        (DestinationUri, "priority", "high"),
        (Credentials, "password", None),
        (TrunkSetting, "value", ["+919876543210"]),
    ],
)
def test_an_ill_typed_field_raises_response_decode_error_with_its_path(
    model: type, field: str, value: object
) -> None:
    record = {**RECORDS[model]("reference"), field: value}

    with pytest.raises(ResponseDecodeError) as caught:
        structure(record, model, where="test")

    assert f"$.data.{field}" in str(caught.value)
    assert model.__name__ in str(caught.value)


def test_every_problem_of_a_record_is_listed() -> None:
    record = {"trunk_name": None, "date_created": "never"}

    with pytest.raises(ResponseDecodeError) as caught:
        structure(record, Trunk, where="trunks.create")

    message = str(caught.value)
    for path in ("$.data.trunk_sid", "$.data.trunk_name", "$.data.date_created"):
        assert path in message
    assert "trunks.create" in message


@pytest.mark.parametrize("data", [None, "a trunk", [wire.trunk_record("reference")], 5])
def test_data_that_is_not_an_object_raises_response_decode_error(data: object) -> None:
    with pytest.raises(ResponseDecodeError, match="Trunk"):
        structure(data, Trunk, where="trunks.create")


@pytest.mark.asyncio
async def test_a_bad_record_from_the_api_raises_response_decode_error_with_the_request_id(
    exotel: respx.MockRouter,
) -> None:
    record = {**wire.trunk_record("live"), "trunk_sid": None}
    exotel.post("/trunks").respond(200, json=wire.single("live", record, method="POST"))

    async with wire.make_client(exotel) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.trunks.create("my_trunk")

    assert "trunk_sid" in str(caught.value)
    assert caught.value.status_code == 200
    assert caught.value.request_id == wire.REQUEST_IDS["live"]


@pytest.mark.asyncio
async def test_a_bad_item_in_a_list_is_named_by_its_position(exotel: respx.MockRouter) -> None:
    path = f"trunks/{wire.TRUNK_SID}/whitelisted-ips"
    records = [wire.whitelisted_ip_record("reference", index) for index in range(3)]
    records[1] = {**records[1], "mask": "wide"}
    (page,) = wire.list_pages("reference", records, path=path)
    exotel.get(f"/{path}").respond(200, json=page)

    async with wire.make_client(exotel) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.whitelisted_ips.list(wire.TRUNK_SID)

    assert "[1]" in str(caught.value)
    assert "mask" in str(caught.value)


# -- secrets -----------------------------------------------------------------------------------


def test_credentials_keep_the_real_password_but_never_show_it() -> None:
    credentials = Credentials(username=wire.TRUNK_SID, password=wire.SIP_PASSWORD)

    assert credentials.password == wire.SIP_PASSWORD
    for shown in (repr(credentials), str(credentials), f"{credentials}", f"{credentials!r}"):
        assert wire.SIP_PASSWORD not in shown
        assert wire.TRUNK_SID in shown
    assert credentials == Credentials(username=wire.TRUNK_SID, password=wire.SIP_PASSWORD)
    assert credentials != Credentials(username=wire.TRUNK_SID, password="other")


def test_a_sip_credential_masks_a_password_it_holds_and_shows_none_as_none() -> None:
    record = {"id": 1234, "trunk_sid": wire.TRUNK_SID, "user_name": "voicebot", "extra": [1]}
    listed = structure(record, SipCredential, where="test")
    created = attrs.evolve(listed, password=wire.SIP_PASSWORD)

    assert (listed.id, listed.password, listed.friendly_name) == ("1234", None, None)
    assert "password=None" in repr(listed)
    assert created.password == wire.SIP_PASSWORD
    for shown in (repr(created), str(created), f"{created!r}"):
        assert wire.SIP_PASSWORD not in shown
        assert "password='***'" in shown
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        created.password = "changed"  # type: ignore[misc]
    assert not hasattr(created, "__dict__")


def test_a_trunk_map_needs_a_trunk_sid_and_a_number_and_nothing_else() -> None:
    assert structure(
        {"phone_number": "+919876543210", "trunk_sid": "tr1", "unknown": {}}, TrunkMap, where="t"
    ) == TrunkMap(phone_number="+919876543210", trunk_sid="tr1")
    with pytest.raises(ResponseDecodeError, match="trunk_sid"):
        structure({"phone_number": "+919876543210"}, TrunkMap, where="t")
