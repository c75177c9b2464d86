"""The request loop on virtual time: what is retried, when, how often, and what is raised.

Each test serves :class:`~.fakeapi.FakeExotel` through ``httpx2.MockTransport`` and puts the
client's transport and limiter on a :class:`~.virtual_time.VirtualTime`, so the delays the
SDK chooses are observed exactly and nothing waits for real.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
from collections.abc import Awaitable, Callable
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

from .fakeapi import (
    ACCOUNT,
    DropAfter,
    DropBefore,
    FakeExotel,
    Fault,
    Outage,
    Refuse,
    Status,
    peak_share,
)
from .virtual_time import EPOCH, VirtualTime, use_virtual_time, virtual_time

pytestmark = pytest.mark.anyio

T0 = 1_000.0
NUMBER = "+919876543210"
NUMBERS_PATH = f"/v2/accounts/{ACCOUNT}/trunks/tr1/phone-numbers"
TOKEN = "s3cr3t-t0ken"


def make_client(
    fake: FakeExotel,
    clock: VirtualTime,
    *,
    rand: Callable[[], float] = lambda: 0.5,
    **options: Any,
) -> AsyncTrunkingClient:
    """A client served by ``fake`` and living on ``clock``; no pacing unless asked."""
    fake.clock = clock.monotonic
    options.setdefault("rate_limit", None)
    client = AsyncTrunkingClient(
        "key",
        TOKEN,
        ACCOUNT,
        base_url="https://api.exotel.test",
        transport=fake.mock_transport(clock.pause),
        **options,
    )
    use_virtual_time(client, clock, rand)
    return client


def retry_after(value: str) -> tuple[tuple[str, str], ...]:
    return (("Retry-After", value),)


def http_date(moment: float) -> str:
    return email.utils.formatdate(EPOCH + moment, usegmt=True)


def arrivals(fake: FakeExotel, method: str | None = None, fragment: str = "") -> list[float]:
    return [seen.at for seen in fake.requests(method, fragment)]


def sdk_sleeps_end_by(clock: VirtualTime) -> float:
    return max((start + seconds for start, seconds in clock.sleeps), default=clock.monotonic())


# The status table (painpoint 13): which failures are retried, for which calls.

Call = Callable[[AsyncTrunkingClient], Awaitable[object]]

CALLS: dict[str, tuple[str, str, Call]] = {
    "list": ("GET", "phone-numbers", lambda client: client.phone_numbers.list("tr1")),
    "delete": ("DELETE", "/trunks", lambda client: client.trunks.delete("tr1")),
    "create": ("POST", "/trunks", lambda client: client.trunks.create("t1")),
    "map": ("POST", "phone-numbers", lambda client: client.phone_numbers.map("tr1", NUMBER)),
}

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
    method, fragment, run = CALLS[call]
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script(method, fragment, Status(status))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        with pytest.raises(FINAL_STATUSES[status]) as caught:
            await run(client)

    error = caught.value
    assert (error.status_code, error.attempts) == (status, 1)
    assert error.error_code is not None
    assert error.request_id == "req-1"
    assert error.message == "scripted failure"
    assert len(fake.requests()) == 1
    assert clock.sleeps == []


ALWAYS_RETRIED: dict[str, Fault] = {
    "429": Status(429),
    "503": Status(503),
    "connect-refused": Refuse(),
}


@pytest.mark.parametrize("fault", ALWAYS_RETRIED)
@pytest.mark.parametrize("call", CALLS)
async def test_429_503_and_connection_failures_before_sending_are_retried_for_every_call(
    call: str, fault: str
) -> None:
    method, fragment, run = CALLS[call]
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script(method, fragment, ALWAYS_RETRIED[fault])
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        await run(client)

    attempts = [seen.outcome for seen in fake.seen if seen.method == method]
    assert attempts[-1] == "200"
    assert len(attempts) == 2
    assert len(fake.applied) == (0 if method == "GET" else 1)


MAYBE_APPLIED: dict[str, Fault] = {
    "502": Status(502),
    "504": Status(504),
    "read-timeout-after-applying": DropAfter(httpx2.ReadTimeout),
    "disconnect-after-applying": DropAfter(httpx2.RemoteProtocolError),
    "disconnect-before-applying": DropBefore(httpx2.RemoteProtocolError),
    "write-error": DropBefore(httpx2.WriteError),
}


@pytest.mark.parametrize("fault", MAYBE_APPLIED)
@pytest.mark.parametrize("call", ["list", "delete", "map"])
async def test_failures_that_may_have_applied_the_request_are_retried_for_safe_calls(
    call: str, fault: str
) -> None:
    method, fragment, run = CALLS[call]
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script(method, fragment, MAYBE_APPLIED[fault])
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        result = await run(client)

    assert len(fake.requests(method)) == 2
    if call == "map":
        assert isinstance(result, PhoneNumber)
        assert result.id == fake.numbers["tr1"][NUMBER]["id"]
        assert fake.applied == [("number", NUMBER)]
    if call == "delete":
        assert result is None
        assert fake.trunks == {}


@pytest.mark.parametrize("fault", MAYBE_APPLIED)
async def test_trunks_create_is_never_repeated_once_the_request_may_have_been_applied(
    fault: str,
) -> None:
    fake = FakeExotel()
    fake.script("POST", "/trunks", MAYBE_APPLIED[fault])
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        with pytest.raises((APIConnectionError, InternalServerError)) as caught:
            await client.trunks.create("t1")

    assert len(fake.requests("POST")) == 1
    assert isinstance(caught.value, APIConnectionError | InternalServerError)
    assert caught.value.attempts == 1
    assert clock.sleeps == []


async def test_trunks_create_after_a_read_timeout_says_the_trunk_may_exist() -> None:
    fake = FakeExotel()
    fake.script("POST", "/trunks", DropAfter(httpx2.ReadTimeout))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        with pytest.raises(APITimeoutError) as caught:
            await client.trunks.create("t1")

    message = str(caught.value)
    assert isinstance(caught.value, APIConnectionError)
    assert "'t1' may have been created" in message
    assert f"POST /v2/accounts/{ACCOUNT}/trunks" in message
    assert [trunk["trunk_name"] for trunk in fake.trunks.values()] == ["t1"]
    assert len(fake.requests("POST")) == 1


async def test_trunks_create_after_a_dropped_connection_is_a_connection_error_not_a_timeout() -> (
    None
):
    fake = FakeExotel()
    fake.script("POST", "/trunks", DropAfter(httpx2.RemoteProtocolError))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        with pytest.raises(APIConnectionError) as caught:
            await client.trunks.create("t1")

    assert not isinstance(caught.value, APITimeoutError)
    assert "may have been created" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert len(fake.trunks) == 1


async def test_trunks_create_is_retried_when_the_connection_was_refused() -> None:
    fake = FakeExotel()
    fake.script("POST", "/trunks", Refuse(), Refuse())
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        trunk = await client.trunks.create("t1")

    assert isinstance(trunk, Trunk)
    assert trunk.trunk_name == "t1"
    assert len(fake.trunks) == 1


# Unknown outcome, then a 409: the existing record is returned.


@pytest.mark.parametrize("duplicate_as_200", [False, True], ids=["http-409", "live-200-code-409"])
@pytest.mark.parametrize("drop", [httpx2.RemoteProtocolError, httpx2.ReadTimeout])
async def test_map_whose_first_attempt_was_applied_returns_the_existing_mapping(
    duplicate_as_200: bool, drop: type[httpx2.TransportError]
) -> None:
    fake = FakeExotel(duplicate_as_200=duplicate_as_200)
    fake.add_trunk("tr1")
    fake.script("POST", "phone-numbers", DropAfter(drop))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        number = await client.phone_numbers.map("tr1", "+91 98765-43210")

    assert number.phone_number == NUMBER
    assert number.id == fake.numbers["tr1"][NUMBER]["id"]
    assert fake.applied == [("number", NUMBER)]
    assert [seen.outcome for seen in fake.seen] == [
        "drop",
        "409" if not duplicate_as_200 else "200",
        "200",
    ]
    assert [seen.method for seen in fake.seen] == ["POST", "POST", "GET"]


async def test_whitelist_whose_first_attempt_was_applied_returns_the_existing_entry() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("POST", "whitelisted-ips", DropAfter())
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        entry = await client.whitelisted_ips.add("tr1", "203.0.113.0/24")

    assert isinstance(entry, WhitelistedIp)
    assert (entry.ip, entry.mask) == ("203.0.113.0", 24)
    assert entry.id == fake.ips["tr1"][("203.0.113.0", 24)]["id"]
    assert fake.applied == [("ip", "203.0.113.0/24")]


async def test_destinations_whose_first_attempt_was_applied_return_the_existing_records() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("POST", "destination-uris", DropAfter())
    wanted = ["sip:203.0.113.50:5061;transport=tls", "PBX.example.com:5060;transport=tcp"]
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        added = await client.destination_uris.add("tr1", wanted)

    stored = fake.destinations["tr1"]
    assert [uri.destination for uri in added] == [
        "sip:203.0.113.50:5061;transport=tls",
        "sip:pbx.example.com:5060;transport=tcp",
    ]
    assert [uri.id for uri in added] == [record["id"] for record in stored.values()]
    assert len(fake.applied) == 2


async def test_set_alias_whose_first_attempt_was_applied_returns_the_alias_as_set() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("POST", "settings", DropAfter(httpx2.ReadTimeout))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        setting = await client.settings.set_alias("tr1", NUMBER)

    assert isinstance(setting, TrunkSetting)
    assert (setting.name, setting.value, setting.trunk_sid) == (
        "trunk_external_alias",
        NUMBER,
        "tr1",
    )
    assert len(fake.requests("POST", "settings")) == 2
    assert fake.applied == [("setting", f"trunk_external_alias={NUMBER}")]


async def test_a_409_on_the_repeat_that_the_list_cannot_explain_is_raised() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("POST", "phone-numbers", DropBefore(), Status(409))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        with pytest.raises(ConflictError) as caught:
            await client.phone_numbers.map("tr1", NUMBER)

    assert caught.value.attempts == 2
    assert len(fake.requests("GET")) == 1  # it looked, and found nothing
    assert fake.applied == []


async def test_a_409_on_the_first_attempt_is_raised_without_looking_for_the_record() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.numbers["tr1"] = {NUMBER: {"id": "pn0", "phone_number": NUMBER, "trunk_sid": "tr1"}}
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        with pytest.raises(ConflictError):
            await client.phone_numbers.map("tr1", NUMBER)

    assert fake.requests("GET") == []


async def test_delete_whose_first_attempt_was_applied_counts_a_404_as_deleted() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("DELETE", "/trunks", DropAfter(httpx2.ReadTimeout))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        assert await client.trunks.delete("tr1") is None  # type: ignore[func-returns-value]

    assert [seen.outcome for seen in fake.seen] == ["drop", "404"]
    assert fake.trunks == {}


# Retry-After (painpoints 7 and 8).


@pytest.mark.parametrize("rate_limit", [None, RateLimit()], ids=["unpaced", "paced"])
async def test_retry_after_seconds_is_honoured_exactly_with_one_retry(
    rate_limit: RateLimit | None,
) -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(429, retry_after("3")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.0, rate_limit=rate_limit)

        await client.phone_numbers.list("tr1")

    assert arrivals(fake) == [T0, T0 + 3.0]


async def test_jitter_after_retry_after_only_ever_adds_time() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(429, retry_after("3")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.999)

        await client.phone_numbers.list("tr1")

    first, second = arrivals(fake)
    assert 3.0 <= second - first < 3.0 + 2.0


async def test_retry_after_http_date_is_honoured_to_the_second() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(429, retry_after(http_date(T0 + 5))))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.0)

        await client.phone_numbers.list("tr1")

    assert arrivals(fake) == [T0, T0 + 5.0]


async def test_retry_after_on_a_503_is_honoured_instead_of_backoff() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(503, retry_after("7")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.5)

        await client.phone_numbers.list("tr1")

    assert arrivals(fake) == [T0, T0 + 7.0]


async def test_during_a_429_cool_down_no_task_of_the_client_sends_anything() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(429, retry_after("4")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.0)

        async def late_caller() -> None:
            await clock.sleep(1.0)
            await client.whitelisted_ips.list("tr1")

        async with anyio.create_task_group() as group:
            group.start_soon(late_caller)
            await client.phone_numbers.list("tr1")

    assert arrivals(fake) == [T0, T0 + 4.0, T0 + 4.0]


async def test_a_cool_down_from_a_derived_client_holds_the_original_too() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(429, retry_after("4")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.0)
        derived = client.with_options(timeout=5.0)

        async def late_caller() -> None:
            await clock.sleep(1.0)
            await client.whitelisted_ips.list("tr1")

        async with anyio.create_task_group() as group:
            group.start_soon(late_caller)
            await derived.phone_numbers.list("tr1")

    assert arrivals(fake, "GET", "whitelisted-ips") == [T0 + 4.0]


async def test_a_429_that_ends_the_call_still_holds_the_clients_other_requests() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(429, retry_after("4")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.0)

        with pytest.raises(RateLimitError):
            await client.with_options(max_retries=0).phone_numbers.list("tr1")
        await client.whitelisted_ips.list("tr1")

    assert arrivals(fake, "GET", "whitelisted-ips") == [T0 + 4.0]


async def test_retry_after_beyond_the_cap_raises_at_once_carrying_retry_after() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(429, retry_after("600")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, retry=RetryPolicy(max_retry_after=120.0))

        with pytest.raises(RateLimitError) as caught:
            await client.phone_numbers.list("tr1")

        assert clock.monotonic() == T0

    assert caught.value.retry_after == 600.0
    assert "retry_after=600s" in str(caught.value)
    assert clock.sleeps == []
    assert len(fake.requests()) == 1


async def test_a_raised_cap_lets_the_client_sleep_through_a_long_retry_after() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(429, retry_after("600")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.0)
        patient = client.with_options(retry=RetryPolicy(max_retry_after=900.0))

        await patient.phone_numbers.list("tr1")

    assert arrivals(fake) == [T0, T0 + 600.0]


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
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(status, retry_after(value)))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.5)  # backoff: 0.5 s

        await client.phone_numbers.list("tr1")

    first, second = arrivals(fake)
    if status == 503:
        assert second - first == pytest.approx(wait)
    else:  # a cool-down: waiters are spread over a share of it, after it
        assert wait <= second - first < wait + 1.0


@pytest.mark.parametrize("value", ["9999999999", http_date(T0 + 7 * 86_400)])
async def test_an_absurdly_long_retry_after_raises_instead_of_hanging(value: str) -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(429, retry_after(value)))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        with pytest.raises(RateLimitError) as caught:
            await client.phone_numbers.list("tr1")

    assert caught.value.retry_after == 86_400.0
    assert clock.sleeps == []


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
    fake = FakeExotel()
    fake.add_trunk("tr1")
    quota = (("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", reset))
    fake.script("GET", "phone-numbers", Status(200, quota, body=_list_body()))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.0)

        await client.phone_numbers.list("tr1")
        await client.phone_numbers.list("tr1")

    assert arrivals(fake) == [T0, pytest.approx(T0 + held_for)]


async def test_an_absurd_rate_limit_reset_holds_requests_no_longer_than_the_cap() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    quota = (("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "9999999999"))
    fake.script("GET", "phone-numbers", Status(200, quota, body=_list_body()))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.0)

        await client.phone_numbers.list("tr1")
        await client.phone_numbers.list("tr1")

    # Held, but for the cap (120 s), not until the year 2286.
    assert arrivals(fake)[1] == pytest.approx(T0 + RetryPolicy().max_retry_after)


def _list_body() -> bytes:
    return b'{"request_id": "q", "response": {"status": "success", "code": 200, "data": []}}'


# Backoff, attempts, deadline (painpoint 11).


async def test_backoff_doubles_with_full_jitter_up_to_max_delay() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", *[Status(503)] * 5)
    policy = RetryPolicy(max_retries=5, initial_delay=1.0, max_delay=5.0)
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.5, retry=policy)

        await client.phone_numbers.list("tr1")

    assert [seconds for _, seconds in clock.sleeps] == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert len(fake.requests()) == 6


async def test_a_failure_after_all_retries_says_how_many_attempts_and_why() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(503), Status(429), DropAfter(httpx2.ReadTimeout))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, max_retries=2)

        with pytest.raises(APITimeoutError) as caught:
            await client.phone_numbers.list("tr1")

    assert caught.value.attempts == 3
    assert "after 3 attempts (503, 429, ReadTimeout)" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx2.ReadTimeout)


async def test_connection_refused_every_time_raises_a_connection_error_after_max_retries() -> None:
    fake = FakeExotel()
    fake.script("POST", "/trunks", *[Refuse()] * 10)
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, max_retries=3)

        with pytest.raises(APIConnectionError) as caught:
            await client.trunks.create("t1")

    assert caught.value.attempts == 4
    assert "after 4 attempts (ConnectError, ConnectError, ConnectError, ConnectError)" in str(
        caught.value
    )
    assert "may have been created" not in str(caught.value)
    assert fake.trunks == {}


async def test_a_status_error_after_all_retries_carries_the_attempt_count() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", *[Status(503)] * 10)
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, max_retries=2)

        with pytest.raises(InternalServerError) as caught:
            await client.phone_numbers.list("tr1")

    assert (caught.value.status_code, caught.value.attempts) == (503, 3)
    assert "after 3 attempts" in str(caught.value)
    assert len(fake.requests()) == 3


async def test_max_retries_zero_makes_one_attempt() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(503))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, max_retries=0)

        with pytest.raises(InternalServerError):
            await client.phone_numbers.list("tr1")

    assert len(fake.requests()) == 1


async def test_no_sleep_is_scheduled_past_the_deadline() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.latency = 0.5
    fake.script("GET", "phone-numbers", *[Status(503)] * 100)
    policy = RetryPolicy(max_retries=100, initial_delay=1.0, max_delay=1.0, deadline=3.0)
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.99, retry=policy, timeout=1.0)

        with pytest.raises(InternalServerError) as caught:
            await client.phone_numbers.list("tr1")
        ended = clock.monotonic()

    assert sdk_sleeps_end_by(clock) <= T0 + 3.0
    assert ended <= T0 + 3.0 + 0.5  # the last attempt may run on: fail_after cuts it for real
    assert caught.value.attempts == len(fake.requests()) == 3
    assert "after 3 attempts" in str(caught.value)


async def test_a_retry_after_ending_past_the_deadline_raises_at_once() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(429, retry_after("10")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, retry=RetryPolicy(deadline=5.0))

        with pytest.raises(RateLimitError) as caught:
            await client.phone_numbers.list("tr1")

    assert caught.value.retry_after == 10.0
    assert clock.monotonic() == T0
    assert clock.sleeps == []


async def test_with_options_overrides_the_policy_and_leaves_the_original_alone() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(503), Status(503))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        with pytest.raises(InternalServerError):
            await client.with_options(max_retries=0).phone_numbers.list("tr1")
        await client.phone_numbers.list("tr1")

    assert [seen.outcome for seen in fake.seen] == ["503", "503", "200"]


# Cancellation (painpoint 12).


async def cancel_after(clock: VirtualTime, seconds: float, scope: anyio.CancelScope) -> None:
    await clock.sleep(seconds)
    scope.cancel()


@pytest.mark.parametrize("status", [503, 429])
async def test_cancelling_a_call_that_waits_to_retry_returns_at_once_and_sends_nothing_more(
    status: int,
) -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(status, retry_after("30")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, max_connections=1)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(cancel_after, clock, 1.0, scope)
                await client.phone_numbers.list("tr1")
        cancelled_at = clock.monotonic()
        await clock.sleep(60.0)  # a retry left behind would reach the server meanwhile

        await client.whitelisted_ips.list("tr1")  # the only in-flight slot was given back

    assert scope.cancelled_caught
    assert cancelled_at == T0 + 1.0
    assert arrivals(fake, "GET", "phone-numbers") == [T0]
    assert arrivals(fake, "GET", "whitelisted-ips") == [T0 + 61.0]


async def test_cancelling_a_call_held_by_a_cool_down_leaves_the_cool_down_for_the_others() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(429, retry_after("30")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, rand=lambda: 0.0, max_connections=1)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(cancel_after, clock, 1.0, scope)
                await client.phone_numbers.list("tr1")

        await client.whitelisted_ips.list("tr1")

    assert arrivals(fake) == [T0, T0 + 30.0]


# Observability: the on_retry hook and the INFO log line.


async def test_on_retry_receives_one_event_per_retry() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(503), Refuse(), Status(429, retry_after("4")))
    events: list[RetryEvent] = []
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, on_retry=events.append)

        await client.phone_numbers.list("tr1")

    assert events == [
        RetryEvent("GET", NUMBERS_PATH, 1, 0.5, "503", 503, "req-1"),
        RetryEvent("GET", NUMBERS_PATH, 2, 1.0, "ConnectError", None, None),
        RetryEvent("GET", NUMBERS_PATH, 3, 4.0, "429", 429, "req-2"),
    ]


async def test_each_retry_is_logged_at_info_with_attempt_wait_reason_and_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.script("GET", "phone-numbers", Status(503), Status(429, retry_after("2")))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        await client.phone_numbers.list("tr1")

    retries = [
        record.getMessage()
        for record in caplog.records
        if record.name == "exotel_trunking" and record.levelno == logging.INFO
    ]
    assert retries == [
        f"retrying GET {NUMBERS_PATH}: attempt 1 failed (503), next in 0.50s request_id=req-1",
        f"retrying GET {NUMBERS_PATH}: attempt 2 failed (429), next in 2.00s request_id=req-2",
    ]
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


async def test_debug_logging_shows_each_finished_call_with_its_request_id_and_the_time_it_took(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The SDK times each call itself (from its start to the last byte of its last answer), so
    # a transport that returns a pre-read body (MockTransport) gets a measured time too.
    caplog.set_level(logging.DEBUG, logger="exotel_trunking")
    fake = FakeExotel()
    fake.add_trunk("tr1")
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock)

        assert await client.phone_numbers.list("tr1") == []

    assert [record.levelno for record in caplog.records] == [logging.DEBUG]
    assert re.fullmatch(
        rf"GET {re.escape(NUMBERS_PATH)} -> 200 request_id=req-1 elapsed=\d+\.\dms",
        caplog.records[0].getMessage(),
    )


# Thundering herd (painpoints 6 and 10).


async def herd(
    fake: FakeExotel, clock: VirtualTime, tasks: int, **options: Any
) -> list[list[PhoneNumber]]:
    client = make_client(fake, clock, rand=random.Random(3).random, **options)
    results: list[list[PhoneNumber]] = []

    async def caller() -> None:
        results.append(await client.phone_numbers.list("tr1"))

    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(caller)
    return results


@pytest.mark.parametrize(
    "rate_limit", [None, RateLimit(calls=50, period=1.0)], ids=["unpaced", "paced"]
)
async def test_200_concurrent_calls_all_answered_429_retry_after_the_window_spread_out(
    rate_limit: RateLimit | None,
) -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.latency = 0.01  # all 200 are in flight before the first 429 comes back
    fake.outage = Outage(T0 + 2.0, Status(429, retry_after("2")))
    async with virtual_time(T0) as clock:
        results = await herd(fake, clock, 200, rate_limit=rate_limit, max_connections=200)

    retries = [seen.at for seen in fake.outcomes("200")]
    assert len(results) == len(retries) == 200
    # Unpaced, all 200 are in flight at once; paced, only the burst went out.
    burst = 0 if rate_limit is None else rate_limit.burst
    assert len(fake.outcomes("429")) == (200 if rate_limit is None else burst)
    assert min(retries) >= T0 + 2.0
    assert peak_share(retries, 0.05) <= 0.25


async def test_after_a_429_only_the_requests_already_in_flight_collect_one() -> None:
    fake = FakeExotel()
    fake.add_trunk("tr1")
    fake.latency = 0.01
    fake.outage = Outage(T0 + 2.0, Status(429, retry_after("2")))
    async with virtual_time(T0) as clock:
        results = await herd(fake, clock, 300, rate_limit=None, max_connections=30)

    assert len(results) == 300
    assert len(fake.outcomes("429")) == 30  # exactly the 30 in flight, none sent after
    assert min(seen.at for seen in fake.outcomes("200")) >= T0 + 2.0
