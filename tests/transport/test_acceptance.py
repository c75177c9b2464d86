"""Issue 3's acceptance scenario, against the shipped emulator served on 127.0.0.1, in real time.

An emulator enforcing 50 requests a second (bursts of 10, its ``rate_limit`` knob) answers 429
with ``Retry-After`` beyond that; 30 tasks map 300 numbers through one client. Paced at the
server's rate, the client almost never sees a 429; unpaced, the shared cool-down keeps the 429s
few. Separately, an emulator that drops 5% of the connections after applying the request and
answers 503 to 10% (seeded faults) still ends with every number mapped exactly once.
"""

from __future__ import annotations

from collections import Counter

import anyio
import pytest

from exotel_trunking import PhoneNumber, RateLimit
from exotel_trunking.emulator import Emulator

from .emulated import attempts, create_trunk, emulator_on, served_client

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # real time, against a served emulator

CALLS = 300
TASKS = 30
NUMBERS = [f"+9198{index:08d}" for index in range(CALLS)]


async def map_all(emulator: Emulator, sid: str, rate_limit: RateLimit | None) -> list[PhoneNumber]:
    """Map :data:`NUMBERS` to trunk ``sid`` from :data:`TASKS` workers sharing one client."""
    mapped: list[PhoneNumber] = []
    send, receive = anyio.create_memory_object_stream[str](CALLS)
    for number in NUMBERS:
        send.send_nowait(number)
    send.close()
    async with emulator.serve() as base_url:
        client = served_client(base_url, rate_limit=rate_limit)
        async with client, receive:

            async def worker() -> None:
                async for number in receive:
                    mapped.append(await client.phone_numbers.map(sid, number))

            async with anyio.create_task_group() as group:
                for _ in range(TASKS):
                    group.start_soon(worker)
    return mapped


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
    emulator = emulator_on(rate_limit=(50, 1.0, 10))
    sid = create_trunk(emulator)
    with anyio.fail_after(25):
        mapped = await map_all(emulator, sid, rate_limit)

    assert sorted(number.phone_number for number in mapped) == NUMBERS
    stored = sorted(record.phone_number for record in emulator.state.phone_numbers(sid))
    assert stored == NUMBERS
    posts = attempts(emulator, "POST", "/phone-numbers")
    refused = [record for record in posts if record.status == 429]
    assert len(refused) == emulator.counters.rate_limited  # every 429 was the bucket's
    assert len(posts) == CALLS + len(refused)  # nothing else was repeated
    assert len(refused) / len(posts) < max_share, f"429s: {len(refused)} of {len(posts)}"


async def test_with_5_percent_dropped_and_10_percent_503_every_number_is_mapped_exactly_once() -> (
    None
):
    emulator = emulator_on()
    sid = create_trunk(emulator)
    emulator.set_faults({"drop_after": 0.05, "503": 0.10})  # seeded: the same faults every run
    with anyio.fail_after(25):
        mapped = await map_all(emulator, sid, None)

    stored = {record.phone_number: record.id for record in emulator.state.phone_numbers(sid)}
    assert sorted(stored) == NUMBERS
    assert len(emulator.state.phone_numbers(sid)) == CALLS  # none stored twice
    # Every call returned once, with the record the emulator stored.
    assert len(mapped) == CALLS
    assert {number.phone_number: number.id for number in mapped} == stored
    # Every call ended with exactly one answered POST: 200, or 409 when a dropped attempt had
    # already mapped the number (the SDK resolved the duplicate to the stored record). Nothing
    # was sent again once answered, and only a drop that landed can have caused a duplicate.
    posts = attempts(emulator, "POST", "/phone-numbers")
    answered = Counter(record.status for record in posts if record.status is not None)
    assert set(answered) <= {200, 409, 503}, answered
    assert answered[200] + answered[409] == CALLS
    dropped = sum(record.fault == "drop_after" for record in posts)
    assert 0 < answered[409] <= dropped  # the faults did happen, and were recovered from
    assert answered[503] == sum(record.fault == "503" for record in posts) > 0
