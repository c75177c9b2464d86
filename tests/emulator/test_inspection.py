"""Inspection (request log, counters, snapshots), reset, secrets, and the admin endpoints."""

from __future__ import annotations

import json

import httpx2
import pytest

from exotel_trunking.emulator import EmulatedRequest, Emulator, RequestRecord

from .emulator_helpers import ACCOUNT, BASE, api, create_trunk, make_emulator, trunk_url

pytestmark = pytest.mark.anyio


async def test_the_request_log_records_what_happened_without_headers(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        await http.delete(f"{ACCOUNT}/trunks", params={"trunk_sid": sid})
        emulator.script(None, None, "drop_before")
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.get(trunk_url(sid, "credentials"))
    created, deleted, dropped = emulator.requests
    assert (created.method, created.path, created.query, created.status, created.fault) == (
        "POST",
        f"{ACCOUNT}/trunks",
        "",
        200,
        None,
    )
    assert (deleted.method, deleted.query, deleted.status) == ("DELETE", f"trunk_sid={sid}", 200)
    assert (dropped.status, dropped.fault) == (None, "drop_before")
    assert all(isinstance(r, RequestRecord) and r.duration >= 0 for r in emulator.requests)
    assert set(created.to_dict()) == {
        "method",
        "path",
        "query",
        "status",
        "fault",
        "duration",
        "arrived",
    }


async def test_counters_by_status_and_fault(emulator: Emulator) -> None:
    emulator.script(None, None, "503", times=2)
    emulator.script(None, None, "drop_after")
    async with api(emulator) as http:
        for _ in range(2):
            await http.get(trunk_url("x", "credentials"))
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.get(trunk_url("x", "credentials"))
        await http.get(trunk_url("x", "credentials"))
    assert emulator.counters.to_dict() == {
        "total": 4,
        "by_status": {"404": 1, "503": 2},
        "by_fault": {"503": 2, "drop_after": 1},
        "rate_limited": 0,
        "concurrency_limited": 0,
        "unanswered": 1,
    }


async def test_the_api_token_never_shows_up(anyio_backend: str) -> None:
    secret = "s3cr3t-token-value"
    emulator = make_emulator(api_token=secret)
    async with httpx2.AsyncClient(
        transport=emulator.transport(), base_url=BASE, auth=("k", secret)
    ) as http:
        await http.get(trunk_url("x", "credentials"))
        admin = await http.get("/_emulator/requests")
    texts = [
        repr(emulator),
        repr(emulator.transport()),
        repr(emulator._app),
        repr(emulator.requests),
        json.dumps(emulator.snapshot()),
        json.dumps(emulator.counters.to_dict()),
        admin.text,
        repr(EmulatedRequest("GET", "/", headers={"Authorization": "Basic " + secret})),
    ]
    assert not any(secret in text for text in texts)
    assert not hasattr(emulator, "api_token")


async def test_reset_restarts_state_log_counters_and_the_seed(emulator: Emulator) -> None:
    async with api(emulator) as http:
        first = await create_trunk(http)
        emulator.configure(latency=0.001)
        emulator.add_fault("503", 0.0)
        emulator.reset()
        assert emulator.state.trunks == []
        assert emulator.requests == []
        assert emulator.counters.total == 0
        assert emulator.faults.rules == []
        assert emulator.knobs.latency == 0.001  # knobs are configuration: they stay
        assert await create_trunk(http) == first  # the same seed, the same ids
        emulator.reset(knobs=True)
    assert emulator.knobs.latency == 0.0


async def test_admin_endpoints_in_process(emulator: Emulator) -> None:
    async with api(emulator, auth=None) as http:
        index = (await http.get("/_emulator")).json()
        knobs = await http.post(
            "/_emulator/knobs", json={"latency": 0, "page_size": 10, "faults": {"503": 0.0}}
        )
        bad = await http.post("/_emulator/knobs", json={"page_size": 0})
        unknown = await http.post("/_emulator/knobs", json={"nope": 1})
        script = await http.post(
            "/_emulator/scripts",
            json={"method": "GET", "path": "/trunks/*/credentials", "fault": "429", "times": 1},
        )
        faults = (await http.get("/_emulator/faults")).json()
        added = await http.post("/_emulator/faults", json={"kind": "slow", "probability": 0.0})
        missing = await http.get("/_emulator/nowhere")
        wrong_method = await http.delete("/_emulator/state")
        not_json = await http.post("/_emulator/knobs", content=b"[")
    assert index["dialect"] == "reference"
    assert "GET /_emulator/state" in index["endpoints"]
    assert knobs.status_code == 200
    assert knobs.json()["page_size"] == 10
    assert knobs.json()["faults"]["rules"] == [
        {
            "kind": "503",
            "probability": 0.0,
            "method": None,
            "path": None,
            "headers": {},
            "body": None,
            "seconds": None,
        }
    ]
    assert bad.status_code == 400
    assert "page_size" in bad.json()["error"]
    assert unknown.status_code == 400
    assert "unknown knob" in unknown.json()["error"]
    assert script.status_code == 200
    assert faults["scripts"] == [
        {
            "kind": "429",
            "method": "GET",
            "path": "/trunks/*/credentials",
            "remaining": 1,
            "headers": {},
            "body": None,
            "seconds": None,
        }
    ]
    assert added.json()["rules"][-1]["kind"] == "slow"
    assert missing.status_code == 404
    assert wrong_method.status_code == 405
    assert not_json.status_code == 400
    assert emulator.requests == []  # admin calls are not logged


async def test_admin_state_requests_counters_reset_and_credentials(anyio_backend: str) -> None:
    emulator = make_emulator(issue_credentials=False)
    async with api(emulator) as http:
        sid = await create_trunk(http)
        state = (await http.get("/_emulator/state")).json()
        requests = (await http.get("/_emulator/requests", params={"limit": 1})).json()
        counters = (await http.get("/_emulator/counters")).json()
        issued = await http.post(f"/_emulator/trunks/{sid}/credentials")
        unknown_trunk = await http.post("/_emulator/trunks/nope/credentials")
        credentials = (await http.get(trunk_url(sid, "credentials"))).json()
        cleared = (await http.delete("/_emulator/faults")).json()
        reset = await http.post("/_emulator/reset", json={"knobs": True})
        bad_reset = await http.post("/_emulator/reset", json={"knobs": "yes"})
    assert state["trunks"][0]["trunk_sid"] == sid
    assert state["trunks"][0]["credentials"] is None
    assert requests == {"requests": [emulator_request_dict(requests)]}
    assert counters["total"] == 1
    assert counters["by_status"] == {"200": 1}
    assert counters["connections"]["opened"] == 0
    assert issued.json() == {"trunk_sid": sid, "username": sid}
    assert "password" not in issued.text
    assert unknown_trunk.status_code == 404
    assert credentials["response"]["data"]["username"] == sid
    assert cleared == {"rules": [], "scripts": []}
    assert reset.json() == {"reset": True}
    assert bad_reset.status_code == 400
    assert emulator.state.trunks == []


def emulator_request_dict(payload: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    (only,) = payload["requests"]
    assert only["method"] == "POST"
    assert only["status"] == 200
    return only


async def test_admin_answers_only_loopback_clients(emulator: Emulator) -> None:
    for client, status in (("10.1.2.3", 403), ("127.0.0.1", 200), ("::1", 200), (None, 200)):
        exchange = await emulator.handle(
            EmulatedRequest("GET", "/_emulator/counters", client=client)
        )
        assert exchange.response is not None
        assert exchange.response.status == status


async def test_admin_is_exempt_from_auth_limits_and_faults(anyio_backend: str) -> None:
    emulator = make_emulator(rate_limit="1/60", faults={"drop_before": 1.0})
    async with api(emulator, auth=None) as http:
        for _ in range(3):
            assert (await http.get("/_emulator/counters")).status_code == 200


async def test_logging_keeps_only_the_most_recent_requests(anyio_backend: str) -> None:
    emulator = make_emulator(max_logged_requests=2)
    async with api(emulator) as http:
        for sub in ("phone-numbers", "whitelisted-ips", "credentials"):
            await http.get(trunk_url("x", sub))
        emulator.configure(max_logged_requests=1)
    assert [r.path.rsplit("/", 1)[1] for r in emulator.requests] == ["credentials"]
    assert emulator.counters.total == 3


def test_repr_is_short_and_useful() -> None:
    emulator = make_emulator("live")
    assert repr(emulator) == "Emulator(account_sid='acme', dialect='live', trunks=0, requests=0)"
    assert emulator.dialect == "live"
    assert emulator.account_sid == "acme"
    assert emulator.api_key == "k"
