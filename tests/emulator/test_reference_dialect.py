"""Every endpoint in the reference dialect, checked field by field against the document.

The ``EXAMPLE_*`` values are the example responses of ``exotel-voice-trunking-api.md``, copied
verbatim; an answer must have the same keys at every level, the same JSON types, and the
values the request determines.
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

TRUNK_SID = "trind1a2b3c4d5e6f7890abcdef"

EXAMPLE_CREATE_TRUNK = {
    "request_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "method": "POST",
    "http_code": 200,
    "response": {
        "status": "success",
        "code": 200,
        "data": {
            "trunk_sid": TRUNK_SID,
            "trunk_name": "my_trunk",
            "domain_name": "mycompany.pstn.exotel.com",
            "nso_code": "ANY-ANY",
            "date_created": "2025-01-22T10:30:00Z",
            "date_updated": "2025-01-22T10:30:00Z",
        },
    },
}
EXAMPLE_MAP_NUMBER = {
    "request_id": "b2c3d4e5-f6a7-8901-bcde-f23456789012",
    "method": "POST",
    "http_code": 200,
    "response": {
        "status": "success",
        "code": 200,
        "data": {
            "id": "pn_abc123def456",
            "phone_number": "+919876543210",
            "trunk_sid": TRUNK_SID,
            "date_created": "2025-01-22T10:35:00Z",
        },
    },
}
EXAMPLE_WHITELIST_IP = {
    "request_id": "c3d4e5f6-a7b8-9012-cdef-345678901234",
    "method": "POST",
    "http_code": 200,
    "response": {
        "status": "success",
        "code": 200,
        "data": {
            "id": "wl_xyz789abc012",
            "ip": "203.0.113.50",
            "mask": 32,
            "trunk_sid": TRUNK_SID,
            "date_created": "2025-01-22T10:40:00Z",
        },
    },
}
EXAMPLE_ADD_DESTINATION = {
    "request_id": "d4e5f6a7-b8c9-0123-def0-456789012345",
    "method": "POST",
    "http_code": 200,
    "response": [
        {
            "status": "success",
            "code": 200,
            "data": {
                "id": "du_mno345pqr678",
                "destination": "sip:203.0.113.50:5061;transport=tls",
                "trunk_sid": TRUNK_SID,
                "date_created": "2025-01-22T10:45:00Z",
            },
        }
    ],
}
EXAMPLE_LIST_DESTINATIONS = {
    "request_id": "e5f6a7b8-c9d0-1234-ef01-567890123456",
    "method": "GET",
    "http_code": 200,
    "response": {
        "status": "success",
        "code": 200,
        "data": [
            {
                "id": "du_mno345pqr678",
                "destination": "sip:203.0.113.50:5061;transport=tls",
                "trunk_sid": TRUNK_SID,
                "date_created": "2025-01-22T10:45:00Z",
            }
        ],
    },
}
EXAMPLE_LIST_IPS = {
    "request_id": "f6a7b8c9-d0e1-2345-f012-678901234567",
    "method": "GET",
    "http_code": 200,
    "response": {
        "status": "success",
        "code": 200,
        "data": [
            {
                "id": "wl_xyz789abc012",
                "ip": "203.0.113.50",
                "mask": 32,
                "trunk_sid": TRUNK_SID,
                "date_created": "2025-01-22T10:40:00Z",
            }
        ],
    },
}
EXAMPLE_CREDENTIALS = {
    "request_id": "a7b8c9d0-e1f2-3456-0123-789012345678",
    "method": "GET",
    "http_code": 200,
    "response": {
        "status": "success",
        "code": 200,
        "data": {"username": TRUNK_SID, "password": "Xy9#mK2$pL5nQ8"},
    },
}
EXAMPLE_LIST_NUMBERS = {
    "request_id": "b8c9d0e1-f2a3-4567-1234-890123456789",
    "method": "GET",
    "http_code": 200,
    "response": {
        "status": "success",
        "code": 200,
        "data": [
            {
                "id": "pn_abc123def456",
                "phone_number": "+919876543210",
                "trunk_sid": TRUNK_SID,
                "date_created": "2025-01-22T10:35:00Z",
            }
        ],
    },
}
EXAMPLE_SET_ALIAS = {
    "request_id": "c9d0e1f2-a3b4-5678-2345-901234567890",
    "method": "POST",
    "http_code": 200,
    "response": [
        {
            "status": "success",
            "code": 200,
            "data": {
                "name": "trunk_external_alias",
                "value": "+919876543210",
                "trunk_sid": TRUNK_SID,
                "date_created": "2025-01-22T10:50:00Z",
            },
        }
    ],
}
EXAMPLE_DELETE = {
    "request_id": "d0e1f2a3-b4c5-6789-3456-012345678901",
    "method": "DELETE",
    "http_code": 200,
    "response": {"status": "success", "code": 200, "data": None},
}
EXAMPLE_ERROR = {
    "request_id": "error-request-id-12345",
    "method": "POST",
    "http_code": 400,
    "response": {
        "status": "failure",
        "code": 400,
        "error_data": {
            "code": 1000,
            "message": "Invalid request",
            "description": "Missing required field: trunk_name",
        },
    },
}

REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def assert_matches_example(body: dict[str, Any], example: dict[str, Any]) -> None:
    assert_same_shape(body, example)
    assert REQUEST_ID.fullmatch(body["request_id"])
    assert body["method"] == example["method"]
    assert body["http_code"] == example["http_code"]


@pytest.fixture
def emulator() -> Emulator:
    return make_emulator("reference")


async def test_create_trunk(emulator: Emulator) -> None:
    async with api(emulator) as http:
        response = await http.post(
            f"{ACCOUNT}/trunks",
            json={
                "trunk_name": "my_trunk",
                "nso_code": "ANY-ANY",
                "domain_name": "mycompany.pstn.exotel.com",
            },
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert_matches_example(body, EXAMPLE_CREATE_TRUNK)
    data = body["response"]["data"]
    assert re.fullmatch(r"trind[0-9a-f]{22}", data["trunk_sid"])
    assert data["trunk_name"] == "my_trunk"
    assert data["domain_name"] == "mycompany.pstn.exotel.com"
    assert data["nso_code"] == "ANY-ANY"
    assert data["date_created"] == data["date_updated"] == FIXED_NOW_TEXT


async def test_map_phone_number(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.post(
            trunk_url(sid, "phone-numbers"), json={"phone_number": "+919876543210"}
        )
    assert response.status_code == 200
    body = response.json()
    assert_matches_example(body, EXAMPLE_MAP_NUMBER)
    data = body["response"]["data"]
    assert re.fullmatch(r"pn_[a-z0-9]{12}", data["id"])
    assert (data["phone_number"], data["trunk_sid"], data["date_created"]) == (
        "+919876543210",
        sid,
        FIXED_NOW_TEXT,
    )


async def test_map_phone_number_accepts_the_optional_mode(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.post(
            trunk_url(sid, "phone-numbers"), json={"phone_number": "+919876543210", "mode": "flow"}
        )
    assert_matches_example(response.json(), EXAMPLE_MAP_NUMBER)
    assert emulator.state.phone_numbers(sid)[0].mode == "flow"


async def test_whitelist_ip(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.post(
            trunk_url(sid, "whitelisted-ips"), json={"ip": "203.0.113.50", "mask": 32}
        )
    body = response.json()
    assert_matches_example(body, EXAMPLE_WHITELIST_IP)
    data = body["response"]["data"]
    assert re.fullmatch(r"wl_[a-z0-9]{12}", data["id"])
    assert (data["ip"], data["mask"], data["trunk_sid"]) == ("203.0.113.50", 32, sid)


async def test_add_destination_uris_by_ip_and_fqdn(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.post(
            trunk_url(sid, "destination-uris"),
            json={
                "destinations": [
                    {"destination": "203.0.113.50:5061;transport=tls"},
                    {"destination": "sip.mycompany.com:5061;transport=tls"},
                ]
            },
        )
    assert response.status_code == 200
    body = response.json()
    assert_matches_example(body, EXAMPLE_ADD_DESTINATION)
    destinations = [item["data"]["destination"] for item in body["response"]]
    assert destinations == [
        "sip:203.0.113.50:5061;transport=tls",
        "sip:sip.mycompany.com:5061;transport=tls",
    ]
    assert all(re.fullmatch(r"du_[a-z0-9]{12}", item["data"]["id"]) for item in body["response"])


async def test_add_destination_uris_reports_per_item_failures_under_200(
    emulator: Emulator,
) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        destination = {"destination": "sip.mycompany.com:5061;transport=tls"}
        response = await http.post(
            trunk_url(sid, "destination-uris"),
            json={"destinations": [destination, destination, {"destination": "x:1;transport=udp"}]},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["http_code"] == 200
    ok, duplicate, invalid = body["response"]
    assert ok["status"] == "success"
    assert duplicate == {
        "status": "failure",
        "code": 409,
        "error_data": {
            "code": 1002,
            "message": "Resource exists",
            "description": "Destination sip:sip.mycompany.com:5061;transport=tls already exists",
        },
    }
    assert_same_shape(invalid, EXAMPLE_ERROR["response"])
    assert (invalid["code"], invalid["error_data"]["code"]) == (400, 1001)


async def test_list_destination_uris(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        await http.post(
            trunk_url(sid, "destination-uris"),
            json={"destinations": [{"destination": "203.0.113.50:5061;transport=tls"}]},
        )
        response = await http.get(trunk_url(sid, "destination-uris"))
    body = response.json()
    assert_matches_example(body, EXAMPLE_LIST_DESTINATIONS)
    assert body["response"]["data"][0]["destination"] == "sip:203.0.113.50:5061;transport=tls"


async def test_list_whitelisted_ips(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        await http.post(trunk_url(sid, "whitelisted-ips"), json={"ip": "203.0.113.50", "mask": 32})
        await http.post(trunk_url(sid, "whitelisted-ips"), json={"ip": "198.51.100.0", "mask": 24})
        response = await http.get(trunk_url(sid, "whitelisted-ips"))
    body = response.json()
    assert_matches_example(body, EXAMPLE_LIST_IPS)
    assert [(i["ip"], i["mask"]) for i in body["response"]["data"]] == [
        ("203.0.113.50", 32),
        ("198.51.100.0", 24),
    ]


async def test_list_phone_numbers_returns_every_number_in_mapping_order(emulator: Emulator) -> None:
    numbers = [f"+9198765{n:05d}" for n in range(60)]
    async with api(emulator) as http:
        sid = await create_trunk(http)
        for number in numbers:
            await http.post(trunk_url(sid, "phone-numbers"), json={"phone_number": number})
        response = await http.get(trunk_url(sid, "phone-numbers"), params={"page_size": 10})
    body = response.json()
    assert_matches_example(body, EXAMPLE_LIST_NUMBERS)
    assert "metadata" not in body  # the reference dialect does not page
    assert [item["phone_number"] for item in body["response"]["data"]] == numbers


async def test_list_of_a_trunk_without_items_is_an_empty_array(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.get(trunk_url(sid, "phone-numbers"))
    assert response.json()["response"] == {"status": "success", "code": 200, "data": []}


async def test_get_credentials(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.get(trunk_url(sid, "credentials"))
    body = response.json()
    assert_matches_example(body, EXAMPLE_CREDENTIALS)
    data = body["response"]["data"]
    assert data["username"] == sid
    assert data["password"] == emulator.state.get_credentials(sid).password  # type: ignore[union-attr]


async def test_get_credentials_answers_an_empty_array_until_issued(anyio_backend: str) -> None:
    emulator = make_emulator("reference", issue_credentials=False)
    async with api(emulator) as http:
        sid = await create_trunk(http)
        before = (await http.get(trunk_url(sid, "credentials"))).json()
        emulator.issue_credentials(sid)
        after = (await http.get(trunk_url(sid, "credentials"))).json()
    assert before["response"] == []
    assert (before["http_code"], before["method"]) == (200, "GET")
    assert after["response"]["data"]["username"] == sid


async def test_set_trunk_alias(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.post(
            trunk_url(sid, "settings"),
            json={"settings": [{"name": "trunk_external_alias", "value": "+919876543210"}]},
        )
    body = response.json()
    assert_matches_example(body, EXAMPLE_SET_ALIAS)
    data = body["response"][0]["data"]
    assert (data["name"], data["value"], data["trunk_sid"]) == (
        "trunk_external_alias",
        "+919876543210",
        sid,
    )


async def test_delete_trunk(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.delete(f"{ACCOUNT}/trunks", params={"trunk_sid": sid})
        again = await http.delete(f"{ACCOUNT}/trunks", params={"trunk_sid": sid})
    assert response.status_code == 200
    assert_matches_example(response.json(), EXAMPLE_DELETE)
    assert response.json()["response"]["data"] is None
    assert emulator.state.trunks == []
    assert again.status_code == 404


async def test_error_envelope_matches_the_documented_format(emulator: Emulator) -> None:
    async with api(emulator) as http:
        response = await http.post(f"{ACCOUNT}/trunks", json={"nso_code": "ANY-ANY"})
    assert response.status_code == 400
    body = response.json()
    assert_same_shape(body, EXAMPLE_ERROR)
    assert body["response"] == EXAMPLE_ERROR["response"]
    assert body["http_code"] == 400


async def test_the_account_sid_in_paths_and_domain_follows_the_emulator(anyio_backend: str) -> None:
    emulator = make_emulator("reference")
    async with api(emulator) as http:
        await create_trunk(http)
    assert emulator.state.trunks[0].domain_name == f"{SID}.pstn.exotel.com"
