"""The same flow over real HTTP: the SDK against ``emulator.serve()`` on 127.0.0.1.

Every test runs on each HTTP stack: the default (httpx2's own transport, on asyncio and trio)
and, on asyncio, the ``aiohttp`` extra's ``AiohttpTransport``.
"""

from __future__ import annotations

from typing import Any

import pytest

from exotel_trunking import (
    APIConnectionError,
    ConflictError,
    MappedElsewhereError,
    NotFoundError,
    PartialFailureError,
)

from .support import (
    DIALECTS,
    FQDN_DESTINATION,
    IP_DESTINATION,
    NUMBERS,
    exercise_every_operation,
    http_client_for,
    make_emulator,
    requests_to,
)

pytestmark = pytest.mark.anyio

STACKS = ["default", "aiohttp"]


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, anyio_backend: str) -> dict[str, Any]:
    """The client options that pick an HTTP stack (aiohttp runs on asyncio only)."""
    if request.param == "default":
        return {}
    if anyio_backend != "asyncio":
        pytest.skip("the aiohttp transport runs on asyncio only")
    aiohttp = pytest.importorskip("exotel_trunking.aiohttp")
    return {"transport": aiohttp.AiohttpTransport()}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_every_operation_works_over_http_on_loopback(
    dialect: str, stack: dict[str, Any]
) -> None:
    emulator = make_emulator(dialect)
    async with emulator.serve() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        async with http_client_for(base_url, **stack) as client:
            await exercise_every_operation(client, emulator)
    # One pooled keep-alive connection carried the whole sequential flow.
    assert emulator.connections.opened == 1
    assert emulator.connections.requests == emulator.counters.total > 30
    assert emulator.connections.current == 0


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_errors_over_http_raise_the_same_classes(dialect: str, stack: dict[str, Any]) -> None:
    emulator = make_emulator(dialect)
    async with emulator.serve() as base_url, http_client_for(base_url, **stack) as client:
        sid = (await client.trunks.create("over_http")).trunk_sid
        await client.phone_numbers.map(sid, NUMBERS[0])
        with pytest.raises(ConflictError):
            await client.phone_numbers.map(sid, NUMBERS[0])
        with pytest.raises(NotFoundError):
            await client.whitelisted_ips.list("trnope")
        if dialect == "live":
            with pytest.raises(PartialFailureError) as caught:
                await client.destination_uris.add(sid, [IP_DESTINATION, FQDN_DESTINATION])
            assert [item for item, _ in caught.value.failed] == [IP_DESTINATION]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_number_on_another_tenants_trunk_fails_over_http(
    dialect: str, stack: dict[str, Any]
) -> None:
    emulator = make_emulator(dialect)
    async with emulator.serve() as base_url, http_client_for(base_url, **stack) as client:
        theirs = (await client.trunks.create("tenant_a")).trunk_sid
        ours = (await client.trunks.create("tenant_b")).trunk_sid
        await client.phone_numbers.map(theirs, NUMBERS[0])
        await client.phone_numbers.map(ours, NUMBERS[1])
        result = await client.bulk.map_phone_numbers(ours, [NUMBERS[0], NUMBERS[1], NUMBERS[1]])
    assert [(o.status, o.duplicate_of) for o in result.outcomes] == [
        ("failed", None),
        ("exists", None),
        ("exists", 1),
    ]
    assert isinstance(result.outcomes[0].error, MappedElsewhereError)


@pytest.mark.parametrize("kind", ["drop_before", "drop_after"])
async def test_a_real_dropped_connection_is_survived_by_a_repeatable_post(
    kind: str, stack: dict[str, Any]
) -> None:
    emulator = make_emulator("live")
    async with emulator.serve() as base_url, http_client_for(base_url, **stack) as client:
        sid = (await client.trunks.create("dropped")).trunk_sid
        emulator.script("POST", "/trunks/*/phone-numbers", kind)
        number = await client.phone_numbers.map(sid, NUMBERS[0])
    [record] = emulator.state.phone_numbers(sid)
    assert number.id == record.id
    posts = requests_to(emulator, "POST", "/phone-numbers")
    # drop_after: the repeat finds the number mapped (a duplicate), which the SDK resolves.
    assert [r.status for r in posts] == [None, 200]
    assert emulator.connections.opened == 2  # the dropped connection was not reused


@pytest.mark.parametrize("kind", ["drop_before", "drop_after"])
async def test_a_real_dropped_connection_on_create_trunk_is_not_repeated(
    kind: str, stack: dict[str, Any]
) -> None:
    emulator = make_emulator("reference")
    async with emulator.serve() as base_url, http_client_for(base_url, **stack) as client:
        emulator.script("POST", "/trunks", kind)
        with pytest.raises(APIConnectionError) as caught:
            await client.trunks.create("maybe")
    assert "may have been created" in str(caught.value)
    assert len(requests_to(emulator, "POST", "/trunks")) == 1
    assert len(emulator.state.trunks) == (1 if kind == "drop_after" else 0)
