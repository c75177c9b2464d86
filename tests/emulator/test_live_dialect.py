"""Every endpoint in the live dialect, checked against the live service's captured answers.

The ``LIVE_*`` values are the responses Exotel's own API reference shows from the live service
(see ``live-api-notes.md``); answers must match their keys, types and determined values.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from exotel_trunking.emulator import Emulator

from .emulator_helpers import (
    ACCOUNT,
    FIXED_NOW_TEXT,
    SID,
    api,
    assert_same_shape,
    create_trunk,
    make_emulator,
    trunk_url,
)

pytestmark = pytest.mark.anyio

T = "trmum1a2b3c4d5e6f7890123456"
STAMP = "2026-01-23T09:24:59Z"


def item(data: Any) -> dict[str, Any]:
    return {"code": 200, "error_data": None, "status": "success", "data": data}


def envelope(method: str, response: Any, **extra: Any) -> dict[str, Any]:
    return {
        "request_id": "10a67da360d446378d5c2b66407b7f18",
        "method": method,
        "http_code": 200,
        **extra,
        "response": response,
    }


TRUNK_FIELDS = {
    "trunk_name": "outbound_trunk",
    "date_created": STAMP,
    "date_updated": STAMP,
    "trunk_sid": "trmum1f708622631150902801a1n",
    "status": "active",
    "domain_name": "exoteltest.pstn.exotel.com",
    "auth_type": "IP-WHITELIST",
    "registration_enabled": "disabled",
    "edge_preference": "auto",
    "nso_code": "ANY-ANY",
    "secure_trunking": "disabled",
}
LIVE_CREATE_TRUNK = envelope(
    "POST",
    item(
        {
            **TRUNK_FIELDS,
            "destination_uris": f"/v2/accounts/exoteltest/trunks/{T}/destination-uris",
            "whitelisted_ips": f"/v2/accounts/exoteltest/trunks/{T}/whitelisted-ips",
            "credentials": f"/v2/accounts/exoteltest/trunks/{T}/credentials",
            "phone_numbers": f"/v2/accounts/exoteltest/trunks/{T}/phone-numbers",
        }
    ),
)
NUMBER = {
    "id": "41512",
    "phone_number": "+919876543210",
    "trunk_sid": T,
    "date_created": STAMP,
    "date_updated": STAMP,
    "mode": "flow",
}
LIVE_MAP_NUMBER = envelope("POST", item(NUMBER))
IP = {
    "id": "1153",
    "mask": 32,
    "trunk_sid": T,
    "ip": "203.0.113.50",
    "friendly_name": None,
    "date_created": STAMP,
    "date_updated": STAMP,
}
LIVE_WHITELIST_IP = envelope("POST", item(IP))
DESTINATION = {
    "id": "2543",
    "destination": "sip:44.248.146.11:5061;transport=tls",
    "date_created": STAMP,
    "date_updated": STAMP,
    "type": "public",
    "priority": 0,
    "weight": 1,
    "trunk_sid": T,
}
LIVE_ADD_DESTINATION = envelope("POST", [item(DESTINATION)], metadata={"total": 1, "success": 1})
LIVE_NOT_WHITELISTED = {
    "request_id": "c06dc46304aa406ea7daca83785bc7a9",
    "method": "POST",
    "http_code": 207,
    "metadata": {"failed": 1, "total": 1, "success": 0},
    "response": [
        {
            "code": 400,
            "error_data": {
                "code": 1002,
                "message": "Invalid parameter",
                "description": "Destination not whitelisted",
            },
            "status": "failure",
            "data": None,
        }
    ],
}
#: The credentials document's record (live-api-extended.md): no password, ever.
CREDENTIAL = {
    "id": "1234",
    "trunk_sid": T,
    "user_name": "voicebot",
    "friendly_name": None,
    "date_created": STAMP,
    "date_updated": STAMP,
}


def live_list(sub: str, data: dict[str, Any]) -> dict[str, Any]:
    return envelope(
        "GET",
        [item(data)],
        metadata={
            "page_size": 50,
            "first_page_uri": f"/v2/accounts/ameyo5m/trunks/{T}/{sub}?offset=0&page_size=50",
            "prev_page_uri": None,
            "next_page_uri": None,
        },
    )


LIVE_SET_ALIAS = envelope(
    "POST",
    [
        item(
            {
                "name": "trunk_external_alias",
                "value": "+919876543210",
                "trunk_sid": T,
                "date_created": STAMP,
                "date_updated": STAMP,
            }
        )
    ],
    metadata={"total": 1, "success": 1},
)
LIVE_DELETE = envelope("DELETE", item(TRUNK_FIELDS))
LIVE_DUPLICATE = {
    "request_id": "524f5159c04b44508f846cba89aeb87e",
    "method": "POST",
    "http_code": 200,
    "response": {
        "code": 409,
        "error_data": {
            "code": 1008,
            "message": "Duplicate resource",
            "description": (
                "Unable to create DidTrunkMapping with TrunkSid trmum15f77c83605998cdb9d1a1n"
            ),
        },
        "status": "failure",
        "data": None,
    },
}


def assert_live(body: dict[str, Any], example: dict[str, Any]) -> None:
    assert_same_shape(body, example)
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert (body["method"], body["http_code"]) == (example["method"], example["http_code"])


@pytest.fixture
def emulator() -> Emulator:
    return make_emulator("live")


async def test_create_trunk(emulator: Emulator) -> None:
    async with api(emulator) as http:
        response = await http.post(
            f"{ACCOUNT}/trunks",
            json={
                "trunk_name": "outbound_trunk",
                "nso_code": "ANY-ANY",
                "domain_name": f"{SID}.pstn.exotel.com",
            },
        )
    body = response.json()
    assert_live(body, LIVE_CREATE_TRUNK)
    data = body["response"]["data"]
    sid = data["trunk_sid"]
    assert re.fullmatch(r"trmum[0-9a-f]{19}1a1n", sid)
    expected = {**TRUNK_FIELDS, "trunk_sid": sid, "domain_name": f"{SID}.pstn.exotel.com"}
    expected |= {"date_created": FIXED_NOW_TEXT, "date_updated": FIXED_NOW_TEXT}
    for sub in ("destination_uris", "whitelisted_ips", "credentials", "phone_numbers"):
        expected[sub] = f"{ACCOUNT}/trunks/{sid}/{sub.replace('_', '-')}"
    assert data == expected


async def test_map_phone_number_mode_is_null_unless_given(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        plain = await http.post(
            trunk_url(sid, "phone-numbers"), json={"phone_number": "+919876543210"}
        )
        flow = await http.post(
            trunk_url(sid, "phone-numbers"), json={"phone_number": "+919876543211", "mode": "flow"}
        )
    assert_live(flow.json(), LIVE_MAP_NUMBER)
    first, second = plain.json()["response"]["data"], flow.json()["response"]["data"]
    assert first["mode"] is None
    assert second["mode"] == "flow"
    assert first["id"].isdigit()
    assert int(second["id"]) == int(first["id"]) + 1
    assert first["date_updated"] == FIXED_NOW_TEXT


async def test_duplicates_answer_http_200_with_a_409_envelope(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        await http.post(trunk_url(sid, "phone-numbers"), json={"phone_number": "+919876543210"})
        number = await http.post(
            trunk_url(sid, "phone-numbers"), json={"phone_number": "+919876543210"}
        )
        await http.post(trunk_url(sid, "whitelisted-ips"), json={"ip": "203.0.113.50", "mask": 32})
        ip = await http.post(
            trunk_url(sid, "whitelisted-ips"), json={"ip": "203.0.113.50", "mask": 32}
        )
        trunk = await http.post(
            f"{ACCOUNT}/trunks",
            json={
                "trunk_name": "my_trunk",
                "nso_code": "ANY-ANY",
                "domain_name": f"{SID}.pstn.exotel.com",
            },
        )
    for response in (number, ip, trunk):
        assert response.status_code == 200
        body = response.json()
        assert_live(body, LIVE_DUPLICATE)
        assert body["response"]["code"] == 409
        assert body["response"]["error_data"]["code"] == 1008
        assert body["response"]["error_data"]["message"] == "Duplicate resource"


async def test_whitelist_ip(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.post(
            trunk_url(sid, "whitelisted-ips"), json={"ip": "203.0.113.50", "mask": 32}
        )
    body = response.json()
    assert_live(body, LIVE_WHITELIST_IP)
    data = body["response"]["data"]
    assert (data["ip"], data["mask"], data["friendly_name"], data["trunk_sid"]) == (
        "203.0.113.50",
        32,
        None,
        sid,
    )


async def test_add_destination_after_whitelisting_answers_200_with_counts(
    emulator: Emulator,
) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        await http.post(trunk_url(sid, "whitelisted-ips"), json={"ip": "203.0.113.50", "mask": 32})
        response = await http.post(
            trunk_url(sid, "destination-uris"),
            json={"destinations": [{"destination": "203.0.113.50:5061;transport=tls"}]},
        )
    assert response.status_code == 200
    body = response.json()
    assert_live(body, LIVE_ADD_DESTINATION)
    assert body["metadata"] == {"total": 1, "success": 1}
    data = body["response"][0]["data"]
    assert (data["destination"], data["type"], data["priority"], data["weight"]) == (
        "sip:203.0.113.50:5061;transport=tls",
        "public",
        0,
        1,
    )


async def test_destination_not_whitelisted_answers_207(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.post(
            trunk_url(sid, "destination-uris"),
            json={"destinations": [{"destination": "203.0.113.50:5061;transport=tls"}]},
        )
    assert response.status_code == 207
    body = response.json()
    assert_live(body, LIVE_NOT_WHITELISTED)
    assert body["response"] == LIVE_NOT_WHITELISTED["response"]
    assert body["metadata"] == {"failed": 1, "total": 1, "success": 0}


async def test_mixed_destinations_answer_207_with_per_item_outcomes(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.post(
            trunk_url(sid, "destination-uris"),
            json={
                "destinations": [
                    {"destination": "sip.mycompany.com:5061;transport=tls"},  # FQDN: fine
                    {"destination": "198.51.100.1:5060;transport=tcp"},  # not whitelisted
                    {"destination": "sip.mycompany.com:5061;transport=tls"},  # duplicate
                    {"destination": "nohost:5061;transport=sctp"},  # invalid
                ]
            },
        )
    assert response.status_code == 207
    body = response.json()
    assert body["metadata"] == {"failed": 3, "total": 4, "success": 1}
    codes = [(i["code"], (i["error_data"] or {}).get("code")) for i in body["response"]]
    assert codes == [(200, None), (400, 1002), (409, 1008), (400, 1002)]
    assert [i["data"] is None for i in body["response"]] == [False, True, True, True]


async def test_a_new_trunk_has_no_credentials_and_issued_ones_list_as_a_digest_credential(
    emulator: Emulator,
) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        empty = await http.get(trunk_url(sid, "credentials"))
        issued = emulator.issue_credentials(sid)
        listed = await http.get(trunk_url(sid, "credentials"))
    assert empty.json()["response"] == []
    assert_live(listed.json(), live_list("credentials", CREDENTIAL))
    [entry] = listed.json()["response"]
    assert entry["data"]["user_name"] == sid
    assert issued.password not in listed.text


@pytest.mark.parametrize(
    ("sub", "example", "body"),
    [
        ("phone-numbers", NUMBER, {"phone_number": "+919876543210", "mode": "pstn"}),
        ("whitelisted-ips", IP, {"ip": "203.0.113.50", "mask": 32}),
        (
            "destination-uris",
            DESTINATION,
            {"destinations": [{"destination": "sip.x.com:5060;transport=tcp"}]},
        ),
    ],
)
async def test_lists_are_pages_of_item_envelopes(
    emulator: Emulator, sub: str, example: dict[str, Any], body: dict[str, Any]
) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        await http.post(trunk_url(sid, sub), json=body)
        response = await http.get(trunk_url(sid, sub))
    payload = response.json()
    assert_live(payload, live_list(sub, example))
    assert payload["metadata"] == {
        "page_size": 50,
        "first_page_uri": f"{ACCOUNT}/trunks/{sid}/{sub}?offset=0&page_size=50",
        "prev_page_uri": None,
        "next_page_uri": None,
    }


async def test_120_numbers_come_in_3_pages_linked_by_next_page_uri(emulator: Emulator) -> None:
    numbers = [f"+9198765{n:05d}" for n in range(120)]
    for number in numbers:
        if not emulator.state.trunks:
            emulator.state.create_trunk("my_trunk")
        emulator.state.map_phone_number(emulator.state.trunks[0].trunk_sid, number)
    sid = emulator.state.trunks[0].trunk_sid
    pages: list[dict[str, Any]] = []
    async with api(emulator) as http:
        url: str | None = trunk_url(sid, "phone-numbers")
        while url is not None:
            response = await http.get(url)
            pages.append(response.json())
            url = pages[-1]["metadata"]["next_page_uri"]
    assert [len(p["response"]) for p in pages] == [50, 50, 20]
    base = f"{ACCOUNT}/trunks/{sid}/phone-numbers"
    assert [p["metadata"]["next_page_uri"] for p in pages] == [
        f"{base}?offset=50&page_size=50",
        f"{base}?offset=100&page_size=50",
        None,
    ]
    assert [p["metadata"]["prev_page_uri"] for p in pages] == [
        None,
        f"{base}?offset=0&page_size=50",
        f"{base}?offset=50&page_size=50",
    ]
    seen = [i["data"]["phone_number"] for p in pages for i in p["response"]]
    assert seen == list(reversed(numbers))  # newest first, every number exactly once


async def test_page_size_query_and_knob(emulator: Emulator) -> None:
    sid = emulator.state.create_trunk("t").trunk_sid
    for n in range(7):
        emulator.state.whitelist_ip(sid, f"203.0.113.{n + 1}", 32)
    async with api(emulator) as http:
        small = (
            await http.get(trunk_url(sid, "whitelisted-ips"), params={"page_size": 3, "offset": 6})
        ).json()
        emulator.configure(page_size=5)
        default = (await http.get(trunk_url(sid, "whitelisted-ips"))).json()
    assert len(small["response"]) == 1
    assert (
        small["metadata"]["prev_page_uri"]
        == f"{ACCOUNT}/trunks/{sid}/whitelisted-ips?offset=3&page_size=3"
    )
    assert small["metadata"]["next_page_uri"] is None
    assert default["metadata"]["page_size"] == 5
    assert len(default["response"]) == 5


async def test_set_trunk_alias(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.post(
            trunk_url(sid, "settings"),
            json={"settings": [{"name": "trunk_external_alias", "value": "+919876543210"}]},
        )
    body = response.json()
    assert_live(body, LIVE_SET_ALIAS)
    assert body["response"][0]["data"]["value"] == "+919876543210"


async def test_delete_returns_the_deleted_trunk(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.delete(f"{ACCOUNT}/trunks", params={"trunk_sid": sid})
    body = response.json()
    assert_live(body, LIVE_DELETE)
    assert body["response"]["data"]["trunk_sid"] == sid
    assert "phone_numbers" not in body["response"]["data"]


async def test_error_envelopes_carry_null_data(emulator: Emulator) -> None:
    async with api(emulator) as http:
        response = await http.post(
            trunk_url("trmumnope", "phone-numbers"), json={"phone_number": "+919876543210"}
        )
    assert response.status_code == 404
    assert response.json()["response"] == {
        "code": 404,
        "error_data": {
            "code": 1000,
            "message": "Not Found",
            "description": "Trunk 'trmumnope' does not exist",
        },
        "status": "failure",
        "data": None,
    }


async def test_a_destination_naming_no_transport_is_a_udp_destination(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        await http.post(trunk_url(sid, "whitelisted-ips"), json={"ip": "203.0.113.50", "mask": 32})
        response = await http.post(
            trunk_url(sid, "destination-uris"),
            json={"destinations": [{"destination": "sip:203.0.113.50:5060"}]},
        )
    assert response.status_code == 200
    assert response.json()["response"][0]["data"]["destination"] == "sip:203.0.113.50:5060"


async def test_the_reference_dialect_refuses_a_destination_naming_no_transport() -> None:
    emulator = make_emulator("reference")
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.post(
            trunk_url(sid, "destination-uris"),
            json={"destinations": [{"destination": "203.0.113.50:5060"}]},
        )
    [item] = response.json()["response"]
    assert (item["status"], item["code"]) == ("failure", 400)
    assert "transport=tcp" in item["error_data"]["description"]
