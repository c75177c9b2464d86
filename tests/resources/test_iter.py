"""The lazy list form: ``iter()`` fetches a page only when the loop reaches it."""

from __future__ import annotations

import pytest

from exotel_trunking import AsyncTrunkingClient, InvalidParameterError, PhoneNumber
from exotel_trunking.emulator import Emulator

pytestmark = pytest.mark.anyio

PAGE_SIZE = 3


async def _setup(client: AsyncTrunkingClient, count: int) -> str:
    """A trunk with ``count`` numbers, one IP and one destination (sends only POSTs)."""
    trunk = await client.trunks.create("lazy_trunk")
    for index in range(count):
        await client.phone_numbers.map(trunk.trunk_sid, f"+9198765432{index:02d}")
    await client.whitelisted_ips.add(trunk.trunk_sid, "203.0.113.7")
    await client.destination_uris.add(trunk.trunk_sid, "203.0.113.7:5061;transport=tls")
    return trunk.trunk_sid


def _pages_read(emulator: Emulator) -> int:
    return sum(1 for record in emulator.requests if record.method == "GET")


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(api_key="k", api_token="t", account_sid="acme", dialect="live", page_size=3)


def _client(emulator: Emulator) -> AsyncTrunkingClient:
    return AsyncTrunkingClient("k", "t", "acme", transport=emulator.transport(), rate_limit=None)


async def test_iter_fetches_the_next_page_only_when_the_loop_reaches_it(
    emulator: Emulator,
) -> None:
    async with _client(emulator) as client:
        sid = await _setup(client, 10)
        numbers = client.phone_numbers.iter(sid)
        assert _pages_read(emulator) == 0  # building the iterator sends nothing

        taken = [await anext(numbers) for _ in range(PAGE_SIZE)]
        assert _pages_read(emulator) == 1
        taken.append(await anext(numbers))
        assert _pages_read(emulator) == 2

    assert all(isinstance(number, PhoneNumber) for number in taken)
    assert len({n.phone_number for n in taken}) == 4


async def test_list_is_iter_to_the_end_across_every_page(emulator: Emulator) -> None:
    async with _client(emulator) as client:
        sid = await _setup(client, 10)
        listed = await client.phone_numbers.list(sid)
        pages_for_list = _pages_read(emulator)
        iterated = [number async for number in client.phone_numbers.iter(sid)]

    assert pages_for_list == 4  # 10 numbers, 3 a page
    assert listed == iterated
    assert len(listed) == 10


async def test_every_listable_resource_has_a_lazy_iter(emulator: Emulator) -> None:
    async with _client(emulator) as client:
        sid = await _setup(client, 1)
        ips = [ip async for ip in client.whitelisted_ips.iter(sid)]
        destinations = [d async for d in client.destination_uris.iter(sid)]

    assert [ip.cidr for ip in ips] == ["203.0.113.7/32"]
    assert [d.destination.removeprefix("sip:") for d in destinations] == [
        "203.0.113.7:5061;transport=tls"
    ]


@pytest.mark.parametrize("resource", ["phone_numbers", "whitelisted_ips", "destination_uris"])
async def test_iter_refuses_a_bad_trunk_sid_before_iterating(
    emulator: Emulator, resource: str
) -> None:
    async with _client(emulator) as client:
        with pytest.raises(InvalidParameterError, match="trunk_sid"):
            getattr(client, resource).iter("../etc")
    assert emulator.requests == []


async def test_collect_after_taking_some_items_returns_exactly_the_rest(
    emulator: Emulator,
) -> None:
    async with _client(emulator) as client:
        sid = await _setup(client, 7)
        iterator = client.phone_numbers._pages(sid)
        first = [await anext(iterator), await anext(iterator)]
        rest = await iterator.collect()
        everything = await client.phone_numbers.list(sid)

    assert first + rest == everything
    assert len(everything) == 7
    assert await iterator.collect() == []  # used up
