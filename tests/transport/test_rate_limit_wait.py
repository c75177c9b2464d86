"""The ``on_rate_limit_wait`` hook: one event per hold of the whole client, as the hold starts.

On virtual time (see :mod:`.virtual_time`) against the shipped emulator in process (see
:mod:`.emulated`), so a hold's length is observed exactly.
"""

from __future__ import annotations

import anyio
import pytest

from exotel_trunking import AsyncTrunkingClient, RateLimitWait
from exotel_trunking._transport import LocalRateLimiter
from exotel_trunking.emulator import Emulator

from .emulated import client_on, create_trunk, emulator_on
from .virtual_time import EPOCH, VirtualTime, virtual_time

pytestmark = pytest.mark.anyio

T0 = 1_000.0
NUMBERS = "/trunks/*/phone-numbers"


def make_client(
    emulator: Emulator, clock: VirtualTime, events: list[RateLimitWait], **options: object
) -> AsyncTrunkingClient:
    return client_on(emulator, clock, rand=lambda: 0.0, on_rate_limit_wait=events.append, **options)


def too_many(emulator: Emulator, retry_after: int) -> None:
    """The next listing of numbers answers 429 whose ``Retry-After`` says ``retry_after``."""
    emulator.script("GET", NUMBERS, "429", headers={"Retry-After": str(retry_after)})


async def test_a_429_seen_by_many_tasks_is_announced_once_with_its_retry_after() -> None:
    events: list[RateLimitWait] = []
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        too_many(emulator, 42)
        client = make_client(emulator, clock, events)

        async def caller() -> None:
            await client.phone_numbers.list(sid)

        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(caller)

    assert [(e.seconds, e.reason) for e in events] == [(42.0, "429")]
    assert emulator.counters.by_status == {429: 1, 200: 5}


async def test_an_exhausted_quota_is_announced_as_a_quota_hold() -> None:
    events: list[RateLimitWait] = []
    async with virtual_time(T0) as clock:
        # One call per 30 s: the first answer says the quota is spent until T0 + 30.
        emulator = emulator_on(clock, rate_limit=(1, 30.0))
        sid = create_trunk(emulator)
        client = make_client(emulator, clock, events)

        await client.phone_numbers.list(sid)

    assert [e.reason for e in events] == ["quota"]
    assert events[0].seconds == pytest.approx(30.0)
    (answered,) = emulator.requests
    assert (answered.status, emulator.counters.rate_limited) == (200, 0)


async def test_a_hold_another_process_started_is_announced_as_shared() -> None:
    events: list[RateLimitWait] = []
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        limiter = LocalRateLimiter(None, clock=clock.monotonic, sleep=clock.sleep)
        client = make_client(emulator, clock, events, rate_limit=limiter)
        await limiter.cool_down(7.0)  # as a shared limiter reports another process's 429

        await client.phone_numbers.list(sid)
        await client.phone_numbers.list(sid)

    assert [(e.seconds, e.reason) for e in events] == [(7.0, "shared")]
    assert emulator.requests[0].arrived >= T0 + 7.0


class _RemoteCoolDown(LocalRateLimiter):
    """A limiter that, like Redis, knows of a hold at once but takes a while to share it."""

    def __init__(self, clock: VirtualTime) -> None:
        super().__init__(None, clock=clock.monotonic, sleep=clock.sleep)
        self._pause = clock.pause

    async def cool_down(self, seconds: float) -> None:
        await super().cool_down(seconds)
        await self._pause(0.05)  # the round trip that shares it


async def test_a_429_this_client_saw_is_announced_as_such_while_a_shared_limiter_spreads_it() -> (
    None
):
    events: list[RateLimitWait] = []
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock, latency=0.01)
        sid = create_trunk(emulator)
        too_many(emulator, 4)
        client = make_client(emulator, clock, events, rate_limit=_RemoteCoolDown(clock))

        async with anyio.create_task_group() as group:
            group.start_soon(client.phone_numbers.list, sid)
            await clock.pause(0.02)  # the first call's 429 is on its way back
            for _ in range(3):
                group.start_soon(client.phone_numbers.list, sid)

    assert [(e.seconds, e.reason) for e in events] == [(4.0, "429")]


async def test_a_derived_client_shares_the_announcement_of_a_hold() -> None:
    events: list[RateLimitWait] = []
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        too_many(emulator, 5)
        client = make_client(emulator, clock, events)
        derived = client.with_options(max_retries=3)

        async with anyio.create_task_group() as group:
            group.start_soon(client.phone_numbers.list, sid)
            group.start_soon(derived.whitelisted_ips.list, sid)

    assert [(e.seconds, e.reason) for e in events] == [(5.0, "429")]


async def test_a_second_hold_after_the_first_ended_is_announced_again() -> None:
    events: list[RateLimitWait] = []
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        too_many(emulator, 3)
        client = make_client(emulator, clock, events)
        await client.phone_numbers.list(sid)
        too_many(emulator, 4)
        await client.phone_numbers.list(sid)

    assert [(e.seconds, e.reason) for e in events] == [(3.0, "429"), (4.0, "429")]


# A hook that raises must not fail the call it reports on.


def _broken_display(event: object) -> None:
    raise RuntimeError("progress display broke")


async def test_a_raising_hold_hook_after_an_applied_create_still_returns_the_trunk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The quota runs out on the answer of a create that was applied: the hold starts after it.
    quota = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(EPOCH + T0 + 30))}
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        emulator.script("POST", "/trunks", "ok", headers=quota)
        client = make_client(emulator, clock, [])
        client._requester._on_rate_limit_wait = _broken_display

        trunk = await client.trunks.create("acme")

    assert [t.trunk_sid for t in emulator.state.trunks] == [trunk.trunk_sid]
    assert [(r.status, r.fault) for r in emulator.requests] == [(200, "ok")]
    assert any("RateLimitWait hook raised" in r.getMessage() for r in caplog.records)


async def test_a_raising_retry_hook_does_not_stop_the_retry() -> None:
    async with virtual_time(T0) as clock:
        emulator = emulator_on(clock)
        sid = create_trunk(emulator)
        emulator.script("GET", NUMBERS, "503")
        client = make_client(emulator, clock, [], on_retry=_broken_display)

        numbers = await client.phone_numbers.list(sid)

    assert numbers == []
    assert [(r.status, r.fault) for r in emulator.requests] == [(503, "503"), (200, None)]
