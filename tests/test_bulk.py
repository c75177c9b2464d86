"""The bulk executor: accounting, streaming, duplicates, fatal errors, progress, cancellation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial

import anyio
import anyio.lowlevel
import httpx2
import pytest
from anyio import wait_all_tasks_blocked

from exotel_trunking import (
    AsyncTrunkingClient,
    AuthenticationError,
    BadRequestError,
    BulkFailureError,
    InvalidParameterError,
    NotFoundError,
    RetryPolicy,
)
from exotel_trunking.emulator import Emulator

from . import wire

pytestmark = pytest.mark.anyio

FAST_RETRIES = RetryPolicy(max_retries=12, initial_delay=0.001, max_delay=0.01)


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+9198{n:08d}" for n in range(start, start + count)]


def client_for(emulator: Emulator, **options: object) -> AsyncTrunkingClient:
    defaults: dict[str, object] = {"rate_limit": None, "retry": FAST_RETRIES}
    defaults.update(options)
    return AsyncTrunkingClient(
        emulator.api_key,
        "t",
        emulator.account_sid,
        transport=emulator.transport(),
        **defaults,  # type: ignore[arg-type]
    )


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(api_key="k", api_token="t", account_sid="acme", seed=1)


async def new_trunk(client: AsyncTrunkingClient, name: str = "bulk") -> str:
    return (await client.trunks.create(name)).trunk_sid


def posts(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests if r.method == "POST" and "phone-numbers" in r.path)


async def test_outcomes_come_back_in_input_order_one_per_item(emulator: Emulator) -> None:
    items = ["+919800000003", "bad number", "+919800000001", "+919800000002"]
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        result = await client.bulk.map_phone_numbers(sid, items, concurrency=3)
    assert [o.item for o in result.outcomes] == items
    assert [o.index for o in result.outcomes] == [0, 1, 2, 3]
    assert [o.status for o in result.outcomes] == ["created", "invalid", "created", "created"]
    assert result.outcomes[0].value is not None
    assert result.outcomes[0].value.phone_number == "+919800000003"
    assert isinstance(result.outcomes[1].error, InvalidParameterError)


async def test_invalid_items_are_never_sent(emulator: Emulator) -> None:
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        result = await client.bulk.map_phone_numbers(sid, ["nope", "+0123", "12"])
    assert [o.status for o in result.outcomes] == ["invalid"] * 3
    assert posts(emulator) == 0


async def test_generators_and_async_generators_are_streamed(emulator: Emulator) -> None:
    async def agen() -> AsyncIterator[str]:
        for number in numbers(30):
            yield number

    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        from_gen = await client.bulk.map_phone_numbers(sid, iter(numbers(30, 100)))
        from_agen = await client.bulk.map_phone_numbers(sid, agen())
    assert len(from_gen.created) == 30
    assert len(from_agen.created) == 30
    assert len(emulator.state.phone_numbers(sid)) == 60


async def test_an_async_generator_that_waits_between_items_is_read_by_one_worker_at_a_time(
    emulator: Emulator,
) -> None:
    async def slow_source() -> AsyncIterator[str]:
        for number in numbers(40):
            await anyio.lowlevel.checkpoint()  # a second worker must not advance it now
            yield number

    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        result = await client.bulk.map_phone_numbers(sid, slow_source(), concurrency=10)
    assert [o.item for o in result.outcomes] == numbers(40)
    assert [o.status for o in result.outcomes] == ["created"] * 40


async def test_the_input_is_read_no_further_ahead_than_the_concurrency() -> None:
    release = anyio.Event()
    in_flight = 0
    pulled = 0

    async def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal in_flight
        in_flight += 1
        await release.wait()
        body = json.loads(request.content)
        data = {"id": "1", "phone_number": body["phone_number"], "trunk_sid": "t1"}
        return httpx2.Response(200, json={"response": {"status": "success", "data": data}})

    def lazy() -> Iterator[str]:
        nonlocal pulled
        for number in numbers(1000):
            pulled += 1
            yield number

    transport = httpx2.MockTransport(handler)
    async with (
        AsyncTrunkingClient("k", "t", "acme", transport=transport, rate_limit=None) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(partial(client.bulk.map_phone_numbers, "t1", lazy(), concurrency=5))
        await wait_all_tasks_blocked()  # a runaway producer would have run ahead by now
        assert in_flight == 5
        assert pulled <= 5 + 1  # the five in flight, plus one waiting to be handed over
        release.set()
    assert pulled == 1000


async def test_duplicates_in_the_input_are_sent_once(emulator: Emulator) -> None:
    items = ["+919800000001", "+91 98000-00001", "+919800000002", "+919800000001"]
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        result = await client.bulk.map_phone_numbers(sid, items, concurrency=4)
    assert posts(emulator) == 2
    assert [o.status for o in result.outcomes] == ["created", "exists", "created", "exists"]


async def test_skip_existing_lists_first_and_sends_only_the_rest(emulator: Emulator) -> None:
    emulator.configure(page_size=7)
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        await client.bulk.map_phone_numbers(sid, numbers(20))
        before = posts(emulator)
        start = len(emulator.requests)
        result = await client.bulk.map_phone_numbers(sid, numbers(25), skip_existing=True)
    new = emulator.requests[start:]
    last_list = max(i for i, r in enumerate(new) if r.method == "GET")
    first_post = min(i for i, r in enumerate(new) if r.method == "POST")
    assert last_list < first_post  # every page was listed before anything was sent
    assert posts(emulator) - before == 5
    assert len(result.existing) == 20
    assert all(o.value is not None for o in result.existing)
    assert len(result.created) == 5


async def test_running_the_same_batch_again_reports_everything_as_existing(
    emulator: Emulator,
) -> None:
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        first = await client.bulk.map_phone_numbers(sid, numbers(40))
        second = await client.bulk.map_phone_numbers(sid, numbers(40))
    assert len(first.created) == 40
    assert [o.status for o in second.outcomes] == ["exists"] * 40
    assert second.ok
    assert len(emulator.state.phone_numbers(sid)) == 40


async def test_an_authentication_error_stops_the_batch_without_sending_the_rest(
    emulator: Emulator,
) -> None:
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
    bad = AsyncTrunkingClient(
        "k", "wrong", "acme", transport=emulator.transport(), rate_limit=None, retry=FAST_RETRIES
    )
    async with bad:
        result = await bad.bulk.map_phone_numbers(sid, numbers(500), concurrency=10)
    assert isinstance(result.fatal_error, AuthenticationError)
    assert len(result.failed) == 500
    assert all(isinstance(o.error, AuthenticationError) for o in result.outcomes)
    assert posts(emulator) <= 10  # only what was already in flight when the first 401 came


async def test_a_missing_trunk_stops_the_batch(emulator: Emulator) -> None:
    async with client_for(emulator) as client:
        result = await client.bulk.map_phone_numbers("no_such_trunk", numbers(200), concurrency=4)
    assert isinstance(result.fatal_error, NotFoundError)
    assert posts(emulator) <= 4
    with pytest.raises(BulkFailureError, match="200 items were not applied"):
        result.raise_for_failures()


async def test_progress_is_reported_for_every_item(emulator: Emulator) -> None:
    seen: list[tuple[int, int | None]] = []
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        await client.bulk.map_phone_numbers(
            sid, numbers(25), on_progress=lambda d, t: seen.append((d, t))
        )
        await client.bulk.map_phone_numbers(
            sid, iter(numbers(3, 500)), on_progress=lambda d, t: seen.append((d, t))
        )
    assert seen[:25] == [(n, 25) for n in range(1, 26)]
    assert seen[25:] == [(1, None), (2, None), (3, None)]


async def test_the_stream_yields_outcomes_as_they_finish_with_live_counts(
    emulator: Emulator,
) -> None:
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        indexes = []
        async with client.bulk.stream_phone_numbers(sid, [*numbers(10), "bad"]) as stream:
            async for outcome in stream:
                indexes.append(outcome.index)
                assert stream.done == len(indexes)
            assert stream.counts == {"created": 10, "exists": 0, "invalid": 1, "failed": 0}
    assert sorted(indexes) == list(range(11))


@pytest.mark.slow  # the emulator's latency, in real time
async def test_cancelling_the_batch_stops_sending_promptly(emulator: Emulator) -> None:
    emulator.configure(latency=0.05)
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        twenty_done = anyio.Event()

        def on_progress(done: int, total: int | None) -> None:
            if done >= 20:
                twenty_done.set()

        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(
                    partial(
                        client.bulk.map_phone_numbers,
                        sid,
                        numbers(10_000),
                        concurrency=10,
                        on_progress=on_progress,
                    )
                )
                await twenty_done.wait()
                seen = posts(emulator)
                scope.cancel()
        sent = posts(emulator)
        await anyio.sleep(0.1)
        assert posts(emulator) == sent  # nothing left running in the background
        assert sent <= seen + 10  # only the 10 in flight when cancelled, none started after
        # the client is still usable: no slot or connection was leaked
        assert (await client.phone_numbers.map(sid, "+919899999999")).phone_number


async def test_a_failing_input_iterator_raises_its_own_error_after_accounting(
    emulator: Emulator,
) -> None:
    def broken() -> Iterator[str]:
        yield from numbers(3)
        raise OSError("disk gone")

    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        with pytest.raises(OSError, match="disk gone"):
            await client.bulk.map_phone_numbers(sid, broken())
    assert len(emulator.state.phone_numbers(sid)) == 3


async def test_bad_concurrency_is_refused_before_anything_is_sent(emulator: Emulator) -> None:
    async with client_for(emulator) as client:
        with pytest.raises(InvalidParameterError, match="concurrency"):
            await client.bulk.map_phone_numbers("t1", numbers(3), concurrency=0)
    assert emulator.requests == []


async def test_whitelist_ips_accounts_for_addresses_and_ranges(emulator: Emulator) -> None:
    items = ["203.0.113.5", "203.0.113.16/28", "10.0.0.1", "203.0.113.5/32", "198.51.100.0/24"]
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        result = await client.bulk.whitelist_ips(sid, items)
        again = await client.bulk.whitelist_ips(sid, items, skip_existing=True)
    assert [o.status for o in result.outcomes] == [
        "created",
        "created",
        "invalid",
        "exists",
        "created",
    ]
    assert [o.status for o in again.outcomes] == ["exists", "exists", "invalid", "exists", "exists"]


@pytest.mark.slow  # the 429s hold the client back in real time
async def test_every_number_lands_exactly_once_through_503s_429s_and_dropped_connections() -> None:
    emulator = Emulator(
        api_key="k",
        api_token="t",
        account_sid="acme",
        seed=7,
        faults={"503": 0.10, "429": 0.05, "drop_after": 0.03},
        fault_retry_after=0,
    )
    async with client_for(emulator) as client:
        emulator.clear_faults()
        sid = await new_trunk(client)
        emulator.set_faults({"503": 0.10, "429": 0.05, "drop_after": 0.03})
        result = await client.bulk.map_phone_numbers(sid, numbers(400), concurrency=20)
    assert [o.status for o in result.outcomes] == ["created"] * 400
    mapped = [n.phone_number for n in emulator.state.phone_numbers(sid)]
    assert sorted(mapped) == numbers(400)
    assert emulator.counters.by_fault["drop_after"] > 0  # the scenario really was exercised


# -- duplicates: sent once, remembered compactly, or not at all with deduplicate=False ---------


def ip_posts(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests if r.method == "POST" and "whitelisted-ips" in r.path)


def scripted(
    answer: Callable[[int, str], httpx2.Response],
) -> tuple[httpx2.MockTransport, list[str]]:
    """A transport answering the n-th mapping request (from 0), of ``number``, with ``answer``."""
    sent: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        number = json.loads(request.content)["phone_number"]
        sent.append(number)
        return answer(len(sent) - 1, number)

    return httpx2.MockTransport(handler), sent


def mapped(number: str) -> httpx2.Response:
    data = {"id": number[1:], "phone_number": number, "trunk_sid": "t1"}
    return httpx2.Response(200, json=wire.single("reference", data, method="POST"))


def refused(status: int) -> httpx2.Response:
    body = wire.failure("reference", status, 1001, "Refused", "scripted failure")
    return httpx2.Response(status, json=body)


async def test_each_distinct_number_is_sent_once_and_first_occurrences_are_the_ones_sent(
    emulator: Emulator,
) -> None:
    distinct = numbers(150)
    spelled = [n[:3] + " " + n[3:8] + "-" + n[8:] for n in distinct]  # another spelling
    items = distinct + spelled + distinct[::-1]
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        result = await client.bulk.map_phone_numbers(sid, items, concurrency=25)
    assert posts(emulator) == 150
    assert [o.status for o in result.outcomes] == ["created"] * 150 + ["exists"] * 300
    assert all(o.value is None for o in result.existing)  # only skip_existing brings records


async def test_each_distinct_network_is_sent_once(emulator: Emulator) -> None:
    items = [
        "203.0.113.5",
        "203.0.113.5/32",  # the same network as the bare address
        "203.0.113.0/24",
        "203.0.113.0",  # not the /24: a different network
        "203.0.113.0/24",
        "203.0.113.5",
    ]
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        result = await client.bulk.whitelist_ips(sid, items, concurrency=6)
    assert ip_posts(emulator) == 3
    statuses = [o.status for o in result.outcomes]
    assert statuses == ["created", "exists", "created", "created", "exists", "exists"]


async def test_a_failed_first_occurrence_fails_its_later_duplicates_with_its_error() -> None:
    bad = "+919800000001"
    transport, sent = scripted(lambda _, n: refused(400) if n == bad else mapped(n))
    items = [bad, "+919800000002", "+91 98000 00001", "+919800000003", bad]
    async with AsyncTrunkingClient("k", "t", "acme", transport=transport, rate_limit=None) as c:
        result = await c.bulk.map_phone_numbers("t1", items, concurrency=1)
    assert sent.count(bad) == 1
    assert [o.status for o in result.outcomes] == [
        "failed",
        "created",
        "failed",
        "created",
        "failed",
    ]
    first = result.outcomes[0].error
    assert isinstance(first, BadRequestError)
    assert result.outcomes[2].error is first
    assert result.outcomes[4].error is first
    assert result.fatal_error is None


async def test_a_duplicate_arriving_while_its_first_is_in_flight_waits_for_its_outcome() -> None:
    release = anyio.Event()
    sent: list[str] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(json.loads(request.content)["phone_number"])
        await release.wait()
        return refused(400)

    transport = httpx2.MockTransport(handler)
    items = ["+919800000001", "+919800000001", "+91 9800000001"]
    client = AsyncTrunkingClient("k", "t", "acme", transport=transport, rate_limit=None)
    async with client, client.bulk.stream_phone_numbers("t1", items, concurrency=3) as stream:
        await wait_all_tasks_blocked()  # every item has been read by now
        assert sent == ["+919800000001"]
        assert [i for i, _ in stream._run.in_flight[919800000001]] == [1, 2]
        release.set()
        outcomes = [o async for o in stream]
    assert sent == ["+919800000001"]
    assert sorted(o.index for o in outcomes) == [0, 1, 2]
    assert all(o.status == "failed" for o in outcomes)
    assert len({id(o.error) for o in outcomes}) == 1


async def test_a_fatal_stop_remembers_the_fatal_error_once_not_each_unsent_item() -> None:
    transport, sent = scripted(lambda n, number: mapped(number) if n < 5 else refused(401))
    items = [*numbers(300), *numbers(5), "+919800000299"]
    client = AsyncTrunkingClient("k", "t", "acme", transport=transport, rate_limit=None)
    async with client, client.bulk.stream_phone_numbers("t1", items, concurrency=1) as stream:
        outcomes = sorted([o async for o in stream], key=lambda o: o.index)
        run = stream._run
    assert len(sent) == 6  # five mapped, then the 401 that stopped the batch
    assert isinstance(stream.fatal_error, AuthenticationError)
    assert len(run.settled) == 5
    assert list(run.failed) == [919800000005]  # the one sent; the 294 unsent are not stored
    assert run.in_flight == {}
    expected = ["created"] * 5 + ["failed"] * 295 + ["exists"] * 5 + ["failed"]
    assert [o.status for o in outcomes] == expected
    assert all(o.error is stream.fatal_error for o in outcomes[5:300])
    assert outcomes[-1].error is stream.fatal_error  # a duplicate of an unsent item


async def test_deduplicate_false_sends_duplicates_and_the_api_reports_them_existing(
    emulator: Emulator,
) -> None:
    items = ["+919800000001", "+919800000002", "+91 98000 00001"]
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        async with client.bulk.stream_phone_numbers(
            sid, items, concurrency=1, deduplicate=False
        ) as stream:
            outcomes = sorted([o async for o in stream], key=lambda o: o.index)
            run = stream._run
        result = await client.bulk.map_phone_numbers(sid, items[:1], deduplicate=False)
    assert posts(emulator) == 4
    assert [o.status for o in outcomes] == ["created", "created", "exists"]
    assert len(run.settled) == 0  # nothing was kept per number
    assert run.failed == {}
    assert run.in_flight == {}
    assert [o.status for o in result.outcomes] == ["exists"]


async def test_deduplicate_false_sends_duplicate_networks_too(emulator: Emulator) -> None:
    items = ["203.0.113.5", "203.0.113.5/32"]
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        result = await client.bulk.whitelist_ips(sid, items, concurrency=1, deduplicate=False)
        async with client.bulk.stream_whitelist_ips(sid, items, deduplicate=False) as stream:
            again = [o.status async for o in stream]
    assert ip_posts(emulator) == 4
    assert [o.status for o in result.outcomes] == ["created", "exists"]
    assert again == ["exists", "exists"]


async def test_deduplicate_false_still_honours_skip_existing(emulator: Emulator) -> None:
    async with client_for(emulator) as client:
        sid = await new_trunk(client)
        await client.bulk.map_phone_numbers(sid, numbers(3))
        before = posts(emulator)
        result = await client.bulk.map_phone_numbers(
            sid, numbers(5), skip_existing=True, deduplicate=False
        )
    assert posts(emulator) - before == 2
    assert [o.status for o in result.outcomes] == ["exists"] * 3 + ["created"] * 2
    assert all(o.value is not None for o in result.existing)


async def test_skip_existing_ignores_listed_records_no_input_item_can_equal() -> None:
    listed = [
        wire.phone_number_record("reference", 0, phone_number="+91 98000 00001"),
        wire.phone_number_record("reference", 1, phone_number="+919800000002"),
    ]

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":
            return httpx2.Response(
                200,
                json=wire.per_item(
                    "reference", [wire.item_ok("reference", r) for r in listed], method="GET"
                ),
            )
        number = json.loads(request.content)["phone_number"]
        return mapped(number)

    transport = httpx2.MockTransport(handler)
    async with AsyncTrunkingClient("k", "t", "acme", transport=transport, rate_limit=None) as c:
        result = await c.bulk.map_phone_numbers(
            "t1", ["+919800000001", "+919800000002"], skip_existing=True
        )
    assert [o.status for o in result.outcomes] == ["created", "exists"]
