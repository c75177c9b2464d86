"""Issue 3's acceptance scenario, on a real loopback server and in real time.

A server enforcing 50 requests a second (bursts of 10) answers 429 with ``Retry-After`` beyond
that; 30 tasks map 300 numbers through one client. Paced at the server's rate, the client
almost never sees a 429; unpaced, the shared cool-down keeps the 429s few. Separately, a server
that drops 5% of the connections after applying the request and answers 503 to 10% still ends
with every number mapped exactly once.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import anyio
import pytest

from exotel_trunking import AsyncTrunkingClient, PhoneNumber, RateLimit

from .fakeapi import ACCOUNT, Bucket, Chaos, FakeExotel
from .loopback import serve

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # real time, against a real loopback server

CALLS = 300
TASKS = 30
NUMBERS = [f"+9198{index:08d}" for index in range(CALLS)]


async def map_all(fake: FakeExotel, rate_limit: RateLimit | None) -> list[PhoneNumber]:
    """Map :data:`NUMBERS` from :data:`TASKS` workers sharing one client."""
    fake.add_trunk("tr1")
    mapped: list[PhoneNumber] = []
    send, receive = anyio.create_memory_object_stream[str](CALLS)
    for number in NUMBERS:
        send.send_nowait(number)
    send.close()
    async with serve(fake.handle) as server:
        client = AsyncTrunkingClient(
            "key", "token", ACCOUNT, base_url=server.base_url, rate_limit=rate_limit
        )
        async with client, receive:

            async def worker() -> None:
                async for number in receive:
                    mapped.append(await client.phone_numbers.map("tr1", number))

            async with anyio.create_task_group() as group:
                for _ in range(TASKS):
                    group.start_soon(worker)
    return mapped


def share_429(fake: FakeExotel) -> float:
    posts = fake.requests("POST")
    return sum(seen.outcome == "429" for seen in posts) / len(posts)


@pytest.mark.parametrize(
    ("rate_limit", "max_share"),
    [
        pytest.param(RateLimit(calls=50, period=1.0), 0.02, id="paced"),
        pytest.param(None, 0.15, id="unpaced"),
    ],
)
async def test_300_maps_from_30_tasks_against_a_50_per_second_server_all_succeed_with_few_429s(
    rate_limit: RateLimit | None, max_share: float
) -> None:
    fake = FakeExotel()
    fake.bucket = Bucket(rate=50.0, burst=10, clock=time.monotonic)
    with anyio.fail_after(25):
        mapped = await map_all(fake, rate_limit)

    assert sorted(number.phone_number for number in mapped) == NUMBERS
    assert share_429(fake) < max_share, f"429s: {len(fake.outcomes('429'))} of {len(fake.seen)}"


async def test_with_5_percent_dropped_and_10_percent_503_every_number_is_mapped_exactly_once() -> (
    None
):
    fake = FakeExotel()
    fake.chaos = Chaos(random.Random(2024), drop_after=0.05, unavailable=0.10)
    with anyio.fail_after(25):
        mapped = await map_all(fake, None)

    stored = fake.numbers["tr1"]
    assert sorted(stored) == NUMBERS
    assert Counter(key for kind, key in fake.applied if kind == "number") == Counter(NUMBERS)
    assert {number.phone_number: number.id for number in mapped} == {
        number: record["id"] for number, record in stored.items()
    }
    assert fake.outcomes("drop")  # the faults did happen
    assert fake.outcomes("503")
