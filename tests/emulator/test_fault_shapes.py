"""Faults that shape their answer, refused connections, dripped bodies and injected time.

Everything here that waits does so on a virtual clock handed to the emulator (``clock`` and
``sleep``), except the served tests, which use real sockets and short real pauses.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest

from exotel_trunking.emulator import Emulator, FaultRule, ScriptedFault
from exotel_trunking.emulator._faults import check_kind

from ..transport.virtual_time import VirtualTime, virtual_time
from .emulator_helpers import (
    ACCOUNT,
    KEY,
    TOKEN,
    api,
    create_trunk,
    make_emulator,
    trunk_url,
    wait_until,
)

pytestmark = pytest.mark.anyio

NUMBER = {"phone_number": "+919876543210"}


def on_virtual_time(clock: VirtualTime, **knobs: Any) -> Emulator:
    return make_emulator(clock=clock.monotonic, sleep=clock.pause, **knobs)


@pytest.mark.parametrize("kind", ["400", "404", "500", "502", "504", "599"])
def test_any_http_error_status_is_a_fault_kind(kind: str) -> None:
    assert check_kind(kind) == kind


@pytest.mark.parametrize(
    "kind", ["200", "399", "600", "5o3", "\u0665\u0660\u0663", "wobble", 503, None]
)
def test_other_kinds_are_refused_naming_what_is_valid(kind: object) -> None:
    with pytest.raises(ValueError, match=r"fault=.* is invalid: expected one of ok, 503, 429"):
        check_kind(kind)


@pytest.mark.parametrize(("status", "code"), [(400, 1000), (404, 1003), (500, 500), (504, 504)])
async def test_an_error_status_fault_answers_the_dialect_s_envelope_and_changes_nothing(
    emulator: Emulator, status: int, code: int
) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        emulator.script("POST", "/trunks/*/phone-numbers", str(status))
        response = await http.post(trunk_url(sid, "phone-numbers"), json=NUMBER)
    body = response.json()
    assert response.status_code == status
    assert body["http_code"] == status
    assert body["response"]["status"] == "failure"
    assert body["response"]["error_data"]["code"] == code
    assert emulator.state.phone_numbers(sid) == []
    assert (emulator.requests[-1].status, emulator.requests[-1].fault) == (status, str(status))


@pytest.mark.parametrize(
    ("status", "code"), [(504, 504), (500, 500), (404, 1000), (401, 1010), (400, 1002)]
)
async def test_an_error_status_fault_in_the_live_dialect_reads_as_the_service_s(
    status: int, code: int
) -> None:
    emulator = make_emulator("live")
    emulator.script("GET", None, str(status))
    async with api(emulator) as http:
        response = await http.get(f"{ACCOUNT}/trunks")
    envelope = response.json()["response"]
    assert response.status_code == status
    assert (envelope["code"], envelope["error_data"]["code"]) == (status, code)


async def test_headers_are_added_to_the_answer_replacing_ones_of_the_same_name(
    emulator: Emulator,
) -> None:
    emulator.configure(fault_retry_after=1)
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    emulator.script("GET", None, "429", headers={"Retry-After": date, "X-Extra": "yes"})
    emulator.script("GET", None, "503", headers=[("Retry-After", "7")])
    async with api(emulator) as http:
        limited = await http.get(trunk_url("x", "credentials"))
        unavailable = await http.get(trunk_url("x", "credentials"))
    assert limited.headers.get_list("retry-after") == [date]
    assert limited.headers["x-extra"] == "yes"
    assert unavailable.headers["retry-after"] == "7"


async def test_headers_shape_a_request_that_is_otherwise_answered_normally(
    emulator: Emulator,
) -> None:
    quota = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000060"}
    async with api(emulator) as http:
        sid = await create_trunk(http)
        emulator.script("POST", None, "ok", headers=quota)
        response = await http.post(trunk_url(sid, "phone-numbers"), json=NUMBER)
    assert response.status_code == 200
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert len(emulator.state.phone_numbers(sid)) == 1


async def test_a_body_replaces_the_error_envelope(emulator: Emulator) -> None:
    page = b"<html>" + b"x" * 10_000 + b"</html>"
    emulator.script("GET", None, "500", body=page)
    async with api(emulator) as http:
        response = await http.get(trunk_url("x", "credentials"))
    assert (response.status_code, response.content) == (500, page)
    assert response.headers["content-type"] == "text/plain; charset=utf-8"  # not JSON


async def test_a_json_body_is_labelled_json_and_headers_can_say_otherwise(
    emulator: Emulator,
) -> None:
    emulator.script("GET", None, "502", body=b'{"error": "upstream"}')
    html = {"content-type": "text/html"}
    emulator.script("GET", None, "502", body=b"<p>bad gateway</p>", headers=html)
    async with api(emulator) as http:
        labelled = await http.get(trunk_url("x", "credentials"))
        said = await http.get(trunk_url("x", "credentials"))
    assert labelled.headers["content-type"] == "application/json"
    assert said.headers.get_list("content-type") == ["text/html"]


async def test_refuse_raises_connect_error_in_process_and_changes_nothing(
    emulator: Emulator,
) -> None:
    emulator.script("POST", "/trunks", "refuse")
    async with api(emulator) as http:
        with pytest.raises(httpx2.ConnectError, match="Connection refused"):
            await http.post(f"{ACCOUNT}/trunks", json={"trunk_name": "t"})
    assert emulator.state.trunks == []
    assert (emulator.requests[-1].status, emulator.requests[-1].fault) == (None, "refuse")


@pytest.mark.slow
async def test_refuse_closes_a_served_connection_unanswered(anyio_backend: str) -> None:
    emulator = make_emulator()
    emulator.script("POST", "/trunks", "refuse")
    async with emulator.serve() as url, httpx2.AsyncClient(base_url=url, auth=(KEY, TOKEN)) as http:
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.post(f"{ACCOUNT}/trunks", json={"trunk_name": "t"})
    assert emulator.state.trunks == []


async def test_slow_body_sends_every_byte_a_pause_apart_on_the_emulator_s_sleep(
    anyio_backend: str,
) -> None:
    async with virtual_time() as clock:
        emulator = on_virtual_time(clock)
        emulator.script("GET", None, "slow_body", seconds=0.5)
        async with api(emulator, timeout=None) as http:
            started = clock.monotonic()
            response = await http.get(trunk_url("x", "credentials"))
            elapsed = clock.monotonic() - started
    assert response.status_code == 404
    assert response.json()["response"]["status"] == "failure"
    assert elapsed == pytest.approx(0.5 * len(response.content))
    assert emulator.state.trunks == []


async def test_slow_body_pauses_longer_than_the_read_timeout_raise_read_timeout(
    anyio_backend: str,
) -> None:
    async with virtual_time() as clock:
        emulator = on_virtual_time(clock)
        async with api(emulator, timeout=httpx2.Timeout(5.0, read=2.0)) as http:
            sid = await create_trunk(http)
            emulator.script("POST", None, "slow_body", seconds=3.0)
            started = clock.monotonic()
            with pytest.raises(httpx2.ReadTimeout):
                await http.post(trunk_url(sid, "phone-numbers"), json=NUMBER)
            elapsed = clock.monotonic() - started
    assert elapsed == 2.0
    assert len(emulator.state.phone_numbers(sid)) == 1  # applied before the body set out


@pytest.mark.slow
async def test_a_served_slow_body_arrives_whole_a_byte_at_a_time(anyio_backend: str) -> None:
    emulator = make_emulator()
    emulator.script("GET", None, "slow_body", seconds=0.0005)
    chunks: list[bytes] = []
    async with (
        emulator.serve() as url,
        httpx2.AsyncClient(base_url=url, auth=(KEY, TOKEN)) as http,
        http.stream("GET", trunk_url("x", "credentials")) as response,
    ):
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
    body = b"".join(chunks)
    assert response.status_code == 404
    assert json.loads(body)["response"]["status"] == "failure"
    assert len(chunks) > 1  # not one write: the bytes came apart


async def test_latency_and_slow_answers_wait_on_the_injected_sleep(anyio_backend: str) -> None:
    async with virtual_time(start=100.0) as clock:
        emulator = on_virtual_time(clock, latency=30.0)
        emulator.script("GET", None, "slow", seconds=600.0)
        with anyio.fail_after(5):  # 630 s of emulated time, no real waiting
            async with api(emulator, timeout=None) as http:
                response = await http.get(trunk_url("x", "credentials"))
    record = emulator.requests[-1]
    assert response.status_code == 404
    assert (record.arrived, record.duration) == (100.0, 630.0)


async def test_the_request_log_says_when_each_request_arrived(anyio_backend: str) -> None:
    async with virtual_time(start=10.0) as clock:
        emulator = on_virtual_time(clock, latency=1.0)
        async with api(emulator) as http:
            await http.get(trunk_url("x", "credentials"))
            await clock.pause(5.0)
            await http.get(trunk_url("x", "credentials"))
    assert [record.arrived for record in emulator.requests] == [10.0, 16.0]


@pytest.mark.slow
async def test_idle_keep_alive_connections_closed_by_the_emulator_are_counted(
    anyio_backend: str,
) -> None:
    emulator = make_emulator(idle_timeout=0.05)
    async with emulator.serve() as url, httpx2.AsyncClient(base_url=url, auth=(KEY, TOKEN)) as http:
        await http.get(trunk_url("x", "credentials"))
        await wait_until(lambda: emulator.connections.closed > 0)
    assert emulator.connections.idle_closed == 1
    assert emulator.connections.closed == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("headers", "Retry-After: 3", "headers='Retry-After: 3' is invalid"),
        ("headers", {"Retry-After": 3}, "names and values must be str"),
        ("body", 42, "body=42 is invalid"),
        ("headers", ["ab"], r"expected \(name, value\) pairs"),
        ("headers", {"X-A": "1\r\nX-B: 2"}, "the value of 'X-A' is invalid"),
        ("headers", {"X-A": "\u20ac"}, "the value of 'X-A' is invalid"),
        ("headers", {"Content-Length": "5"}, "'Content-Length' is invalid"),
        ("headers", {"Bad Name": "1"}, "'Bad Name' is invalid"),
        ("seconds", -1, "seconds=-1 is invalid"),
        ("seconds", True, "seconds=True is invalid"),
        ("seconds", float("nan"), "seconds=nan is invalid"),
        ("seconds", float("inf"), "seconds=inf is invalid"),
    ],
)
def test_bad_answer_shapes_are_refused_naming_the_option(
    emulator: Emulator, option: str, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        emulator.script("GET", None, "503", **{option: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        emulator.add_fault("503", **{option: value})  # type: ignore[arg-type]
    assert emulator.faults.scripts == []
    assert emulator.faults.rules == []


def test_shaped_faults_are_listed_json_ready(emulator: Emulator) -> None:
    emulator.script("GET", None, "500", headers={"X-A": "1"}, body="oops", seconds=None)
    emulator.add_fault("slow_body", 0.5, seconds=0.25)
    listed = json.loads(json.dumps(emulator.faults.to_dict()))
    assert listed["scripts"][0]["headers"] == {"x-a": "1"}
    assert listed["scripts"][0]["body"] == "oops"
    assert listed["rules"][0]["seconds"] == 0.25
    assert isinstance(emulator.faults.scripts[0], ScriptedFault)
    assert isinstance(emulator.faults.rules[0], FaultRule)


async def test_the_admin_api_scripts_shaped_faults(emulator: Emulator) -> None:
    async with api(emulator) as http:
        added = await http.post(
            "/_emulator/scripts",
            json={"method": "GET", "fault": "504", "headers": {"Retry-After": "9"}},
        )
        response = await http.get(trunk_url("x", "credentials"))
    assert added.status_code == 200
    assert response.status_code == 504
    assert response.headers["retry-after"] == "9"


async def test_write_error_raises_write_error_in_process_and_changes_nothing(
    emulator: Emulator,
) -> None:
    emulator.script("POST", "/trunks", "write_error")
    async with api(emulator) as http:
        with pytest.raises(httpx2.WriteError):
            await create_trunk(http, "t")
        await create_trunk(http, "t")  # not a duplicate: the first never arrived
    assert [trunk.trunk_name for trunk in emulator.state.trunks] == ["t"]
    assert [record.fault for record in emulator.requests] == ["write_error", None]


@pytest.mark.parametrize(
    ("kind", "option", "message"),
    [
        ("slow", {"body": b"x"}, "body= is invalid with fault 'slow'"),
        ("drop_after", {"body": b"x"}, "body= is invalid with fault 'drop_after'"),
        ("503", {"seconds": 1.0}, "seconds= is invalid with fault '503'"),
        ("ok", {"seconds": 1.0}, "seconds= is invalid with fault 'ok'"),
        ("drop_before", {"headers": {"X-A": "1"}}, "headers= is invalid with fault 'drop_before'"),
        ("refuse", {"headers": {"X-A": "1"}}, "headers= is invalid with fault 'refuse'"),
    ],
)
def test_an_option_the_kind_would_ignore_is_refused(
    emulator: Emulator, kind: str, option: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        emulator.script("GET", None, kind, **option)
    with pytest.raises(ValueError, match=message):
        emulator.add_fault(kind, **option)
    assert (emulator.faults.scripts, emulator.faults.rules) == ([], [])


async def test_a_fault_s_headers_win_over_the_rate_limit_s(anyio_backend: str) -> None:
    emulator = make_emulator(rate_limit="100/1")
    emulator.script("GET", None, "ok", headers={"X-RateLimit-Remaining": "0"})
    async with api(emulator) as http:
        shaped = await http.get(trunk_url("x", "credentials"))
        plain = await http.get(trunk_url("x", "credentials"))
    assert shaped.headers.get_list("x-ratelimit-remaining") == ["0"]
    assert plain.headers["x-ratelimit-remaining"] == "98"  # the bucket's own count
    assert emulator.requests[0].fault == "ok"


async def test_a_429_with_its_own_body_still_says_when_to_retry(emulator: Emulator) -> None:
    emulator.configure(fault_retry_after=4)
    emulator.script("GET", None, "429", body=b'{"message": "slow down"}')
    async with api(emulator) as http:
        response = await http.get(trunk_url("x", "credentials"))
    assert (response.status_code, response.json()) == (429, {"message": "slow down"})
    assert response.headers["retry-after"] == "4"


@pytest.mark.parametrize(
    "script",
    [
        {"fault": "504", "headers": {"Retry-After": 9}},
        {"fault": "504", "headers": {"X-A": "1\r\nX-B: 2"}},
        {"fault": "slow", "seconds": "soon"},
        {"fault": "503", "body": {"not": "bytes"}},
        {"fault": "drop_after", "headers": {"X-A": "1"}},
        {"fault": "503", "method": ["GET"]},
        {"fault": "503", "path": 7},
        {"fault": "503", "path": "trunks"},
    ],
)
async def test_the_admin_api_answers_400_for_a_bad_shape_and_adds_nothing(
    emulator: Emulator, script: dict[str, Any]
) -> None:
    async with api(emulator) as http:
        added = await http.post("/_emulator/scripts", json={"method": "GET", **script})
        after = await http.get(trunk_url("x", "credentials"))
    assert added.status_code == 400
    assert "invalid" in added.json()["error"]
    assert emulator.faults.scripts == []
    assert after.status_code == 404  # the emulator answers as before, not with a 500


async def test_a_head_request_gets_no_body_in_process_even_from_slow_body(
    emulator: Emulator,
) -> None:
    emulator.script("HEAD", None, "slow_body", seconds=30.0)
    async with api(emulator) as http:
        with anyio.fail_after(5):  # a dripped body would take 30 s a byte
            shaped = await http.head(trunk_url("x", "credentials"))
        plain = await http.head(trunk_url("x", "credentials"))
    assert (shaped.content, plain.content) == (b"", b"")
    assert shaped.status_code == plain.status_code
