"""Every error the emulated API answers with, in both dialects."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx2
import pytest

from exotel_trunking.emulator import Emulator

from .emulator_helpers import ACCOUNT, KEY, api, create_trunk, make_emulator, trunk_url

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["reference", "live"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def emulator(dialect: str) -> Emulator:
    return make_emulator(dialect)


def error_of(response: httpx2.Response) -> tuple[int, int, int, str, str]:
    """(HTTP status, response.code, error code, message, description)."""
    body = response.json()
    inner = body["response"]
    assert inner["status"] == "failure"
    assert body["http_code"] == response.status_code
    data = inner["error_data"]
    return response.status_code, inner["code"], data["code"], data["message"], data["description"]


TRUNK_BODY = {"trunk_name": "t", "nso_code": "ANY-ANY", "domain_name": "acme.pstn.exotel.com"}

#: ``(error code, message)`` per dialect: the reference's table, and the live service's
#: (live-api-extended.md, "Error codes as the service emits them").
MISSING = {"reference": (1000, "Invalid request"), "live": (1001, "Mandatory Parameter missing")}
INVALID = {"reference": (1001, "Invalid parameter"), "live": (1002, "Invalid parameter")}
NOT_FOUND = {"reference": (1003, "Resource not found"), "live": (1000, "Not Found")}
BAD_BODY = {
    "reference": (1000, "Invalid request"),
    "live": (1007, "Invalid request body,failed parsing "),
}


@pytest.mark.parametrize(
    ("sub", "body", "field"),
    [
        ("", {"nso_code": "ANY-ANY", "domain_name": "acme.pstn.exotel.com"}, "trunk_name"),
        ("", {"trunk_name": "t", "domain_name": "acme.pstn.exotel.com"}, "nso_code"),
        ("", {"trunk_name": "t", "nso_code": "ANY-ANY", "domain_name": ""}, "domain_name"),
        ("phone-numbers", {"mode": "pstn"}, "phone_number"),
        ("phone-numbers", {"phone_number": None}, "phone_number"),
        ("whitelisted-ips", {"ip": "203.0.113.50"}, "mask"),
        ("whitelisted-ips", {"mask": 32}, "ip"),
        ("destination-uris", {}, "destinations"),
        ("destination-uris", {"destinations": [{}]}, "destinations[0].destination"),
        ("settings", {"settings": [{"name": "trunk_external_alias"}]}, "settings[0].value"),
    ],
)
async def test_missing_fields_are_400_1000_or_live_1001(
    emulator: Emulator, dialect: str, sub: str, body: dict[str, Any], field: str
) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http, "existing")
        url = trunk_url(sid, sub) if sub else f"{ACCOUNT}/trunks"
        response = await http.post(url, json=body)
    assert error_of(response) == (400, 400, *MISSING[dialect], f"Missing required field: {field}")


async def test_delete_without_trunk_sid_is_400_1000_or_live_1001(
    emulator: Emulator, dialect: str
) -> None:
    async with api(emulator) as http:
        response = await http.delete(f"{ACCOUNT}/trunks")
    assert error_of(response)[:4] == (400, 400, *MISSING[dialect])
    assert error_of(response)[4] == "Missing required field: trunk_sid"


@pytest.mark.parametrize(
    ("sub", "body", "argument"),
    [
        ("", {**TRUNK_BODY, "trunk_name": "no-dashes"}, "trunk_name"),
        ("phone-numbers", {"phone_number": "+91 98765 43210"}, "phone_number"),
        ("phone-numbers", {"phone_number": "+919876543210", "mode": "sip"}, "mode"),
        ("whitelisted-ips", {"ip": "192.168.1.1", "mask": 32}, "ip"),
        ("whitelisted-ips", {"ip": "203.0.113.50", "mask": 12}, "mask"),
        ("destination-uris", {"destinations": "x"}, "destinations"),
        ("destination-uris", {"destinations": []}, "destinations"),
        ("settings", {"settings": ["x"]}, "settings[0]"),
    ],
)
async def test_invalid_parameters_are_400_1001_or_live_1002_described_by_the_validator(
    emulator: Emulator, dialect: str, sub: str, body: dict[str, Any], argument: str
) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http, "existing")
        url = trunk_url(sid, sub) if sub else f"{ACCOUNT}/trunks"
        response = await http.post(url, json=body)
    status, code, error, message, description = error_of(response)
    assert (status, code, error, message) == (400, 400, *INVALID[dialect])
    assert description.startswith(argument)


async def test_a_refused_values_message_is_the_description_verbatim(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.post(
            trunk_url(sid, "whitelisted-ips"), json={"ip": "203.0.113.50", "mask": 24}
        )
    assert (
        error_of(response)[4]
        == "ip='203.0.113.50' is invalid: host bits are set below the /24 mask"
    )


@pytest.mark.parametrize(
    "auth",
    [
        None,
        (KEY, "wrong"),
        ("wrong", "t"),
    ],
)
async def test_bad_or_missing_basic_auth_is_401_1010(emulator: Emulator, auth: Any) -> None:
    async with api(emulator, auth=auth) as http:
        response = await http.post(f"{ACCOUNT}/trunks", json=TRUNK_BODY)
    assert error_of(response)[:4] == (401, 401, 1010, "Authorization failed")
    assert response.headers["www-authenticate"] == 'Basic realm="Exotel"'
    assert emulator.state.trunks == []


@pytest.mark.parametrize(
    "header",
    ["Bearer abc", "Basic", "Basic !!!notbase64", "Basic " + base64.b64encode(b"k").decode()],
)
async def test_malformed_authorization_headers_are_401(emulator: Emulator, header: str) -> None:
    async with api(emulator, auth=None) as http:
        response = await http.get(
            trunk_url("x", "phone-numbers"), headers={"Authorization": header}
        )
    assert error_of(response)[:3] == (401, 401, 1010)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/accounts/other/trunks",
        "/v2/accounts/other/trunks/x/phone-numbers",
        "/v2/accounts/other/elsewhere",
    ],
)
async def test_another_accounts_path_is_403_1011(emulator: Emulator, path: str) -> None:
    async with api(emulator) as http:
        response = await http.post(path, json=TRUNK_BODY)
    status, code, error, message, description = error_of(response)
    assert (status, code, error, message) == (403, 403, 1011, "Access denied")
    assert "other" in description


@pytest.mark.parametrize(
    ("method", "sub"),
    [
        ("POST", "phone-numbers"),
        ("GET", "phone-numbers"),
        ("POST", "whitelisted-ips"),
        ("GET", "whitelisted-ips"),
        ("POST", "destination-uris"),
        ("GET", "destination-uris"),
        ("GET", "credentials"),
        ("POST", "settings"),
    ],
)
async def test_unknown_trunk_is_404_1003_or_live_1000_on_every_sub_resource(
    emulator: Emulator, dialect: str, method: str, sub: str
) -> None:
    async with api(emulator) as http:
        response = await http.request(method, trunk_url("trindnope", sub), json={})
    assert error_of(response) == (404, 404, *NOT_FOUND[dialect], "Trunk 'trindnope' does not exist")


async def test_deleting_an_unknown_trunk_is_404_1003_or_live_1000(
    emulator: Emulator, dialect: str
) -> None:
    async with api(emulator) as http:
        response = await http.delete(f"{ACCOUNT}/trunks", params={"trunk_sid": "trindnope"})
    assert error_of(response)[:4] == (404, 404, *NOT_FOUND[dialect])


async def test_unknown_paths_are_404_and_wrong_methods_405(
    emulator: Emulator, dialect: str
) -> None:
    async with api(emulator) as http:
        unknown = await http.get(f"{ACCOUNT}/calls")
        elsewhere = await http.get("/health")
        deeper = await http.get(f"{ACCOUNT}/trunks/x/phone-numbers/1/2")
        put = await http.put(trunk_url("x", "credentials"))
        # The reference has no such endpoints; the live service has them for other methods.
        item = await http.get(f"{ACCOUNT}/trunks/x/phone-numbers/1")
        trunks = await http.get(f"{ACCOUNT}/trunks")
    for response in (unknown, elsewhere, deeper):
        assert error_of(response)[:4] == (404, 404, *NOT_FOUND[dialect])
    assert error_of(put)[:3] == (405, 405, 1000)
    if dialect == "reference":
        assert error_of(item)[:3] == (404, 404, 1003)
        assert error_of(trunks)[:3] == (405, 405, 1000)
    else:
        assert error_of(item)[:3] == (405, 405, 1000)
        assert trunks.status_code == 200


async def test_an_invalid_trunk_sid_in_the_path_is_400_1001_or_live_1002(
    emulator: Emulator, dialect: str
) -> None:
    async with api(emulator) as http:
        response = await http.get(f"{ACCOUNT}/trunks/a%2Fb/phone-numbers")
        query = await http.delete(f"{ACCOUNT}/trunks", params={"trunk_sid": "a b"})
    assert error_of(response)[:4] == (400, 400, *INVALID[dialect])
    assert error_of(query)[:4] == (400, 400, *INVALID[dialect])


async def test_duplicates_are_409_1002_in_reference_and_200_1008_live(
    emulator: Emulator, dialect: str
) -> None:
    async with api(emulator) as http:
        await http.post(f"{ACCOUNT}/trunks", json=TRUNK_BODY)
        response = await http.post(f"{ACCOUNT}/trunks", json=TRUNK_BODY)
    expected = (
        (409, 409, 1002, "Resource exists")
        if dialect == "reference"
        else (200, 409, 1008, "Duplicate resource")
    )
    assert error_of(response)[:4] == expected
    assert error_of(response)[4] == "Trunk with name 't' already exists"


async def test_unparseable_json_is_400_with_1000_or_live_1007(
    emulator: Emulator, dialect: str
) -> None:
    async with api(emulator) as http:
        response = await http.post(
            f"{ACCOUNT}/trunks", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        array = await http.post(f"{ACCOUNT}/trunks", json=["trunk_name"])
    assert error_of(response)[:4] == (400, 400, *BAD_BODY[dialect])
    assert error_of(response)[4].startswith("Request body is not valid JSON")
    assert error_of(array)[:4] == (400, 400, *BAD_BODY[dialect])


async def test_wrong_content_type_on_post_is_415_1011_live_only(
    emulator: Emulator, dialect: str
) -> None:
    async with api(emulator) as http:
        response = await http.post(
            f"{ACCOUNT}/trunks",
            content=json.dumps(TRUNK_BODY).encode(),
            headers={"Content-Type": "text/plain"},
        )
        with_charset = await http.post(
            f"{ACCOUNT}/trunks",
            content=json.dumps({**TRUNK_BODY, "trunk_name": "u"}).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
    assert with_charset.status_code == 200
    if dialect == "live":
        assert error_of(response)[:4] == (415, 415, 1011, "unsupported content type")
    else:
        assert response.status_code == 200  # the reference does not police it


async def test_invalid_paging_parameters_are_400_1002_live(anyio_backend: str) -> None:
    emulator = make_emulator("live")
    async with api(emulator) as http:
        sid = await create_trunk(http)
        for params in (
            {"offset": "-1"},
            {"page_size": "0"},
            {"page_size": "abc"},
            {"page_size": "1001"},
        ):
            response = await http.get(trunk_url(sid, "phone-numbers"), params=params)
            assert error_of(response)[:4] == (400, 400, *INVALID["live"]), params


async def test_rate_limit_is_429_1030(emulator: Emulator) -> None:
    emulator.configure(rate_limit="1/60")
    async with api(emulator) as http:
        await http.get(trunk_url("x", "credentials"))
        response = await http.get(trunk_url("x", "credentials"))
    assert error_of(response) == (
        429,
        429,
        1030,
        "Rate limit exceeded",
        "Too many requests, retry later",
    )
