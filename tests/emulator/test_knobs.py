"""Realism knobs and injected faults, in process, with a fake clock wherever time matters."""

from __future__ import annotations

import base64
import random
from typing import Any

import anyio
import httpx2
import pytest

from exotel_trunking.emulator import Emulator, FaultRule, Knobs, RateLimitConfig
from exotel_trunking.emulator._emulator import _sleep_at_least
from exotel_trunking.emulator._faults import path_matches
from exotel_trunking.emulator._messages import EmulatedRequest

from .emulator_helpers import (
    ACCOUNT,
    FIXED_NOW,
    KEY,
    TOKEN,
    FakeClock,
    api,
    create_trunk,
    make_emulator,
    trunk_url,
)

pytestmark = pytest.mark.anyio

NUMBER = {"phone_number": "+919876543210"}


async def test_fixed_latency_delays_every_api_request(emulator: Emulator) -> None:
    emulator.configure(latency=0.02)
    async with api(emulator) as http:
        started = anyio.current_time()
        await http.get(trunk_url("x", "credentials"))
        elapsed = anyio.current_time() - started
    assert elapsed >= 0.02
    assert emulator.requests[0].duration >= 0.02


async def test_latency_counts_from_the_request_s_arrival_at_the_front_end() -> None:
    clock = FakeClock()
    emulator = make_emulator(latency=30, clock=clock)
    authorization = "Basic " + base64.b64encode(f"{KEY}:{TOKEN}".encode()).decode()
    request = EmulatedRequest(
        "GET", f"{ACCOUNT}/trunks/x/credentials", headers={"Authorization": authorization}
    )
    arrived = clock()
    clock.advance(30)  # the front end took 30 s (by this clock) to read it whole
    with anyio.fail_after(5):  # 30 s if the time already waited were ignored
        exchange = await emulator.handle(request, arrived=arrived)
    assert exchange.response is not None
    assert exchange.response.status == 404


@pytest.mark.parametrize("seconds", [0.0004, 0.003, 0.0105, 0.02])
async def test_a_latency_wait_is_never_shorter_than_asked(seconds: float) -> None:
    for _ in range(5):
        started = anyio.current_time()
        await _sleep_at_least(seconds)
        assert anyio.current_time() - started >= seconds


def test_latency_jitter_is_drawn_from_the_seeded_generator() -> None:
    knobs = Knobs(latency=(0.1, 0.2))
    first = [knobs.sample_latency(random.Random(3)) for _ in range(3)]
    again = [knobs.sample_latency(random.Random(3)) for _ in range(3)]
    assert first == again
    assert all(0.1 <= value <= 0.2 for value in first)
    assert Knobs(latency="0.01-0.05").latency == (0.01, 0.05)
    assert Knobs(latency="0.05").latency == 0.05


@pytest.mark.parametrize(
    ("knob", "value"),
    [
        ("latency", -1),
        ("latency", (0.2, 0.1)),
        ("rate_limit", "fast"),
        ("rate_limit", (0, 1)),
        ("concurrency_limit", 0),
        ("page_size", 0),
        ("issue_credentials", "yes"),
        ("slow_seconds", -1),
        ("idle_timeout", 0),
        ("fault_retry_after", -1),
    ],
)
def test_invalid_knob_values_are_refused_and_change_nothing(knob: str, value: object) -> None:
    emulator = make_emulator()
    before = emulator.knobs.to_dict()
    with pytest.raises(ValueError, match="invalid"):
        emulator.configure(**{"slow_applies": False, knob: value})
    assert emulator.knobs.to_dict() == before


def test_unknown_knobs_and_faults_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown knob"):
        make_emulator().configure(latencyy=1)
    with pytest.raises(ValueError, match="fault"):
        make_emulator(faults={"504x": 0.5})
    with pytest.raises(ValueError, match=r"0\.0 to 1\.0"):
        make_emulator(faults={"503": 1.5})
    with pytest.raises(ValueError, match="dialect"):
        Emulator(dialect="legacy")  # type: ignore[arg-type]


def test_the_constructor_defaults_are_the_knob_defaults() -> None:
    assert Emulator().knobs == Knobs()


def test_rate_limit_specs_parse() -> None:
    assert RateLimitConfig.parse("200/60") == RateLimitConfig(200, 60.0)
    assert RateLimitConfig.parse("10/1/20").capacity == 20
    assert RateLimitConfig.parse("100/1s").rate == 100.0
    with pytest.raises(ValueError, match="calls/period"):
        RateLimitConfig.parse("100 per second")


async def test_token_bucket_allows_a_burst_then_answers_429_with_headers(
    anyio_backend: str,
) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock=clock, rate_limit=(2, 2.0))  # 1 token a second
    async with api(emulator) as http:
        first = await http.get(trunk_url("x", "credentials"))
        second = await http.get(trunk_url("x", "credentials"))
        third = await http.get(trunk_url("x", "credentials"))
        clock.advance(0.5)  # half a token: still limited
        fourth = await http.get(trunk_url("x", "credentials"))
        clock.advance(0.5)
        fifth = await http.get(trunk_url("x", "credentials"))
    assert [r.status_code for r in (first, second, third, fourth, fifth)] == [
        404,
        404,
        429,
        429,
        404,
    ]
    epoch = int(FIXED_NOW.timestamp())
    assert first.headers["x-ratelimit-limit"] == "2"
    assert first.headers["x-ratelimit-remaining"] == "1"
    assert first.headers["x-ratelimit-reset"] == str(epoch + 1)
    assert "retry-after" not in first.headers
    assert third.headers["retry-after"] == "1"
    assert third.headers["x-ratelimit-remaining"] == "0"
    assert third.json()["response"]["error_data"]["code"] == 1030
    assert fifth.headers["x-ratelimit-remaining"] == "0"
    assert emulator.counters.rate_limited == 2
    assert emulator.counters.by_status[429] == 2


async def test_retry_after_is_whole_seconds_rounded_up(anyio_backend: str) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock=clock, rate_limit="1/10")
    async with api(emulator) as http:
        await http.get(trunk_url("x", "credentials"))
        clock.advance(2.5)
        limited = await http.get(trunk_url("x", "credentials"))
    assert limited.headers["retry-after"] == "8"  # 7.5 s to the next token
    assert limited.headers["x-ratelimit-reset"] == str(int(FIXED_NOW.timestamp()) + 8)


async def test_no_rate_limit_headers_without_a_rate_limit(emulator: Emulator) -> None:
    async with api(emulator) as http:
        response = await http.get(trunk_url("x", "credentials"))
    assert not any(name.startswith("x-ratelimit") for name in response.headers)


async def test_changing_the_rate_limit_starts_a_full_bucket(anyio_backend: str) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock=clock, rate_limit="1/60")
    async with api(emulator) as http:
        await http.get(trunk_url("x", "credentials"))
        assert (await http.get(trunk_url("x", "credentials"))).status_code == 429
        emulator.configure(rate_limit="5/60")
        assert (await http.get(trunk_url("x", "credentials"))).status_code == 404
        emulator.configure(rate_limit=None)
        assert (await http.get(trunk_url("x", "credentials"))).status_code == 404


async def test_requests_beyond_the_concurrency_limit_answer_429(anyio_backend: str) -> None:
    emulator = make_emulator(concurrency_limit=2, latency=0.05)
    statuses: list[int] = []
    async with api(emulator) as http:

        async def call() -> None:
            statuses.append((await http.get(trunk_url("x", "credentials"))).status_code)

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(call)
    assert sorted(statuses) == [404, 404, 429, 429]
    assert emulator.counters.concurrency_limited == 2
    assert emulator._in_flight == 0


async def test_fault_503_answers_an_envelope_and_changes_nothing(emulator: Emulator) -> None:
    emulator.script("POST", "/trunks", "503")
    async with api(emulator) as http:
        response = await http.post(
            f"{ACCOUNT}/trunks",
            json={"trunk_name": "t", "nso_code": "ANY-ANY", "domain_name": "acme.pstn.exotel.com"},
        )
    assert response.status_code == 503
    assert response.json()["response"]["status"] == "failure"
    assert response.json()["http_code"] == 503
    assert emulator.state.trunks == []
    assert emulator.counters.by_fault["503"] == 1


async def test_fault_429_sends_the_configured_retry_after(emulator: Emulator) -> None:
    emulator.configure(fault_retry_after=7)
    emulator.script("GET", None, "429")
    async with api(emulator) as http:
        response = await http.get(trunk_url("x", "credentials"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["response"]["error_data"]["code"] == 1030


async def test_fault_502_html_is_an_nginx_page(emulator: Emulator) -> None:
    emulator.script(None, None, "502_html")
    async with api(emulator) as http:
        response = await http.get(trunk_url("x", "credentials"))
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert "<center>nginx</center>" in response.text


async def test_drop_before_raises_remote_protocol_error_and_changes_nothing(
    emulator: Emulator,
) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        emulator.script("POST", "/trunks/*/phone-numbers", "drop_before")
        with pytest.raises(
            httpx2.RemoteProtocolError, match="Server disconnected without sending a response"
        ):
            await http.post(trunk_url(sid, "phone-numbers"), json=NUMBER)
    assert emulator.state.phone_numbers(sid) == []
    assert emulator.requests[-1].status is None
    assert emulator.requests[-1].fault == "drop_before"


async def test_drop_after_applies_the_change_then_drops(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        emulator.script("POST", "/trunks/*/phone-numbers", "drop_after")
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.post(trunk_url(sid, "phone-numbers"), json=NUMBER)
        retry = await http.post(trunk_url(sid, "phone-numbers"), json=NUMBER)
    assert [r.phone_number for r in emulator.state.phone_numbers(sid)] == ["+919876543210"]
    assert retry.status_code == 409  # the retry finds the first attempt's work
    assert emulator.counters.unanswered == 1


async def test_slow_beyond_the_read_timeout_raises_read_timeout_after_it(
    emulator: Emulator,
) -> None:
    emulator.configure(slow_seconds=30)
    timeout = httpx2.Timeout(5.0, read=0.05)
    async with api(emulator, timeout=timeout) as http:
        sid = await create_trunk(http)
        emulator.script("POST", None, "slow")
        started = anyio.current_time()
        with pytest.raises(httpx2.ReadTimeout):
            await http.post(trunk_url(sid, "phone-numbers"), json=NUMBER)
        elapsed = anyio.current_time() - started
    assert 0.05 <= elapsed < 5
    assert len(emulator.state.phone_numbers(sid)) == 1  # like a real slow server: it landed
    assert (emulator.requests[-1].status, emulator.requests[-1].fault) == (None, "slow")


async def test_slow_that_does_not_apply_leaves_no_change_behind(emulator: Emulator) -> None:
    emulator.configure(slow_seconds=30, slow_applies=False)
    async with api(emulator, timeout=httpx2.Timeout(5.0, read=0.02)) as http:
        sid = await create_trunk(http)
        emulator.script("POST", None, "slow")
        with pytest.raises(httpx2.ReadTimeout):
            await http.post(trunk_url(sid, "phone-numbers"), json=NUMBER)
    assert emulator.state.phone_numbers(sid) == []


@pytest.mark.parametrize("applies", [True, False])
async def test_slow_within_the_timeout_answers_late(emulator: Emulator, applies: bool) -> None:
    emulator.configure(slow_seconds=0.02, slow_applies=applies)
    async with api(emulator, timeout=None) as http:
        sid = await create_trunk(http)
        emulator.script("POST", None, "slow")
        response = await http.post(trunk_url(sid, "phone-numbers"), json=NUMBER)
    assert response.status_code == 200
    assert emulator.requests[-1].duration >= 0.02
    assert emulator.requests[-1].status == 200


async def test_scripts_fire_the_given_number_of_times_then_stop(emulator: Emulator) -> None:
    async with api(emulator) as http:
        sid = await create_trunk(http)
        emulator.script("POST", "/trunks/*/phone-numbers", "503", times=2)
        statuses = []
        for n in range(3):
            response = await http.post(
                trunk_url(sid, "phone-numbers"), json={"phone_number": f"+91987654321{n}"}
            )
            statuses.append(response.status_code)
        other = await http.get(trunk_url(sid, "phone-numbers"))
    assert statuses == [503, 503, 200]
    assert other.status_code == 200
    assert emulator.faults.scripts == []


async def test_scripts_match_method_and_path_and_beat_probabilities(emulator: Emulator) -> None:
    emulator.set_faults({"429": 1.0})
    emulator.script("GET", "/trunks/*/credentials", "502_html")
    emulator.script("DELETE", None, "503")
    async with api(emulator) as http:
        posted = await http.post(trunk_url("x", "credentials"))
        got = await http.get(trunk_url("x", "credentials"))
        again = await http.get(trunk_url("x", "credentials"))
    assert [posted.status_code, got.status_code, again.status_code] == [429, 502, 429]
    assert len(emulator.faults.scripts) == 1  # the DELETE script is still waiting


def test_path_patterns_match_full_or_account_relative_paths() -> None:
    path = "/v2/accounts/acme/trunks/trind123/phone-numbers"
    assert path_matches("/trunks/*/phone-numbers", path)
    assert path_matches(path, path)
    assert path_matches("/v2/accounts/*/trunks/*/phone-numbers/", path)
    assert path_matches("/trunks/**", path)
    assert path_matches(None, path)
    assert not path_matches("/trunks/*", path)
    assert not path_matches("/trunks/*/whitelisted-ips", path)
    assert path_matches("/trunks", "/v2/accounts/acme/trunks")


async def run_sequence(seed: int, faults: dict[str, float]) -> list[str]:
    emulator = make_emulator(seed=seed, faults=faults)
    outcomes = []
    async with api(emulator) as http:
        for _ in range(60):
            try:
                response = await http.get(trunk_url("x", "credentials"))
                outcomes.append(str(response.status_code))
            except httpx2.RemoteProtocolError:
                outcomes.append("dropped")
    return outcomes


async def test_probabilistic_faults_are_deterministic_under_a_seed(anyio_backend: str) -> None:
    faults = {"503": 0.2, "429": 0.1, "drop_before": 0.1}
    first = await run_sequence(1, faults)
    assert first == await run_sequence(1, faults)
    assert first != await run_sequence(2, faults)
    assert {"503", "429", "dropped", "404"} <= set(first)


async def outcomes_by_path(paths: list[str], seed: int = 0) -> dict[str, str]:
    emulator = make_emulator(seed=seed, faults={"503": 0.3, "429": 0.2})
    outcomes: dict[str, str] = {}
    async with api(emulator) as http:
        for path in paths:
            outcomes[path] = str((await http.get(path)).status_code)
    return outcomes


async def test_faults_follow_the_request_not_its_place_in_the_order_of_arrival(
    anyio_backend: str,
) -> None:
    # Concurrent clients reach the emulator in an order that changes from run to run; each
    # request must meet the same fault for the same seed whatever that order.
    paths = [trunk_url(f"tr{n}", "credentials") for n in range(40)]
    in_order = await outcomes_by_path(paths)
    assert in_order == await outcomes_by_path(paths[::-1])
    assert in_order == await outcomes_by_path(paths[1::2] + paths[::2])
    assert {"503", "429", "404"} <= set(in_order.values())
    assert in_order != await outcomes_by_path(paths, seed=1)


async def test_probabilities_stack_so_one_draw_picks_at_most_one_fault(anyio_backend: str) -> None:
    outcomes = await run_sequence(0, {"503": 0.5, "429": 0.5})
    assert set(outcomes) == {"503", "429"}


async def test_rules_can_be_limited_to_a_method_and_path(emulator: Emulator) -> None:
    emulator.set_faults([FaultRule("503", 1.0, method="POST", path="/trunks/*/settings")])
    async with api(emulator) as http:
        sid = await create_trunk(http)
        settings = await http.post(
            trunk_url(sid, "settings"),
            json={"settings": [{"name": "trunk_external_alias", "value": "+919876543210"}]},
        )
        listed = await http.get(trunk_url(sid, "phone-numbers"))
    assert settings.status_code == 503
    assert listed.status_code == 200


async def test_faults_do_not_shift_ids_when_no_rule_matches(anyio_backend: str) -> None:
    async def trunk_sid(**kwargs: Any) -> str:
        emulator = make_emulator(**kwargs)
        async with api(emulator) as http:
            return await create_trunk(http)

    plain = await trunk_sid()
    assert plain == await trunk_sid(faults=[FaultRule("503", 0.5, method="DELETE")])


async def test_add_fault_and_clear_faults(emulator: Emulator) -> None:
    emulator.add_fault("503", 1.0, path="/trunks/*/credentials")
    emulator.script(None, None, "429")
    async with api(emulator) as http:
        assert (await http.get(trunk_url("x", "credentials"))).status_code == 429
        assert (await http.get(trunk_url("x", "credentials"))).status_code == 503
        emulator.clear_faults()
        assert (await http.get(trunk_url("x", "credentials"))).status_code == 404
    with pytest.raises(ValueError, match="times"):
        emulator.script(None, None, "503", times=0)


async def test_issue_credentials_knob_is_read_at_trunk_creation(emulator: Emulator) -> None:
    async with api(emulator) as http:
        with_credentials = await create_trunk(http, "a")
        emulator.configure(issue_credentials=False)
        without = await create_trunk(http, "b")
    assert emulator.state.get_credentials(with_credentials) is not None
    assert emulator.state.get_credentials(without) is None


async def test_the_whitelisting_rule_can_be_forced_either_way(anyio_backend: str) -> None:
    for dialect, forced, expected in (("reference", True, 1002), ("live", False, None)):
        emulator = make_emulator(dialect, require_whitelisted_destinations=forced)
        async with api(emulator) as http:
            sid = await create_trunk(http)
            response = await http.post(
                trunk_url(sid, "destination-uris"),
                json={"destinations": [{"destination": "198.51.100.1:5060;transport=tcp"}]},
            )
        item = response.json()["response"][0]
        assert (item.get("error_data") or {}).get("code") == expected
