"""The live service's operations beyond the reference (live-api-extended.md), over HTTP.

Only the live dialect answers them; the reference dialect answers each with its own error.
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from exotel_trunking.emulator import Emulator

from .emulator_helpers import ACCOUNT, FIXED_NOW_TEXT, api, create_trunk, make_emulator, trunk_url

pytestmark = pytest.mark.anyio

NUMBER = "+919876543210"
PASSWORD = "Wm3-distinctive-emulator-pw"


@pytest.fixture
def emulator() -> Emulator:
    return make_emulator("live", page_size=2)


def items(response: httpx2.Response) -> list[dict[str, Any]]:
    """The ``data`` of every item of a live list answer (all successes)."""
    body = response.json()
    assert response.status_code == 200, body
    assert all(item["status"] == "success" for item in body["response"])
    return [item["data"] for item in body["response"]]


def data(response: httpx2.Response) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == 200, body
    assert body["response"]["status"] == "success"
    return dict(body["response"]["data"])


def error(response: httpx2.Response) -> tuple[int, int, str]:
    inner = response.json()["response"]
    return response.status_code, inner["error_data"]["code"], inner["error_data"]["message"]


async def test_trunks_are_listed_in_pages_and_filtered_by_sid(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sids = [await create_trunk(http, f"t{n}") for n in range(3)]
        first = await http.get(f"{ACCOUNT}/trunks")
        second = await http.get(f"{ACCOUNT}/trunks", params={"offset": "2", "page_size": "2"})
        one = await http.get(f"{ACCOUNT}/trunks", params={"trunk_sid": sids[1]})
    assert [t["trunk_name"] for t in items(first) + items(second)] == ["t2", "t1", "t0"]
    assert first.json()["metadata"]["next_page_uri"] == f"{ACCOUNT}/trunks?offset=2&page_size=2"
    assert second.json()["metadata"]["next_page_uri"] is None
    assert [t["trunk_sid"] for t in items(one)] == [sids[1]]
    assert "phone_numbers" in items(one)[0]  # the sub-resource paths, as create answers


async def test_a_trunk_is_renamed_and_a_taken_name_is_a_duplicate(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http, "before")
        await create_trunk(http, "taken")
        renamed = await http.put(f"{ACCOUNT}/trunks/{sid}", json={"trunk_name": "after"})
        taken = await http.put(f"{ACCOUNT}/trunks/{sid}", json={"trunk_name": "taken"})
        nothing = await http.put(f"{ACCOUNT}/trunks/{sid}", json={})
    assert data(renamed)["trunk_name"] == "after"
    assert emulator.state.get_trunk(sid).trunk_name == "after"
    assert error(taken) == (200, 1008, "Duplicate resource")
    assert error(nothing) == (400, 1001, "Mandatory Parameter missing")


async def test_the_trunk_map_lookup_names_the_holding_trunk_or_answers_an_empty_list(
    emulator: Emulator,
) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        other = await create_trunk(http, "other")
        await http.post(trunk_url(sid, "phone-numbers"), json={"phone_number": NUMBER})
        found = await http.get(f"{ACCOUNT}/trunk-maps", params={"exophone": NUMBER})
        narrowed = await http.get(
            f"{ACCOUNT}/trunk-maps", params={"exophone": NUMBER, "trunk_sid": other}
        )
        unmapped = await http.get(f"{ACCOUNT}/trunk-maps", params={"exophone": "+919876543211"})
        missing = await http.get(f"{ACCOUNT}/trunk-maps")
        invalid = await http.get(f"{ACCOUNT}/trunk-maps", params={"exophone": "98765"})
    [mapping] = items(found)
    assert (mapping["phone_number"], mapping["trunk_sid"]) == (NUMBER, sid)
    assert set(mapping) == {
        "id",
        "phone_number",
        "trunk_sid",
        "mode",
        "date_created",
        "date_updated",
    }
    assert items(narrowed) == []
    assert items(unmapped) == []
    assert error(missing) == (400, 1001, "Mandatory Parameter missing")
    assert error(invalid) == (400, 1002, "Invalid parameter")


async def test_a_number_is_updated_by_path_id_and_removed_by_query_id(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        created = await http.post(trunk_url(sid, "phone-numbers"), json={"phone_number": NUMBER})
        number_id = data(created)["id"]
        updated = await http.put(
            f"{trunk_url(sid, 'phone-numbers')}/{number_id}",
            json={"phone_number": NUMBER, "mode": "flow"},
        )
        wrong_number = await http.put(
            f"{trunk_url(sid, 'phone-numbers')}/{number_id}",
            json={"phone_number": "+919876543211", "mode": "flow"},
        )
        removed = await http.delete(trunk_url(sid, "phone-numbers"), params={"id": number_id})
        again = await http.delete(trunk_url(sid, "phone-numbers"), params={"id": number_id})
        no_id = await http.delete(trunk_url(sid, "phone-numbers"))
        elsewhere = await create_trunk(http, "elsewhere")
        remapped = await http.post(
            trunk_url(elsewhere, "phone-numbers"), json={"phone_number": NUMBER}
        )
    assert data(updated)["mode"] == "flow"
    assert error(wrong_number) == (400, 1002, "Invalid parameter")
    assert data(removed)["id"] == number_id
    assert error(again) == (404, 1000, "Not Found")
    assert error(no_id) == (400, 1001, "Mandatory Parameter missing")
    assert data(remapped)["trunk_sid"] == elsewhere  # the number was free again


async def test_ips_and_destinations_are_updated_and_removed(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        ip = data(
            await http.post(
                trunk_url(sid, "whitelisted-ips"), json={"ip": "203.0.113.0", "mask": 24}
            )
        )
        moved = await http.put(
            f"{trunk_url(sid, 'whitelisted-ips')}/{ip['id']}",
            json={"ip": "198.51.100.0", "mask": 28},
        )
        [destination] = items(
            await http.post(
                trunk_url(sid, "destination-uris"),
                json={"destinations": [{"destination": "pbx.example.com:5060"}]},
            )
        )
        weighted = await http.put(
            f"{trunk_url(sid, 'destination-uris')}/{destination['id']}",
            json={"priority": 1, "weight": 9},
        )
        negative = await http.put(
            f"{trunk_url(sid, 'destination-uris')}/{destination['id']}", json={"weight": -1}
        )
        ip_gone = await http.delete(trunk_url(sid, "whitelisted-ips"), params={"id": ip["id"]})
        destination_gone = await http.delete(
            trunk_url(sid, "destination-uris"), params={"id": destination["id"]}
        )
    assert (data(moved)["ip"], data(moved)["mask"]) == ("198.51.100.0", 28)
    assert destination["destination"] == "sip:pbx.example.com:5060"  # UDP: no transport
    assert (data(weighted)["priority"], data(weighted)["weight"]) == (1, 9)
    assert error(negative) == (400, 1002, "Invalid parameter")
    assert data(ip_gone)["id"] == ip["id"]
    assert data(destination_gone)["id"] == destination["id"]
    assert emulator.state.whitelisted_ips(sid) == []
    assert emulator.state.destinations(sid) == []


async def test_settings_are_listed_and_deleted_by_name(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        await http.post(
            trunk_url(sid, "settings"),
            json={"settings": [{"name": "trunk_external_alias", "value": NUMBER}]},
        )
        listed = await http.get(trunk_url(sid, "settings"))
        deleted = await http.delete(
            trunk_url(sid, "settings"), params={"name": "trunk_external_alias"}
        )
        again = await http.delete(
            trunk_url(sid, "settings"), params={"name": "trunk_external_alias"}
        )
    assert [(s["name"], s["value"]) for s in items(listed)] == [("trunk_external_alias", NUMBER)]
    assert data(deleted)["value"] == NUMBER
    assert error(again) == (404, 1000, "Not Found")


async def test_credentials_are_created_listed_updated_and_deleted_never_echoing_a_password(
    emulator: Emulator,
) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        url = trunk_url(sid, "credentials")
        created = await http.post(
            url, json={"user_name": "voicebot", "password": PASSWORD, "friendly_name": "Bot"}
        )
        credential_id = data(created)["id"]
        duplicate = await http.post(url, json={"user_name": "voicebot", "password": PASSWORD})
        second = await http.post(url, json={"user_name": "other", "password": PASSWORD})
        listed = await http.get(url)
        one = await http.get(url, params={"id": credential_id})
        updated = await http.put(
            f"{url}/{credential_id}", json={"password": f"{PASSWORD}!", "friendly_name": None}
        )
        long_label = await http.post(
            url, json={"user_name": "x", "password": PASSWORD, "friendly_name": "x" * 33}
        )
        no_password = await http.post(url, json={"user_name": "y"})
        spaced = await http.post(url, json={"user_name": "z", "password": f"{PASSWORD} "})
        deleted = await http.delete(url, params={"id": credential_id})
        responses = [
            created,
            duplicate,
            second,
            listed,
            one,
            updated,
            long_label,
            no_password,
            spaced,
            deleted,
        ]
    assert data(created) == {
        "id": "1234",
        "trunk_sid": sid,
        "user_name": "voicebot",
        "friendly_name": "Bot",
        "date_created": FIXED_NOW_TEXT,
        "date_updated": FIXED_NOW_TEXT,
    }
    assert error(duplicate) == (200, 1008, "Duplicate resource")
    assert [c["user_name"] for c in items(listed)] == ["other", "voicebot"]  # newest first
    assert [c["id"] for c in items(one)] == [credential_id]
    assert data(updated)["friendly_name"] is None
    assert error(long_label) == (400, 1002, "Invalid parameter")
    assert error(no_password) == (400, 1001, "Mandatory Parameter missing")
    assert error(spaced) == (400, 1002, "Invalid parameter")
    assert data(deleted)["id"] == credential_id
    for response in responses:
        assert PASSWORD not in response.text
    [remaining] = emulator.state.credentials(sid)
    assert remaining.user_name == "other"
    assert PASSWORD not in repr(remaining)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "trunks", 405),
        ("PUT", "trunks/{sid}", 404),
        ("GET", "trunk-maps?exophone=%2B919876543210", 404),
        ("DELETE", "trunks/{sid}/phone-numbers?id=1", 405),
        ("PUT", "trunks/{sid}/phone-numbers/1", 404),
        ("DELETE", "trunks/{sid}/whitelisted-ips?id=1", 405),
        ("PUT", "trunks/{sid}/whitelisted-ips/1", 404),
        ("DELETE", "trunks/{sid}/destination-uris?id=1", 405),
        ("PUT", "trunks/{sid}/destination-uris/1", 404),
        ("POST", "trunks/{sid}/credentials", 405),
        ("DELETE", "trunks/{sid}/credentials?id=1", 405),
        ("PUT", "trunks/{sid}/credentials/1", 404),
        ("GET", "trunks/{sid}/settings", 405),
        ("DELETE", "trunks/{sid}/settings?name=trunk_external_alias", 405),
    ],
)
async def test_the_reference_dialect_answers_the_live_only_endpoints_with_its_errors(
    anyio_backend: str, method: str, path: str, status: int
) -> None:
    emulator = make_emulator("reference")
    async with api(emulator) as http:
        sid = await create_trunk(http)
        response = await http.request(
            method, f"{ACCOUNT}/{path.format(sid=sid)}", json={} if method == "PUT" else None
        )
    expected = (
        (405, 1000, "Invalid request") if status == 405 else (404, 1003, "Resource not found")
    )
    assert error(response) == expected


@pytest.mark.parametrize(
    ("dialect", "knob", "issued"),
    [
        ("reference", None, True),
        ("live", None, False),
        ("live", True, True),
        ("reference", False, False),
    ],
)
async def test_issuing_credentials_at_trunk_creation_follows_the_dialect_unless_set(
    anyio_backend: str, dialect: str, knob: bool | None, issued: bool
) -> None:
    emulator = make_emulator(dialect, issue_credentials=knob)
    async with api(emulator) as http:
        sid = await create_trunk(http)
    assert (emulator.state.get_credentials(sid) is not None) is issued
    # The live dialect lists issued credentials as a digest credential named after the trunk.
    assert [c.user_name for c in emulator.state.credentials(sid)] == ([sid] if issued else [])
