"""The request loop on virtual time: what is retried, when, how often, and what is raised.

Each test serves the shipped :class:`~exotel_trunking.emulator.Emulator` in process
(:func:`~.emulated.emulator_on`, :func:`~.emulated.client_on`) and puts the emulator, the
client's retries and its limiter on one :class:`~.virtual_time.VirtualTime`, so the delays the
SDK chooses are observed exactly and nothing waits for real. Faults are the emulator's own
(``emulator.script``, ``emulator.add_fault``, its ``latency`` knob); what happened is read from
its request log and state; :class:`~.emulated.AnswerLog` keeps the answers it sent.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import anyio
import httpx2
import pytest

from exotel_trunking import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncTrunkingClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PhoneNumber,
    RateLimit,
    RateLimitError,
    RetryEvent,
    RetryPolicy,
    Trunk,
    TrunkSetting,
    UnprocessableEntityError,
    WhitelistedIp,
)
from exotel_trunking.emulator import Dialect, Emulator

from .emulated import (
    ACCOUNT_PATH,
    API_TOKEN,
    arrivals,
    attempts,
    client_on,
    create_trunk,
    emulator_on,
    logged_client,
    peak_share,
)
from .virtual_time import EPOCH, VirtualTime, virtual_time

pytestmark = pytest.mark.anyio

T0 = 1_000.0
NUMBER = "+919876543210"
NUMBERS = "/trunks/*/phone-numbers"
#: A ``slow`` answer this late outlasts the client's 30 s read timeout; the change still lands.
SLOW = 60.0


def numbers_path(sid: str) -> str:
    return f"{ACCOUNT_PATH}/trunks/{sid}/phone-numbers"


def http_date(moment: float) -> str:
    """``moment`` (virtual monotonic seconds) as an HTTP date on the virtual wall clock."""
    return email.utils.formatdate(EPOCH + moment, usegmt=True)


def retry_after(value: str) -> dict[str, str]:
    return {"Retry-After": value}


def statuses(emulator: Emulator, method: str | None = None, fragment: str = "") -> list[int | None]:
    """The status each logged request was answered with (``None``: no answer)."""
    return [record.status for record in attempts(emulator, method, fragment)]


def sdk_sleeps_end_by(clock: VirtualTime) -> float:
    return max((start + seconds for start, seconds in clock.sleeps), default=clock.monotonic())


# The status table (painpoint 13): which failures are retried, for which calls.

Call = Callable[[AsyncTrunkingClient, str], Awaitable[object]]

#: Each call: its method, the emulator path pattern it hits, and how to make it on trunk ``sid``.
CALLS: dict[str, tuple[str, str, Call]] = {
    "list": ("GET", NUMBERS, lambda client, sid: client.phone_numbers.list(sid)),
    "delete": ("DELETE", "/trunks", lambda client, sid: client.trunks.delete(sid)),
    "create": ("POST", "/trunks", lambda client, sid: client.trunks.create("t1")),
    "map": ("POST", NUMBERS, lambda client, sid: client.phone_numbers.map(sid, NUMBER)),
}


def assert_applied_once(call: str, emulator: Emulator, sid: str, before: dict[str, Any]) -> None:
    """The call's change is in the emulator's state exactly once (a list changes nothing)."""
    trunks = emulator.state.trunks
    if call == "list":
        assert emulator.snapshot() == before
    elif call == "delete":
        assert sid not in [trunk.trunk_sid for trunk in trunks]
    elif call == "create":
        assert sorted(trunk.trunk_name for trunk in trunks) == ["existing", "t1"]
    else:
        assert [number.phone_number for number in emulator.state.phone_numbers(sid)] == [NUMBER]


FINAL_STATUSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    500: InternalServerError,
}


@pytest.mark.parametrize("status", FINAL_STATUSES)
@pytest.mark.parametrize("call", CALLS)
async def test_an_error_status_other_than_429_502_503_504_is_raised_after_one_attempt(
    call: str, status: int
) -> None:
    method, pattern, run = CALLS[call]
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator, "existing")
        before = emulator.snapshot()
        emulator.script(method, pattern, str(status))
        client, wire = logged_client(emulator, clock)

        with pytest.raises(FINAL_STATUSES[status]) as caught:
            await run(client, sid)

    error = caught.value
    [body] = wire.bodies
    error_data = body["response"]["error_data"]
    assert (error.status_code, error.attempts) == (status, 1)
    assert error.error_code == error_data["code"]
    assert error.error_code is not None
    assert error.request_id == body["request_id"]
    assert error.request_id
    assert error.message == error_data["message"] == HTTPStatus(status).phrase
    assert [(record.status, record.fault) for record in emulator.requests] == [
        (status, str(status))
    ]
    assert emulator.snapshot() == before  # an error status applies nothing
    assert clock.sleeps == []


ALWAYS_RETRIED = ["429", "503", "refuse"]


@pytest.mark.parametrize("fault", ALWAYS_RETRIED, ids=["429", "503", "connect-refused"])
@pytest.mark.parametrize("call", CALLS)
async def test_429_503_and_connection_failures_before_sending_are_retried_for_every_call(
    call: str, fault: str
) -> None:
    method, pattern, run = CALLS[call]
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator, "existing")
        before = emulator.snapshot()
        emulator.script(method, pattern, fault)
        client = client_on(emulator, clock)

        await run(client, sid)

    records = attempts(emulator, method)
    assert [record.fault for record in records] == [fault, None]
    assert records[-1].status == 200
    assert_applied_once(call, emulator, sid, before)


#: Failures after which the request may have been applied: (fault kind, its ``seconds``).
MAYBE_APPLIED: dict[str, tuple[str, float | None]] = {
    "502": ("502", None),
    "504": ("504", None),
    "read-timeout-after-applying": ("slow", SLOW),
    "disconnect-after-applying": ("drop_after", None),
    "disconnect-before-applying": ("drop_before", None),
    "write-error": ("write_error", None),
}


def inject(emulator: Emulator, method: str, pattern: str, fault: str) -> None:
    kind, seconds = MAYBE_APPLIED[fault]
    emulator.script(method, pattern, kind, seconds=seconds)


@pytest.mark.parametrize("fault", MAYBE_APPLIED)
@pytest.mark.parametrize("call", ["list", "delete", "map"])
async def test_failures_that_may_have_applied_the_request_are_retried_for_safe_calls(
    call: str, fault: str
) -> None:
    method, pattern, run = CALLS[call]
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator, "existing")
        before = emulator.snapshot()
        inject(emulator, method, pattern, fault)
        client = client_on(emulator, clock)

        result = await run(client, sid)

    assert [record.fault for record in attempts(emulator, method)] == [
        MAYBE_APPLIED[fault][0],
        None,
    ]
    assert_applied_once(call, emulator, sid, before)
    if call == "map":
        assert isinstance(result, PhoneNumber)
        assert result.id == emulator.state.phone_numbers(sid)[0].id
    if call == "delete":
        assert result is None


@pytest.mark.parametrize("fault", MAYBE_APPLIED)
async def test_trunks_create_is_never_repeated_once_the_request_may_have_been_applied(
    fault: str,
) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        inject(emulator, "POST", "/trunks", fault)
        client = client_on(emulator, clock)

        with pytest.raises((APIConnectionError, InternalServerError)) as caught:
            await client.trunks.create("t1")

    assert len(attempts(emulator, "POST")) == 1
    assert isinstance(caught.value, APIConnectionError | InternalServerError)
    assert caught.value.attempts == 1
    assert clock.sleeps == []


async def test_trunks_create_after_a_read_timeout_says_the_trunk_may_exist() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        emulator.script("POST", "/trunks", "slow", seconds=SLOW)
        client = client_on(emulator, clock)

        with pytest.raises(APITimeoutError) as caught:
            await client.trunks.create("t1")

    message = str(caught.value)
    assert isinstance(caught.value, APIConnectionError)
    assert "'t1' may have been created" in message
    assert f"POST {ACCOUNT_PATH}/trunks" in message
    assert [trunk.trunk_name for trunk in emulator.state.trunks] == ["t1"]
    assert statuses(emulator, "POST") == [None]  # the client gave up before the answer


async def test_trunks_create_after_a_dropped_connection_is_a_connection_error_not_a_timeout() -> (
    None
):
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        emulator.script("POST", "/trunks", "drop_after")
        client = client_on(emulator, clock)

        with pytest.raises(APIConnectionError) as caught:
            await client.trunks.create("t1")

    assert not isinstance(caught.value, APITimeoutError)
    assert "may have been created" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert len(emulator.state.trunks) == 1


async def test_trunks_create_is_retried_when_the_connection_was_refused() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        emulator.script("POST", "/trunks", "refuse", times=2)
        client = client_on(emulator, clock)

        trunk = await client.trunks.create("t1")

    assert isinstance(trunk, Trunk)
    assert trunk.trunk_name == "t1"
    assert [t.trunk_sid for t in emulator.state.trunks] == [trunk.trunk_sid]
    assert [record.fault for record in attempts(emulator, "POST")] == ["refuse", "refuse", None]


# Unknown outcome, then a 409: the existing record is returned.


@pytest.mark.parametrize("dialect", ["reference", "live"], ids=["http-409", "live-200-code-409"])
@pytest.mark.parametrize("drop", ["drop_after", "slow"], ids=["disconnect", "read-timeout"])
async def test_map_whose_first_attempt_was_applied_returns_the_existing_mapping(
    dialect: Dialect, drop: str
) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock, dialect=dialect)
        sid = create_trunk(emulator)
        emulator.script("POST", NUMBERS, drop, seconds=SLOW if drop == "slow" else None)
        client = client_on(emulator, clock)

        number = await client.phone_numbers.map(sid, "+91 98765-43210")

    [stored] = emulator.state.phone_numbers(sid)
    assert number.phone_number == stored.phone_number == NUMBER
    assert number.id == stored.id
    assert [(record.method, record.status, record.fault) for record in emulator.requests] == [
        ("POST", None, drop),
        ("POST", 409 if dialect == "reference" else 200, None),
        ("GET", 200, None),
    ]


async def test_whitelist_whose_first_attempt_was_applied_returns_the_existing_entry() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("POST", "/trunks/*/whitelisted-ips", "drop_after")
        client = client_on(emulator, clock)

        entry = await client.whitelisted_ips.add(sid, "203.0.113.0/24")

    [stored] = emulator.state.whitelisted_ips(sid)
    assert isinstance(entry, WhitelistedIp)
    assert (entry.ip, entry.mask) == (stored.ip, stored.mask) == ("203.0.113.0", 24)
    assert entry.id == stored.id
    assert statuses(emulator, "POST") == [None, 409]


async def test_destinations_whose_first_attempt_was_applied_return_the_existing_records() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("POST", "/trunks/*/destination-uris", "drop_after")
        wanted = ["sip:203.0.113.50:5061;transport=tls", "PBX.example.com:5060;transport=tcp"]
        client = client_on(emulator, clock)

        added = await client.destination_uris.add(sid, wanted)

    stored = emulator.state.destinations(sid)
    assert [uri.destination for uri in added] == [
        "sip:203.0.113.50:5061;transport=tls",
        "sip:pbx.example.com:5060;transport=tcp",
    ]
    assert [uri.id for uri in added] == [record.id for record in stored]
    assert len(stored) == 2
    assert statuses(emulator, "POST")[0] is None


async def test_set_alias_whose_first_attempt_was_applied_returns_the_alias_as_set() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("POST", "/trunks/*/settings", "slow", seconds=SLOW)
        client = client_on(emulator, clock)

        setting = await client.settings.set_alias(sid, NUMBER)

    assert isinstance(setting, TrunkSetting)
    assert (setting.name, setting.value, setting.trunk_sid) == (
        "trunk_external_alias",
        NUMBER,
        sid,
    )
    assert statuses(emulator, "POST", "settings") == [None, 200]
    assert [(s.name, s.value) for s in emulator.state.settings(sid)] == [
        ("trunk_external_alias", NUMBER)
    ]


async def test_a_409_on_the_repeat_that_the_list_cannot_explain_is_raised() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("POST", NUMBERS, "drop_before")
        emulator.script("POST", NUMBERS, "409")
        client = client_on(emulator, clock)

        with pytest.raises(ConflictError) as caught:
            await client.phone_numbers.map(sid, NUMBER)

    assert caught.value.attempts == 2
    assert statuses(emulator, "GET") == [200]  # it looked, and found nothing
    assert emulator.state.phone_numbers(sid) == []


async def test_a_409_on_the_first_attempt_is_raised_without_looking_for_the_record() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.state.map_phone_number(sid, NUMBER)
        client = client_on(emulator, clock)

        with pytest.raises(ConflictError):
            await client.phone_numbers.map(sid, NUMBER)

    assert statuses(emulator, "POST") == [409]
    assert attempts(emulator, "GET") == []


async def test_delete_whose_first_attempt_was_applied_counts_a_404_as_deleted() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("DELETE", "/trunks", "slow", seconds=SLOW)
        client = client_on(emulator, clock)

        assert await client.trunks.delete(sid) is None  # type: ignore[func-returns-value]

    assert statuses(emulator) == [None, 404]
    assert emulator.state.trunks == []


# Retry-After (painpoints 7 and 8).


@pytest.mark.parametrize("rate_limit", [None, RateLimit()], ids=["unpaced", "paced"])
async def test_retry_after_seconds_is_honoured_exactly_with_one_retry(
    rate_limit: RateLimit | None,
) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "429", headers=retry_after("3"))
        client = client_on(emulator, clock, rand=lambda: 0.0, rate_limit=rate_limit)

        await client.phone_numbers.list(sid)

    assert arrivals(emulator) == [T0, T0 + 3.0]
    assert statuses(emulator) == [429, 200]


async def test_jitter_after_retry_after_only_ever_adds_time() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "429", headers=retry_after("3"))
        client = client_on(emulator, clock, rand=lambda: 0.999)

        await client.phone_numbers.list(sid)

    first, second = arrivals(emulator)
    assert 3.0 <= second - first < 3.0 + 2.0


async def test_retry_after_http_date_is_honoured_to_the_second() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        # Five seconds ahead on the wall clock the emulator and the client share.
        date = email.utils.formatdate(clock.time() + 5, usegmt=True)
        assert date == http_date(T0 + 5)
        emulator.script("GET", NUMBERS, "429", headers=retry_after(date))
        client = client_on(emulator, clock, rand=lambda: 0.0)

        await client.phone_numbers.list(sid)

    assert arrivals(emulator) == [T0, T0 + 5.0]


async def test_retry_after_on_a_503_is_honoured_instead_of_backoff() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "503", headers=retry_after("7"))
        client = client_on(emulator, clock, rand=lambda: 0.5)

        await client.phone_numbers.list(sid)

    assert arrivals(emulator) == [T0, T0 + 7.0]


async def test_during_a_429_cool_down_no_task_of_the_client_sends_anything() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "429", headers=retry_after("4"))
        client = client_on(emulator, clock, rand=lambda: 0.0)

        async def late_caller() -> None:
            await clock.sleep(1.0)
            await client.whitelisted_ips.list(sid)

        async with anyio.create_task_group() as group:
            group.start_soon(late_caller)
            await client.phone_numbers.list(sid)

    assert arrivals(emulator) == [T0, T0 + 4.0, T0 + 4.0]
    assert arrivals(emulator, "GET", "whitelisted-ips") == [T0 + 4.0]


async def test_a_cool_down_from_a_derived_client_holds_the_original_too() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "429", headers=retry_after("4"))
        client = client_on(emulator, clock, rand=lambda: 0.0)
        derived = client.with_options(timeout=5.0)

        async def late_caller() -> None:
            await clock.sleep(1.0)
            await client.whitelisted_ips.list(sid)

        async with anyio.create_task_group() as group:
            group.start_soon(late_caller)
            await derived.phone_numbers.list(sid)

    assert arrivals(emulator, "GET", "whitelisted-ips") == [T0 + 4.0]


async def test_a_429_that_ends_the_call_still_holds_the_clients_other_requests() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "429", headers=retry_after("4"))
        client = client_on(emulator, clock, rand=lambda: 0.0)

        with pytest.raises(RateLimitError):
            await client.with_options(max_retries=0).phone_numbers.list(sid)
        await client.whitelisted_ips.list(sid)

    assert arrivals(emulator, "GET", "whitelisted-ips") == [T0 + 4.0]


async def test_retry_after_beyond_the_cap_raises_at_once_carrying_retry_after() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "429", headers=retry_after("600"))
        client = client_on(emulator, clock, retry=RetryPolicy(max_retry_after=120.0))

        with pytest.raises(RateLimitError) as caught:
            await client.phone_numbers.list(sid)

        assert clock.monotonic() == T0

    assert caught.value.retry_after == 600.0
    assert "retry_after=600s" in str(caught.value)
    assert clock.sleeps == []
    assert len(emulator.requests) == 1


async def test_a_raised_cap_lets_the_client_sleep_through_a_long_retry_after() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "429", headers=retry_after("600"))
        client = client_on(emulator, clock, rand=lambda: 0.0)
        patient = client.with_options(retry=RetryPolicy(max_retry_after=900.0))

        await patient.phone_numbers.list(sid)

    assert arrivals(emulator) == [T0, T0 + 600.0]


@pytest.mark.parametrize(
    ("value", "wait"),
    [
        pytest.param("-1", 0.5, id="negative"),
        pytest.param("nan", 0.5, id="nan"),
        pytest.param("1e999", 0.5, id="overflowing"),
        pytest.param("abc", 0.5, id="garbage"),
        pytest.param("", 0.5, id="empty"),
        pytest.param("Mon, 99 Foo 2015 07:28:00 GMT", 0.5, id="malformed-date"),
        pytest.param("1.5", 1.5, id="fractional"),
        pytest.param(" 2 ", 2.0, id="padded"),
        pytest.param("3, 1", 3.0, id="duplicated"),
    ],
)
@pytest.mark.parametrize("status", [429, 503])
async def test_a_nonsensical_retry_after_falls_back_to_backoff_and_never_crashes(
    status: int, value: str, wait: float
) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        # Replaces the Retry-After an injected 429 carries by default.
        emulator.script("GET", NUMBERS, str(status), headers=retry_after(value))
        client, wire = logged_client(emulator, clock, rand=lambda: 0.5)  # backoff: 0.5 s

        await client.phone_numbers.list(sid)

    first, second = arrivals(emulator)
    assert statuses(emulator) == [status, 200]
    assert wire.answers[0].headers.get_list("retry-after") == [value]  # as sent, alone
    if status == 503:
        assert second - first == pytest.approx(wait)
    else:  # a cool-down: waiters are spread over a share of it, after it
        assert wait <= second - first < wait + 1.0


@pytest.mark.parametrize("value", ["9999999999", http_date(T0 + 7 * 86_400)])
async def test_an_absurdly_long_retry_after_raises_instead_of_hanging(value: str) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "429", headers=retry_after(value))
        client = client_on(emulator, clock)

        with pytest.raises(RateLimitError) as caught:
            await client.phone_numbers.list(sid)

    assert caught.value.retry_after == 86_400.0
    assert clock.sleeps == []
    assert len(emulator.requests) == 1


# X-RateLimit-Remaining / X-RateLimit-Reset (painpoint 9).


@pytest.mark.parametrize(
    ("reset", "held_for"),
    [
        pytest.param(str(int(EPOCH + T0 + 2)), 2.0, id="epoch-seconds"),
        pytest.param("2", 2.0, id="delta-seconds"),
        pytest.param(str(int(EPOCH + T0 - 30)), 0.0, id="epoch-in-the-past"),
        pytest.param(str(int((EPOCH + T0 + 2) * 1000)), 2.0, id="epoch-milliseconds"),
    ],
)
async def test_an_exhausted_quota_holds_the_next_request_until_the_reset(
    reset: str, held_for: float
) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        quota = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
        # A normal answer that says the quota is spent.
        emulator.script("GET", NUMBERS, "ok", headers=quota)
        client = client_on(emulator, clock, rand=lambda: 0.0)

        await client.phone_numbers.list(sid)
        await client.phone_numbers.list(sid)

    assert statuses(emulator) == [200, 200]
    assert arrivals(emulator) == [T0, pytest.approx(T0 + held_for)]


async def test_an_absurd_rate_limit_reset_holds_requests_no_longer_than_the_cap() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        quota = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9999999999"}
        emulator.script("GET", NUMBERS, "ok", headers=quota)
        client = client_on(emulator, clock, rand=lambda: 0.0)

        await client.phone_numbers.list(sid)
        await client.phone_numbers.list(sid)

    # Held, but for the cap (120 s), not until the year 2286.
    assert arrivals(emulator)[1] == pytest.approx(T0 + RetryPolicy().max_retry_after)


# Backoff, attempts, deadline (painpoint 11).


async def test_backoff_doubles_with_full_jitter_up_to_max_delay() -> None:
    policy = RetryPolicy(max_retries=5, initial_delay=1.0, max_delay=5.0)
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "503", times=5)
        client = client_on(emulator, clock, rand=lambda: 0.5, retry=policy)

        await client.phone_numbers.list(sid)

    assert [seconds for _, seconds in clock.sleeps] == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert statuses(emulator) == [503] * 5 + [200]


async def test_a_failure_after_all_retries_says_how_many_attempts_and_why() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "503")
        emulator.script("GET", NUMBERS, "429")
        emulator.script("GET", NUMBERS, "slow", seconds=SLOW)
        client = client_on(emulator, clock, max_retries=2)

        with pytest.raises(APITimeoutError) as caught:
            await client.phone_numbers.list(sid)

    assert caught.value.attempts == 3
    assert "after 3 attempts (503, 429, ReadTimeout)" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx2.ReadTimeout)
    assert statuses(emulator) == [503, 429, None]


async def test_connection_refused_every_time_raises_a_connection_error_after_max_retries() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        emulator.script("POST", "/trunks", "refuse", times=10)
        client = client_on(emulator, clock, max_retries=3)

        with pytest.raises(APIConnectionError) as caught:
            await client.trunks.create("t1")

    assert caught.value.attempts == 4
    assert "after 4 attempts (ConnectError, ConnectError, ConnectError, ConnectError)" in str(
        caught.value
    )
    assert "may have been created" not in str(caught.value)
    assert emulator.state.trunks == []
    assert [record.fault for record in emulator.requests] == ["refuse"] * 4


async def test_a_status_error_after_all_retries_carries_the_attempt_count() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "503", times=10)
        client = client_on(emulator, clock, max_retries=2)

        with pytest.raises(InternalServerError) as caught:
            await client.phone_numbers.list(sid)

    assert (caught.value.status_code, caught.value.attempts) == (503, 3)
    assert "after 3 attempts" in str(caught.value)
    assert len(emulator.requests) == 3


async def test_max_retries_zero_makes_one_attempt() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "503")
        client = client_on(emulator, clock, max_retries=0)

        with pytest.raises(InternalServerError):
            await client.phone_numbers.list(sid)

    assert len(emulator.requests) == 1


async def test_no_sleep_is_scheduled_past_the_deadline() -> None:
    policy = RetryPolicy(max_retries=100, initial_delay=1.0, max_delay=1.0, deadline=3.0)
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock, latency=0.5)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "503", times=100)
        client = client_on(emulator, clock, rand=lambda: 0.99, retry=policy, timeout=1.0)

        with pytest.raises(InternalServerError) as caught:
            await client.phone_numbers.list(sid)
        ended = clock.monotonic()

    assert sdk_sleeps_end_by(clock) <= T0 + 3.0
    assert ended <= T0 + 3.0 + 0.5  # the last attempt may run on past the deadline
    assert caught.value.attempts == len(emulator.requests) == 3
    assert "after 3 attempts" in str(caught.value)


async def test_a_retry_after_ending_past_the_deadline_raises_at_once() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "429", headers=retry_after("10"))
        client = client_on(emulator, clock, retry=RetryPolicy(deadline=5.0))

        with pytest.raises(RateLimitError) as caught:
            await client.phone_numbers.list(sid)

    assert caught.value.retry_after == 10.0
    assert clock.monotonic() == T0
    assert clock.sleeps == []


async def test_with_options_overrides_the_policy_and_leaves_the_original_alone() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "503", times=2)
        client = client_on(emulator, clock)

        with pytest.raises(InternalServerError):
            await client.with_options(max_retries=0).phone_numbers.list(sid)
        await client.phone_numbers.list(sid)

    assert statuses(emulator) == [503, 503, 200]


# Cancellation (painpoint 12).


async def cancel_after(clock: VirtualTime, seconds: float, scope: anyio.CancelScope) -> None:
    await clock.sleep(seconds)
    scope.cancel()


@pytest.mark.parametrize("status", ["503", "429"])
async def test_cancelling_a_call_that_waits_to_retry_returns_at_once_and_sends_nothing_more(
    status: str,
) -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, status, headers=retry_after("30"))
        client = client_on(emulator, clock, max_connections=1)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(cancel_after, clock, 1.0, scope)
                await client.phone_numbers.list(sid)
        cancelled_at = clock.monotonic()
        await clock.sleep(60.0)  # a retry left behind would reach the server meanwhile

        await client.whitelisted_ips.list(sid)  # the only in-flight slot was given back

    assert scope.cancelled_caught
    assert cancelled_at == T0 + 1.0
    assert arrivals(emulator, "GET", "phone-numbers") == [T0]
    assert arrivals(emulator, "GET", "whitelisted-ips") == [T0 + 61.0]


async def test_cancelling_a_call_held_by_a_cool_down_leaves_the_cool_down_for_the_others() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "429", headers=retry_after("30"))
        client = client_on(emulator, clock, rand=lambda: 0.0, max_connections=1)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(cancel_after, clock, 1.0, scope)
                await client.phone_numbers.list(sid)

        await client.whitelisted_ips.list(sid)

    assert arrivals(emulator) == [T0, T0 + 30.0]
    assert arrivals(emulator, "GET", "whitelisted-ips") == [T0 + 30.0]


# Observability: the on_retry hook and the INFO log line.


async def test_on_retry_receives_one_event_per_retry() -> None:
    events: list[RetryEvent] = []
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "503")
        emulator.script("GET", NUMBERS, "refuse")
        emulator.script("GET", NUMBERS, "429", headers=retry_after("4"))
        client, wire = logged_client(emulator, clock, on_retry=events.append)

        await client.phone_numbers.list(sid)

    unavailable, limited, _ = wire.request_ids  # the refused attempt had no answer
    path = numbers_path(sid)
    assert events == [
        RetryEvent("GET", path, 1, 0.5, "503", 503, unavailable),
        RetryEvent("GET", path, 2, 1.0, "ConnectError", None, None),
        RetryEvent("GET", path, 3, 4.0, "429", 429, limited),
    ]


async def test_each_retry_is_logged_at_info_with_attempt_wait_reason_and_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "503")
        emulator.script("GET", NUMBERS, "429", headers=retry_after("2"))
        client, wire = logged_client(emulator, clock)

        await client.phone_numbers.list(sid)

    unavailable, limited, _ = wire.request_ids
    path = numbers_path(sid)
    retries = [
        record.getMessage()
        for record in caplog.records
        if record.name == "exotel_trunking" and record.levelno == logging.INFO
    ]
    assert retries == [
        f"retrying GET {path}: attempt 1 failed (503), next in 0.50s request_id={unavailable}",
        f"retrying GET {path}: attempt 2 failed (429), next in 2.00s request_id={limited}",
    ]
    assert all(API_TOKEN not in record.getMessage() for record in caplog.records)


async def test_debug_logging_shows_each_finished_call_with_its_request_id_and_the_time_it_took(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The SDK times each call itself (from its start to the last byte of its last answer), so
    # a transport that returns a pre-read body (the emulator's in process) gets a measured
    # time too.
    caplog.set_level(logging.DEBUG, logger="exotel_trunking")
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        client, wire = logged_client(emulator, clock)

        assert await client.phone_numbers.list(sid) == []

    [request_id] = wire.request_ids
    assert request_id is not None
    assert [record.levelno for record in caplog.records] == [logging.DEBUG]
    assert re.fullmatch(
        rf"GET {re.escape(numbers_path(sid))} -> 200 request_id={re.escape(request_id)} "
        r"elapsed=\d+\.\dms",
        caplog.records[0].getMessage(),
    )


# Thundering herd (painpoints 6 and 10).


async def outage(emulator: Emulator, clock: VirtualTime, seconds: float, wait: str) -> None:
    """Every list of numbers answers 429 (``Retry-After: wait``) for the next ``seconds``."""
    emulator.add_fault("429", method="GET", path=NUMBERS, headers=retry_after(wait))
    await clock.pause(seconds)
    emulator.clear_faults()


async def herd(
    emulator: Emulator, clock: VirtualTime, sid: str, tasks: int, **options: Any
) -> list[list[PhoneNumber]]:
    """``tasks`` concurrent lists of numbers through one client, during a 2 s outage."""
    client = client_on(emulator, clock, rand=random.Random(3).random, **options)
    results: list[list[PhoneNumber]] = []

    async def caller() -> None:
        results.append(await client.phone_numbers.list(sid))

    async with anyio.create_task_group() as group:
        group.start_soon(outage, emulator, clock, 2.0, "2")
        for _ in range(tasks):
            group.start_soon(caller)
    return results


def answered(emulator: Emulator, status: int) -> list[float]:
    """When each request answered ``status`` arrived."""
    return [record.arrived for record in emulator.requests if record.status == status]


@pytest.mark.parametrize(
    "rate_limit", [None, RateLimit(calls=50, period=1.0)], ids=["unpaced", "paced"]
)
async def test_200_concurrent_calls_all_answered_429_retry_after_the_window_spread_out(
    rate_limit: RateLimit | None,
) -> None:
    async with virtual_time(T0) as clock:
        # The latency keeps all 200 in flight before the first 429 comes back.
        emulator = emulator_on(clock, latency=0.01)
        sid = create_trunk(emulator)
        results = await herd(emulator, clock, sid, 200, rate_limit=rate_limit, max_connections=200)

    retries = answered(emulator, 200)
    assert len(results) == len(retries) == 200
    # Unpaced, all 200 are in flight at once; paced, only the burst went out.
    burst = 0 if rate_limit is None else rate_limit.burst
    assert len(answered(emulator, 429)) == (200 if rate_limit is None else burst)
    assert min(retries) >= T0 + 2.0
    assert peak_share(retries, 0.05) <= 0.25


async def test_after_a_429_only_the_requests_already_in_flight_collect_one() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock, latency=0.01)
        sid = create_trunk(emulator)
        results = await herd(emulator, clock, sid, 300, rate_limit=None, max_connections=30)

    assert len(results) == 300
    assert len(answered(emulator, 429)) == 30  # exactly the 30 in flight, none sent after
    assert min(answered(emulator, 200)) >= T0 + 2.0
