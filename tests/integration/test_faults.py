"""Every fault kind the emulator injects, and what the SDK does with it.

Faults are scripted (``emulator.script``) so that every run sees the same sequence. Retries
back off for milliseconds (``FAST_RETRY``); the 429 tests put the client's limiter and the
emulator's token bucket on :class:`FastTime`, so a one-second ``Retry-After`` costs 50 ms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import attrs
import pytest

from exotel_trunking import (
    APIConnectionError,
    APITimeoutError,
    AsyncTrunkingClient,
    InternalServerError,
    RateLimitError,
    RetryEvent,
)
from exotel_trunking._transport import LocalRateLimiter
from exotel_trunking.emulator import Emulator

from .support import (
    DIALECTS,
    FAST_RETRY,
    FQDN_DESTINATION,
    IP_DESTINATION,
    NUMBERS,
    ArrivalLog,
    FastTime,
    client_for,
    expected_number,
    make_emulator,
    requests_to,
)

pytestmark = pytest.mark.anyio

#: A client timeout far below the emulator's ``slow`` delay.
SHORT_TIMEOUT = 0.05


def statuses(emulator: Emulator, method: str, suffix: str) -> list[int | None]:
    return [r.status for r in requests_to(emulator, method, suffix)]


def limiter_on(fast: FastTime) -> LocalRateLimiter:
    """The SDK's own unpaced limiter, on accelerated time."""
    return LocalRateLimiter(None, clock=fast.monotonic, sleep=fast.sleep)


# -- 503 ------------------------------------------------------------------------------------


async def test_503_is_retried_until_the_call_succeeds() -> None:
    emulator = make_emulator()
    events: list[RetryEvent] = []
    async with client_for(emulator, on_retry=events.append) as client:
        sid = (await client.trunks.create("flaky")).trunk_sid
        emulator.script("POST", "/trunks/*/phone-numbers", "503", times=2)
        number = await client.phone_numbers.map(sid, NUMBERS[0])
    [record] = emulator.state.phone_numbers(sid)
    assert number == expected_number(record, live=False)
    assert statuses(emulator, "POST", "/phone-numbers") == [503, 503, 200]
    assert [(e.reason, e.attempt) for e in events] == [("503", 1), ("503", 2)]


async def test_503_on_create_trunk_is_retried_since_nothing_was_applied() -> None:
    emulator = make_emulator()
    emulator.script("POST", "/trunks", "503")
    async with client_for(emulator) as client:
        trunk = await client.trunks.create("retried")
    assert [t.trunk_sid for t in emulator.state.trunks] == [trunk.trunk_sid]
    assert statuses(emulator, "POST", "/trunks") == [503, 200]


async def test_503_beyond_max_retries_raises_internal_server_error_with_attempts() -> None:
    emulator = make_emulator()
    async with client_for(emulator, max_retries=2) as client:
        sid = (await client.trunks.create("down")).trunk_sid
        script = emulator.script("GET", "/trunks/*/phone-numbers", "503", times=5)
        with pytest.raises(InternalServerError) as caught:
            await client.phone_numbers.list(sid)
    error = caught.value
    assert (error.status_code, error.attempts) == (503, 3)
    assert "after 3 attempts" in str(error)
    assert statuses(emulator, "GET", "/phone-numbers") == [503, 503, 503]
    assert script.remaining == 2  # no fourth attempt


# -- 429 ------------------------------------------------------------------------------------


async def test_429_holds_back_every_task_of_the_client_until_retry_after() -> None:
    fast = FastTime()
    emulator = make_emulator(fault_retry_after=1, clock=fast.monotonic)
    log = ArrivalLog(emulator.transport(), fast.monotonic)
    events: list[RetryEvent] = []
    retrying = anyio.Event()

    def on_retry(event: RetryEvent) -> None:
        events.append(event)
        retrying.set()

    async with client_for(
        emulator, transport=log, rate_limit=limiter_on(fast), on_retry=on_retry
    ) as client:
        sid = (await client.trunks.create("cooling")).trunk_sid
        emulator.script("GET", "/trunks/*/phone-numbers", "429")
        listed: dict[str, list[Any]] = {}

        async def refused_first() -> None:
            listed["numbers"] = await client.phone_numbers.list(sid)

        async def starts_during_the_cool_down() -> None:
            await retrying.wait()  # this task never sees a 429 itself
            listed["ips"] = await client.whitelisted_ips.list(sid)

        async with anyio.create_task_group() as group:
            group.start_soon(refused_first)
            group.start_soon(starts_during_the_cool_down)

    assert listed == {"numbers": [], "ips": []}
    assert statuses(emulator, "GET", "/phone-numbers") == [429, 200]
    assert [(e.reason, e.delay) for e in events] == [("429", 1.0)]
    refused_at = next(at for at, method, _ in log.arrivals if method == "GET")
    later = [(at, path.rsplit("/", 1)[1]) for at, method, path in log.arrivals if at > refused_at]
    assert sorted(p for _, p in later) == ["phone-numbers", "whitelisted-ips"]
    assert all(at >= refused_at + 1.0 for at, _ in later), later


async def test_429_asking_longer_than_max_retry_after_raises_at_once() -> None:
    emulator = make_emulator(fault_retry_after=600)
    policy = attrs.evolve(FAST_RETRY, max_retry_after=5.0)
    async with client_for(emulator, retry=policy) as client:
        emulator.script("POST", "/trunks", "429")
        with pytest.raises(RateLimitError) as caught:
            await client.trunks.create("later")
        with pytest.raises(RateLimitError) as blocked:  # the cool-down spares the server
            await client.trunks.create("later")
    assert (caught.value.status_code, caught.value.retry_after) == (429, 600.0)
    assert "nothing was sent" in str(blocked.value)
    assert statuses(emulator, "POST", "/trunks") == [429]


async def test_emulator_token_bucket_answers_429_and_the_client_recovers() -> None:
    fast = FastTime()
    emulator = make_emulator(rate_limit=(2, 1.0), latency=0.002, clock=fast.monotonic)
    patient = attrs.evolve(FAST_RETRY, max_retries=10)
    async with client_for(emulator, rate_limit=limiter_on(fast), retry=patient) as client:
        sid = (await client.trunks.create("bucket")).trunk_sid
        started = fast.monotonic()
        async with anyio.create_task_group() as group:
            for number in NUMBERS[:6]:
                group.start_soon(client.phone_numbers.map, sid, number)
        elapsed = fast.monotonic() - started
    mapped = sorted(r.phone_number for r in emulator.state.phone_numbers(sid))
    assert mapped == sorted(NUMBERS[:6])
    assert emulator.counters.rate_limited >= 1
    assert emulator.counters.by_status[429] == emulator.counters.rate_limited
    # 2 calls a second with a 2-call burst: the last of 7 cannot land before 2.5 s.
    assert elapsed >= 2.45


async def test_emulator_concurrency_limit_answers_429_and_the_client_recovers() -> None:
    fast = FastTime()
    emulator = make_emulator(concurrency_limit=2, latency=0.01)
    patient = attrs.evolve(FAST_RETRY, max_retries=10)
    async with client_for(emulator, rate_limit=limiter_on(fast), retry=patient) as client:
        sid = (await client.trunks.create("crowded")).trunk_sid
        started = fast.monotonic()
        async with anyio.create_task_group() as group:
            for number in NUMBERS[:6]:
                group.start_soon(client.phone_numbers.map, sid, number)
        elapsed = fast.monotonic() - started
    mapped = sorted(r.phone_number for r in emulator.state.phone_numbers(sid))
    assert mapped == sorted(NUMBERS[:6])
    assert emulator.counters.concurrency_limited >= 1
    assert emulator.counters.by_status[429] == emulator.counters.concurrency_limited
    assert elapsed >= 1.0  # the refusals' Retry-After (1 s) was waited out, not ignored


# -- 502 with an HTML page ------------------------------------------------------------------


async def test_502_html_on_a_list_is_retried() -> None:
    emulator = make_emulator()
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("proxied")).trunk_sid
        await client.phone_numbers.map(sid, NUMBERS[0])
        emulator.script("GET", "/trunks/*/phone-numbers", "502_html")
        listed = await client.phone_numbers.list(sid)
    assert [n.phone_number for n in listed] == [NUMBERS[0]]
    assert statuses(emulator, "GET", "/phone-numbers") == [502, 200]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_502_html_on_a_repeatable_post_is_retried_to_one_record(dialect: str) -> None:
    emulator = make_emulator(dialect)
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("proxied")).trunk_sid
        emulator.script("POST", "/trunks/*/whitelisted-ips", "502_html")
        added = await client.whitelisted_ips.add(sid, "203.0.113.50")
    [record] = emulator.state.whitelisted_ips(sid)
    assert (added.id, added.ip, added.mask) == (record.id, "203.0.113.50", 32)
    assert statuses(emulator, "POST", "/whitelisted-ips") == [502, 200]


async def test_502_html_on_create_trunk_raises_with_a_short_excerpt_and_is_not_repeated() -> None:
    emulator = make_emulator()
    emulator.script("POST", "/trunks", "502_html")
    async with client_for(emulator) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.trunks.create("behind_proxy")
    error = caught.value
    assert (error.status_code, error.attempts) == (502, 1)
    assert error.message == "502 Bad Gateway 502 Bad Gateway nginx"
    assert "<" not in str(error)
    assert statuses(emulator, "POST", "/trunks") == [502]
    assert emulator.state.trunks == []


# -- dropped connections --------------------------------------------------------------------

Operation = Callable[[AsyncTrunkingClient, str], Awaitable[Any]]


async def _map(client: AsyncTrunkingClient, sid: str) -> Any:
    return await client.phone_numbers.map(sid, NUMBERS[0], mode="flow")


async def _whitelist(client: AsyncTrunkingClient, sid: str) -> Any:
    return await client.whitelisted_ips.add(sid, "203.0.113.0/24")


async def _destination(client: AsyncTrunkingClient, sid: str) -> Any:
    await client.whitelisted_ips.add(sid, "203.0.113.0/24")
    [added] = await client.destination_uris.add(sid, IP_DESTINATION)
    return added


async def _alias(client: AsyncTrunkingClient, sid: str) -> Any:
    return await client.settings.set_alias(sid, NUMBERS[0])


#: Each repeatable POST: how to call it, its path, and how to read its records from the state.
REPEATABLE_POSTS: dict[str, tuple[Operation, str, Callable[[Emulator, str], list[Any]]]] = {
    "map": (_map, "/phone-numbers", lambda e, sid: e.state.phone_numbers(sid)),
    "whitelist": (_whitelist, "/whitelisted-ips", lambda e, sid: e.state.whitelisted_ips(sid)),
    "destination": (_destination, "/destination-uris", lambda e, sid: e.state.destinations(sid)),
    "alias": (_alias, "/settings", lambda e, sid: e.state.settings(sid)),
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kind", ["drop_before", "drop_after"])
@pytest.mark.parametrize("operation", sorted(REPEATABLE_POSTS))
async def test_dropped_repeatable_post_ends_with_exactly_one_record_and_returns_it(
    operation: str, kind: str, dialect: str
) -> None:
    call, suffix, records_of = REPEATABLE_POSTS[operation]
    emulator = make_emulator(dialect)
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("dropped")).trunk_sid
        emulator.script("POST", f"/trunks/*{suffix}", kind)
        returned = await call(client, sid)
    [record] = records_of(emulator, sid)
    if operation == "alias":
        assert (returned.name, returned.value) == (record.name, record.value)
    else:
        assert returned.id == record.id
    posts = statuses(emulator, "POST", suffix)
    assert posts[0] is None  # no answer: the connection was dropped
    assert len(posts) == 2
    assert posts[1] is not None  # the repeat was answered (created, or 409 then looked up)


@pytest.mark.parametrize("kind", ["drop_before", "drop_after"])
async def test_dropped_create_trunk_is_not_repeated_and_says_the_trunk_may_exist(
    kind: str,
) -> None:
    emulator = make_emulator()
    emulator.script("POST", "/trunks", kind)
    async with client_for(emulator) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.trunks.create("uncertain")
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.attempts == 1
    assert "'uncertain' may have been created" in str(caught.value)
    assert statuses(emulator, "POST", "/trunks") == [None]
    assert len(emulator.state.trunks) == (1 if kind == "drop_after" else 0)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_delete_whose_answer_was_dropped_counts_as_deleted(dialect: str) -> None:
    emulator = make_emulator(dialect)
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("doomed")).trunk_sid
        emulator.script("DELETE", "/trunks", "drop_after")
        await client.trunks.delete(sid)  # no NotFoundError from the repeat
    assert emulator.state.trunks == []
    assert statuses(emulator, "DELETE", "/trunks") == [None, 404]


# -- slow answers ---------------------------------------------------------------------------


async def test_slow_list_times_out_and_is_retried() -> None:
    emulator = make_emulator(slow_seconds=5.0)
    async with client_for(emulator, timeout=SHORT_TIMEOUT) as client:
        sid = (await client.trunks.create("sluggish")).trunk_sid
        emulator.script("GET", "/trunks/*/whitelisted-ips", "slow")
        assert await client.whitelisted_ips.list(sid) == []
    assert statuses(emulator, "GET", "/whitelisted-ips") == [None, 200]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_slow_repeatable_post_times_out_and_its_repeat_finds_the_record(
    dialect: str,
) -> None:
    emulator = make_emulator(dialect, slow_seconds=5.0)
    async with client_for(emulator, timeout=SHORT_TIMEOUT) as client:
        sid = (await client.trunks.create("sluggish")).trunk_sid
        emulator.script("POST", "/trunks/*/phone-numbers", "slow")
        number = await client.phone_numbers.map(sid, NUMBERS[0])
    [record] = emulator.state.phone_numbers(sid)
    assert number.id == record.id
    # The slow request was applied; the repeat answered "duplicate", resolved by a lookup.
    assert len(requests_to(emulator, "POST", "/phone-numbers")) == 2
    assert len(requests_to(emulator, "GET", "/phone-numbers")) == 1


@pytest.mark.parametrize("applies", [True, False])
async def test_slow_create_trunk_times_out_and_is_not_repeated(applies: bool) -> None:
    emulator = make_emulator(slow_seconds=5.0, slow_applies=applies)
    emulator.script("POST", "/trunks", "slow")
    async with client_for(emulator, timeout=SHORT_TIMEOUT) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.trunks.create("sluggish")
    assert "may have been created" in str(caught.value)
    assert caught.value.attempts == 1
    assert statuses(emulator, "POST", "/trunks") == [None]
    assert len(emulator.state.trunks) == (1 if applies else 0)


async def test_unfaulted_fqdn_destination_needs_no_retry() -> None:
    # The control for the tests above: without a script, each call is sent exactly once.
    emulator = make_emulator("live")
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("plain")).trunk_sid
        await client.destination_uris.add(sid, FQDN_DESTINATION)
    assert statuses(emulator, "POST", "/destination-uris") == [200]
    assert emulator.counters.by_fault == {}
