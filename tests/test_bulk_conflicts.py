"""What a 409 means in a bulk run, and which item a repeat repeats.

Exotel answers 409 both for a number already on the trunk and for one mapped to another
trunk. Only the first is ``"exists"``; the second is ``"failed"`` with
:class:`MappedElsewhereError`. Two tenants' trunks on one emulator show the difference.
"""

from __future__ import annotations

import pytest

from exotel_trunking import (
    AsyncTrunkingClient,
    ConflictError,
    MappedElsewhereError,
    RetryPolicy,
    TrunkSpec,
)
from exotel_trunking.emulator import Emulator

pytestmark = pytest.mark.anyio

FAST_RETRIES = RetryPolicy(max_retries=12, initial_delay=0.001, max_delay=0.01)
THEIRS = ["+919800000001", "+919800000002"]
OURS = ["+919800000011", "+919800000012"]


@pytest.fixture(params=["reference", "live"])
def emulator(request: pytest.FixtureRequest) -> Emulator:
    return Emulator("k", "t", "acme", dialect=request.param, seed=3, page_size=3)


def client_for(emulator: Emulator) -> AsyncTrunkingClient:
    return AsyncTrunkingClient(
        "k", "t", "acme", transport=emulator.transport(), rate_limit=None, retry=FAST_RETRIES
    )


def list_reads(emulator: Emulator, sid: str, since: int) -> int:
    """GETs of the first page of ``sid``'s numbers since request number ``since``."""
    return sum(
        1
        for r in emulator.requests[since:]
        if r.method == "GET"
        and r.path.endswith(f"/trunks/{sid}/phone-numbers")
        and "offset" not in r.query
        and "page" not in r.query
    )


async def two_tenants(client: AsyncTrunkingClient) -> tuple[str, str]:
    """Trunk A holding ``THEIRS``, and trunk B holding ``OURS``."""
    a = (await client.trunks.create("tenant_a")).trunk_sid
    b = (await client.trunks.create("tenant_b")).trunk_sid
    assert (await client.bulk.map_phone_numbers(a, THEIRS)).ok
    assert (await client.bulk.map_phone_numbers(b, OURS)).ok
    return a, b


async def test_a_number_on_another_trunk_fails_and_one_on_this_trunk_exists(
    emulator: Emulator,
) -> None:
    async with client_for(emulator) as client:
        a, b = await two_tenants(client)
        new = "+919800000021"
        result = await client.bulk.map_phone_numbers(b, [THEIRS[0], OURS[0], new])
        on_b = {n.phone_number for n in await client.phone_numbers.list(b)}

    assert [o.status for o in result.outcomes] == ["failed", "exists", "created"]
    error = result.outcomes[0].error
    assert isinstance(error, MappedElsewhereError)
    assert isinstance(error, ConflictError)
    # The live service says which trunk holds it (GET /trunk-maps); the reference API cannot.
    holder = a if emulator.dialect == "live" else None
    assert (error.phone_number, error.trunk_sid, error.held_by) == (THEIRS[0], b, holder)
    holder_text = f"trunk {a}" if holder else "another trunk"
    assert f"{THEIRS[0]} is mapped to {holder_text}, not to {b}" in str(error)
    assert not result.ok
    assert THEIRS[0] not in on_b  # what "failed" says is true of the trunk


async def test_the_trunk_is_listed_once_per_run_however_many_conflicts(
    emulator: Emulator,
) -> None:
    async with client_for(emulator) as client:
        _, b = await two_tenants(client)
        start = len(emulator.requests)
        result = await client.bulk.map_phone_numbers(b, [*THEIRS, *OURS], concurrency=4)

    assert result.counts() == {"created": 0, "exists": 2, "invalid": 0, "failed": 2}
    assert list_reads(emulator, b, start) == 1
    # one lookup per number not on the trunk, to name its holder; none for those in place
    lookups = [r for r in emulator.requests[start:] if r.path.endswith("/trunk-maps")]
    assert len(lookups) == (2 if emulator.dialect == "live" else 1)  # reference: 404, then off


async def test_a_run_without_conflicts_never_lists_the_trunk(emulator: Emulator) -> None:
    async with client_for(emulator) as client:
        _, b = await two_tenants(client)
        start = len(emulator.requests)
        result = await client.bulk.map_phone_numbers(b, ["+919800000031", "+919800000032"])

    assert len(result.created) == 2
    assert all(r.method == "POST" for r in emulator.requests[start:])


async def test_a_number_this_run_mapped_after_the_listing_was_read_still_exists(
    emulator: Emulator,
) -> None:
    # The first conflict reads the listing; the number mapped next is added to it, so its
    # repeat's 409 (sent again: deduplicate=False) reads as in place, not as elsewhere.
    new = "+919800000041"
    async with client_for(emulator) as client:
        _, b = await two_tenants(client)
        result = await client.bulk.map_phone_numbers(
            b, [THEIRS[0], new, new], concurrency=1, deduplicate=False
        )

    assert [o.status for o in result.outcomes] == ["failed", "created", "exists"]


async def test_skip_existing_reuses_its_listing_for_conflicts(emulator: Emulator) -> None:
    async with client_for(emulator) as client:
        _, b = await two_tenants(client)
        start = len(emulator.requests)
        result = await client.bulk.map_phone_numbers(b, [*THEIRS, *OURS], skip_existing=True)

    assert [o.status for o in result.outcomes] == ["failed", "failed", "exists", "exists"]
    assert list_reads(emulator, b, start) == 1  # the skip_existing read, not a second


async def test_provision_reports_a_number_on_another_trunk_as_failed(emulator: Emulator) -> None:
    async with client_for(emulator) as client:
        _, b = await two_tenants(client)
        spec = TrunkSpec(name="tenant_b", numbers=[THEIRS[0], OURS[0], "+919800000051"])
        report = await client.provision(spec, trunk_sid=b)

    assert report.numbers.existing == [OURS[0]]
    assert report.numbers.created == ["+919800000051"]
    assert [item for item, _ in report.numbers.failed] == [THEIRS[0]]
    assert isinstance(report.numbers.failed[0][1], MappedElsewhereError)
    assert not report.ok


async def test_a_repeat_says_which_item_it_repeats_whatever_the_first_outcome(
    emulator: Emulator,
) -> None:
    async with client_for(emulator) as client:
        _, b = await two_tenants(client)
        new = "+919800000061"
        items = [new, THEIRS[0], OURS[0], "bad", "+91 98000 00061", THEIRS[0], OURS[0], "bad"]
        result = await client.bulk.map_phone_numbers(b, items, concurrency=1)

    statuses = [(o.status, o.duplicate_of) for o in result.outcomes]
    assert statuses == [
        ("created", None),
        ("failed", None),
        ("exists", None),
        ("invalid", None),
        ("exists", 0),
        ("failed", 1),
        ("exists", 2),
        ("invalid", None),  # never valid, so never an item to repeat
    ]
    assert result.outcomes[5].error is result.outcomes[1].error


async def test_a_repeat_of_an_item_found_by_skip_existing_names_the_first(
    emulator: Emulator,
) -> None:
    async with client_for(emulator) as client:
        _, b = await two_tenants(client)
        result = await client.bulk.map_phone_numbers(
            b, [OURS[0], OURS[0], OURS[0]], skip_existing=True
        )

    assert [(o.status, o.duplicate_of) for o in result.outcomes] == [
        ("exists", None),
        ("exists", 0),
        ("exists", 0),
    ]


async def test_a_repeat_waiting_for_its_first_in_flight_names_it(emulator: Emulator) -> None:
    async with client_for(emulator) as client:
        _, b = await two_tenants(client)
        new = "+919800000071"
        result = await client.bulk.map_phone_numbers(b, [new, new, new], concurrency=3)

    assert [(o.status, o.duplicate_of) for o in result.outcomes] == [
        ("created", None),
        ("exists", 0),
        ("exists", 0),
    ]
    assert result.outcomes[0].value is not None  # the record is on the first occurrence
