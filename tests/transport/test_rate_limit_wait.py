"""The ``on_rate_limit_wait`` hook: one event per hold of the whole client, as the hold starts.

On virtual time (see :mod:`.virtual_time`), so a hold's length is observed exactly.
"""

from __future__ import annotations

import anyio
import pytest

from exotel_trunking import AsyncTrunkingClient, RateLimitWait
from exotel_trunking._transport import LocalRateLimiter

from .fakeapi import ACCOUNT, Delay, FakeExotel, Status
from .virtual_time import EPOCH, VirtualTime, use_virtual_time, virtual_time

pytestmark = pytest.mark.anyio

T0 = 1_000.0


def make_client(
    fake: FakeExotel, clock: VirtualTime, events: list[RateLimitWait], **options: object
) -> AsyncTrunkingClient:
    fake.clock = clock.monotonic
    options.setdefault("rate_limit", None)
    client = AsyncTrunkingClient(
        "key",
        "token",
        ACCOUNT,
        base_url="https://api.exotel.test",
        transport=fake.mock_transport(clock.pause),
        on_rate_limit_wait=events.append,
        **options,  # type: ignore[arg-type]
    )
    use_virtual_time(client, clock, lambda: 0.0)
    return client


def exotel_with_trunk(answer: Status | None = None) -> FakeExotel:
    """A fake Exotel with the trunk ``tr1``; the next listing of its numbers gets ``answer``."""
    fake = FakeExotel()
    fake.add_trunk("tr1")
    if answer is not None:
        fake.script("GET", "phone-numbers", answer)
    return fake


def too_many(retry_after: int) -> Status:
    """A 429 whose ``Retry-After`` says ``retry_after`` seconds."""
    return Status(429, (("Retry-After", str(retry_after)),))


def _list_body() -> bytes:
    return b'{"request_id": "q", "response": {"status": "success", "code": 200, "data": []}}'


async def test_a_429_seen_by_many_tasks_is_announced_once_with_its_retry_after() -> None:
    fake = exotel_with_trunk(too_many(42))
    events: list[RateLimitWait] = []
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, events)

        async def caller() -> None:
            await client.phone_numbers.list("tr1")

        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(caller)

    assert [(e.seconds, e.reason) for e in events] == [(42.0, "429")]


async def test_an_exhausted_quota_is_announced_as_a_quota_hold() -> None:
    reset = str(int(EPOCH + T0 + 30))
    quota = (("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", reset))
    fake = exotel_with_trunk(Status(200, quota, body=_list_body()))
    events: list[RateLimitWait] = []
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, events)

        await client.phone_numbers.list("tr1")

    assert [e.reason for e in events] == ["quota"]
    assert events[0].seconds == pytest.approx(30.0)


async def test_a_hold_another_process_started_is_announced_as_shared() -> None:
    fake = exotel_with_trunk()
    events: list[RateLimitWait] = []
    async with virtual_time(T0) as clock:
        limiter = LocalRateLimiter(None, clock=clock.monotonic, sleep=clock.sleep)
        client = make_client(fake, clock, events, rate_limit=limiter)
        await limiter.cool_down(7.0)  # as a shared limiter reports another process's 429

        await client.phone_numbers.list("tr1")
        await client.phone_numbers.list("tr1")

    assert [(e.seconds, e.reason) for e in events] == [(7.0, "shared")]
    assert fake.seen[0].at >= T0 + 7.0


async def test_a_derived_client_shares_the_announcement_of_a_hold() -> None:
    fake = exotel_with_trunk(too_many(5))
    events: list[RateLimitWait] = []
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, events)
        derived = client.with_options(max_retries=3)

        async with anyio.create_task_group() as group:
            group.start_soon(client.phone_numbers.list, "tr1")
            group.start_soon(derived.whitelisted_ips.list, "tr1")

    assert [(e.seconds, e.reason) for e in events] == [(5.0, "429")]


async def test_a_second_hold_after_the_first_ended_is_announced_again() -> None:
    fake = exotel_with_trunk(too_many(3))
    events: list[RateLimitWait] = []
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, events)
        await client.phone_numbers.list("tr1")
        fake.script("GET", "phone-numbers", too_many(4))
        await client.phone_numbers.list("tr1")

    assert [(e.seconds, e.reason) for e in events] == [(3.0, "429"), (4.0, "429")]


# A hook that raises must not fail the call it reports on.


def _broken_display(event: object) -> None:
    raise RuntimeError("progress display broke")


async def test_a_raising_hold_hook_after_an_applied_create_still_returns_the_trunk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The quota runs out on the answer of a create that was applied: the hold starts after it.
    fake = FakeExotel()
    quota = (("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", str(int(EPOCH + T0 + 30))))
    fake.script("POST", "trunks", Delay(0.0, headers=quota))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, [])
        client._requester._on_rate_limit_wait = _broken_display

        trunk = await client.trunks.create("acme")

    assert list(fake.trunks) == [trunk.trunk_sid]
    assert any("RateLimitWait hook raised" in r.getMessage() for r in caplog.records)


async def test_a_raising_retry_hook_does_not_stop_the_retry() -> None:
    fake = exotel_with_trunk(Status(503))
    async with virtual_time(T0) as clock:
        client = make_client(fake, clock, [], on_retry=_broken_display)

        numbers = await client.phone_numbers.list("tr1")

    assert numbers == []
    assert [seen.outcome for seen in fake.seen] == ["503", "200"]
