"""The served emulator answers curl with the reference document's envelopes.

The key sets below are those of the examples in ``exotel-voice-trunking-api.md`` (Create
Trunk, Map Phone Number, Get Phone Numbers, the error format) and, for the live dialect, of the
list shape in ``live-api-notes.md``; they are embedded so that the test needs no copy of them.
"""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import anyio
import pytest

from .support import KEY, SID, TOKEN, make_emulator

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
]

TOP = {"request_id", "method", "http_code", "response"}
ITEM = {"status", "code", "data"}
TRUNK = {"trunk_sid", "trunk_name", "domain_name", "nso_code", "date_created", "date_updated"}
NUMBER = {"id", "phone_number", "trunk_sid", "date_created"}
ERROR_ITEM = {"status", "code", "error_data"}
ERROR_DATA = {"code", "message", "description"}
LIVE_METADATA = {"page_size", "first_page_uri", "prev_page_uri", "next_page_uri"}
LIVE_ITEM = {"code", "error_data", "status", "data"}
#: The value formats of the reference examples ("a1b2c3d4-e5f6-...", "2025-01-22T10:30:00Z").
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


async def curl(url: str, *options: str, user: str = f"{KEY}:{TOKEN}") -> tuple[int, Any]:
    """Run curl as the reference document does (Basic auth, JSON); return status and JSON."""
    command = ["curl", "-q", "--silent", "--show-error", "--noproxy", "*", "--user", user]
    command += ["-H", "Content-Type: application/json", "--write-out", "\n%{http_code}"]
    result = await anyio.run_process([*command, *options, url], check=True)
    body, _, status = result.stdout.decode().rpartition("\n")
    return int(status), json.loads(body)


def assert_success(payload: Any, method: str) -> Any:
    assert set(payload) == TOP
    assert UUID.fullmatch(payload["request_id"])
    assert (payload["method"], payload["http_code"]) == (method, 200)
    assert set(payload["response"]) == ITEM
    assert (payload["response"]["status"], payload["response"]["code"]) == ("success", 200)
    return payload["response"]["data"]


async def test_curl_gets_the_documented_envelopes_for_create_map_and_list() -> None:
    emulator = make_emulator("reference")
    async with emulator.serve() as base_url:
        trunks = f"{base_url}/v2/accounts/{SID}/trunks"
        body = {
            "trunk_name": "my_trunk",
            "nso_code": "ANY-ANY",
            "domain_name": f"{SID}.pstn.exotel.com",
        }
        status, created = await curl(trunks, "-X", "POST", "-d", json.dumps(body))
        assert status == 200
        trunk = assert_success(created, "POST")
        assert set(trunk) == TRUNK
        assert {k: trunk[k] for k in body} == body
        assert TIMESTAMP.fullmatch(trunk["date_created"])
        sid = trunk["trunk_sid"]
        assert re.fullmatch(r"trind[0-9a-f]+", sid)

        numbers = f"{trunks}/{sid}/phone-numbers"
        status, mapped = await curl(
            numbers, "-X", "POST", "-d", '{"phone_number": "+919876543210"}'
        )
        assert status == 200
        number = assert_success(mapped, "POST")
        assert set(number) == NUMBER
        assert (number["phone_number"], number["trunk_sid"]) == ("+919876543210", sid)
        assert re.fullmatch(r"pn_[0-9a-z]+", number["id"])

        status, listed = await curl(numbers, "-X", "GET")
        assert status == 200
        assert assert_success(listed, "GET") == [number]


async def test_curl_with_a_wrong_token_gets_the_documented_error_format() -> None:
    emulator = make_emulator("reference")
    async with emulator.serve() as base_url:
        url = f"{base_url}/v2/accounts/{SID}/trunks"
        status, payload = await curl(url, "-X", "POST", "-d", "{}", user=f"{KEY}:wrong")
    assert status == 401
    assert set(payload) == TOP
    assert (payload["method"], payload["http_code"]) == ("POST", 401)
    assert set(payload["response"]) == ERROR_ITEM
    assert payload["response"]["status"] == "failure"
    assert set(payload["response"]["error_data"]) == ERROR_DATA
    assert payload["response"]["error_data"]["code"] == 1010


async def test_curl_gets_the_live_list_shape_with_paging_metadata() -> None:
    emulator = make_emulator("live", page_size=2)
    trunk = emulator.state.create_trunk("live_trunk")
    for number in ("+919876543210", "+919876543211", "+919876543212"):
        emulator.state.map_phone_number(trunk.trunk_sid, number)
    async with emulator.serve() as base_url:
        url = f"{base_url}/v2/accounts/{SID}/trunks/{trunk.trunk_sid}/phone-numbers"
        status, payload = await curl(url, "-X", "GET")
    assert status == 200
    assert set(payload) == {*TOP, "metadata"}
    assert set(payload["metadata"]) == LIVE_METADATA
    assert payload["metadata"]["next_page_uri"].endswith("phone-numbers?offset=2&page_size=2")
    assert [set(item) for item in payload["response"]] == [LIVE_ITEM, LIVE_ITEM]
    assert {item["data"]["phone_number"] for item in payload["response"]} <= {
        "+919876543210",
        "+919876543211",
        "+919876543212",
    }
