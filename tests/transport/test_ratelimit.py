"""The client-wide limiter on virtual time: pacing, FIFO, cool-down, spreading, cancellation."""

from __future__ import annotations

import random

import anyio
import anyio.abc
import pytest

from exotel_trunking import RateLimit
from exotel_trunking._transport import LocalRateLimiter

from .emulated import peak_share
from .virtual_time import VirtualTime, virtual_time

pytestmark = pytest.mark.anyio

T0 = 1_000.0
#: The limiter paces 2% below the configured rate (see RateLimit.interval).
MARGIN = 1.02


def limiter(clock: VirtualTime, rate_limit: RateLimit | None, seed: int = 0) -> LocalRateLimiter:
    return LocalRateLimiter(
        rate_limit, clock=clock.monotonic, sleep=clock.sleep, rand=random.Random(seed).random
    )


async def acquire_times(clock: VirtualTime, limit: LocalRateLimiter, count: int) -> list[float]:
    """Start ``count`` waiters one after another; return when each was let through, in order."""
    times: list[float | None] = [None] * count

    async def waiter(index: int, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        task_status.started()
        await limit.acquire()
        times[index] = clock.monotonic()

    async with anyio.create_task_group() as group:
        for index in range(count):
            await group.start(waiter, index)
    assert None not in times
    return times  # type: ignore[return-value]


def test_rate_limit_defaults_to_exotels_documented_200_calls_a_minute_with_bursts_of_5() -> None:
    rate_limit = RateLimit()

    assert (rate_limit.calls, rate_limit.period, rate_limit.burst) == (200, 60.0, 5)
    assert rate_limit.interval == pytest.approx(0.3 * MARGIN)
    assert RateLimit(calls=3, period=1.0).burst == 3


@pytest.mark.parametrize("kwargs", [{"calls": 0}, {"period": 0.0}, {"burst": 0}])
def test_rate_limit_refuses_non_positive_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RateLimit(**kwargs)  # type: ignore[arg-type]


async def test_limiter_lets_a_burst_through_then_spaces_requests_at_the_interval() -> None:
    async with virtual_time(T0) as clock:
        limit = limiter(clock, RateLimit(calls=10, period=1.0, burst=3))

        times = await acquire_times(clock, limit, 8)

    expected = [T0, T0, T0] + [T0 + 0.1 * MARGIN * step for step in range(1, 6)]
    assert times == pytest.approx(expected)


async def test_limiter_refills_the_burst_after_an_idle_spell() -> None:
    async with virtual_time(T0) as clock:
        limit = limiter(clock, RateLimit(calls=10, period=1.0, burst=3))
        await acquire_times(clock, limit, 3)
        await clock.sleep(10.0)

        times = await acquire_times(clock, limit, 4)

    assert times == pytest.approx([T0 + 10] * 3 + [T0 + 10 + 0.1 * MARGIN])


async def test_limiter_lets_waiters_through_in_the_order_they_came() -> None:
    order: list[int] = []
    async with virtual_time(T0) as clock:
        limit = limiter(clock, RateLimit(calls=1, period=1.0, burst=1))

        async def waiter(index: int, *, task_status: anyio.abc.TaskStatus[None]) -> None:
            task_status.started()
            await limit.acquire()
            order.append(index)

        async with anyio.create_task_group() as group:
            for index in range(8):
                await group.start(waiter, index)
        end = clock.monotonic()

    assert order == list(range(8))
    assert end == pytest.approx(T0 + 7 * MARGIN)


async def test_cool_down_holds_every_new_request_then_resumes_one_interval_apart() -> None:
    async with virtual_time(T0) as clock:
        limit = limiter(clock, RateLimit(calls=10, period=1.0, burst=5))
        await limit.cool_down(2.0)
        assert limit.blocked_for == pytest.approx(2.0)

        times = await acquire_times(clock, limit, 6)

    # No burst after a 429: the server's bucket is empty, so ours restarts empty too.
    assert times == pytest.approx([T0 + 2.0 + 0.1 * MARGIN * index for index in range(6)])
    assert limit.blocked_for == 0.0


async def test_cool_down_announced_while_a_request_waits_for_its_slot_holds_it_too() -> None:
    async with virtual_time(T0) as clock:
        limit = limiter(clock, RateLimit(calls=1, period=1.0, burst=1))
        await limit.acquire()  # the next slot is at T0 + 1 (and the margin)
        released: list[float] = []

        async def late_waiter() -> None:
            await limit.acquire()
            released.append(clock.monotonic())

        async with anyio.create_task_group() as group:
            group.start_soon(late_waiter)
            await clock.sleep(0.5)
            await limit.cool_down(3.0)  # a 429 elsewhere: blocked until T0 + 3.5

    assert released == pytest.approx([T0 + 3.5])


async def test_a_shorter_cool_down_never_shortens_a_longer_one() -> None:
    async with virtual_time(T0) as clock:
        limit = limiter(clock, None)
        await limit.cool_down(5.0)
        await limit.cool_down(1.0)

        assert limit.blocked_for == pytest.approx(5.0)
        await limit.acquire()
        assert clock.monotonic() >= T0 + 5.0


async def test_limiter_without_pacing_lets_requests_through_at_once() -> None:
    async with virtual_time(T0) as clock:
        limit = limiter(clock, None)

        times = await acquire_times(clock, limit, 100)

    assert times == [T0] * 100


async def test_waiters_released_by_a_cool_down_without_pacing_are_spread_not_bunched() -> None:
    async with virtual_time(T0) as clock:
        limit = limiter(clock, None, seed=7)
        await limit.cool_down(2.0)

        times = await acquire_times(clock, limit, 200)

    assert min(times) >= T0 + 2.0  # jitter only adds to the server's Retry-After
    assert peak_share(times, 0.05) <= 0.25
    assert max(times) - min(times) > 0.5


async def test_cancelling_a_paced_waiter_consumes_no_slot() -> None:
    async with virtual_time(T0) as clock:
        limit = limiter(clock, RateLimit(calls=1, period=1.0, burst=1))
        await limit.acquire()  # T0; the next slot is T0 + 1 (and the margin)

        with anyio.move_on_after(0) as scope:  # real time: expires at the first checkpoint
            await limit.acquire()
        assert scope.cancelled_caught
        await limit.acquire()

        assert clock.monotonic() == pytest.approx(T0 + MARGIN)


async def test_cancelling_a_waiter_mid_wait_leaves_the_queue_moving() -> None:
    async with virtual_time(T0) as clock:
        limit = limiter(clock, RateLimit(calls=1, period=1.0, burst=1))
        await limit.acquire()
        released: list[tuple[str, float]] = []

        async def waiter(
            name: str, scope: anyio.CancelScope, *, task_status: anyio.abc.TaskStatus[None]
        ) -> None:
            with scope:
                task_status.started()
                await limit.acquire()
                released.append((name, clock.monotonic()))

        doomed = anyio.CancelScope()
        async with anyio.create_task_group() as group:
            await group.start(waiter, "doomed", doomed)
            await group.start(waiter, "next", anyio.CancelScope())
            await clock.sleep(0.5)
            doomed.cancel()  # while it sleeps at the head of the queue

    assert [name for name, _ in released] == ["next"]
    assert released[0][1] == pytest.approx(T0 + MARGIN)


async def test_cancelling_a_waiter_in_a_cool_down_returns_at_once() -> None:
    async with virtual_time(T0) as clock:
        limit = limiter(clock, None)
        await limit.cool_down(60.0)

        with anyio.CancelScope() as scope:
            scope.cancel()
            await limit.acquire()

        assert clock.monotonic() == T0
        assert limit.blocked_for == pytest.approx(60.0)
