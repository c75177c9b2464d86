"""Every SDK operation against the in-process emulator, in both dialects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from exotel_trunking import (
    APIStatusError,
    AsyncTrunkingClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    Credentials,
    NotFoundError,
    PartialFailureError,
    PermissionDeniedError,
    ResponseDecodeError,
)

from .support import (
    DIALECTS,
    FQDN_DESTINATION,
    IP_DESTINATION,
    KEY,
    NUMBERS,
    SID,
    TOKEN,
    client_for,
    exercise_every_operation,
    make_emulator,
    requests_to,
)

pytestmark = pytest.mark.anyio

#: The duplicate's error code: the reference's "Resource exists", the live "Duplicate resource".
DUPLICATE_CODE = {"reference": 1002, "live": 1008}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_every_operation_returns_what_the_emulator_state_holds(dialect: str) -> None:
    emulator = make_emulator(dialect)
    async with client_for(emulator) as client:
        await exercise_every_operation(client, emulator)
    assert emulator.counters.by_status.keys() <= {200, 404}


async def test_reference_credentials_are_none_until_the_trunk_has_some() -> None:
    emulator = make_emulator("reference", issue_credentials=False)
    async with client_for(emulator) as client:
        trunk = await client.trunks.create("no_creds_yet")
        assert await client.credentials.get(trunk.trunk_sid) is None
        issued = emulator.issue_credentials(trunk.trunk_sid)
        credentials = await client.credentials.get(trunk.trunk_sid)
    assert credentials == Credentials(username=trunk.trunk_sid, password=issued.password)


async def test_live_credentials_are_digest_credentials_that_get_points_to_list() -> None:
    emulator = make_emulator("live")
    async with client_for(emulator) as client:
        trunk = await client.trunks.create("no_creds_yet")
        assert await client.credentials.get(trunk.trunk_sid) is None
        assert await client.credentials.list(trunk.trunk_sid) == []
        issued = emulator.issue_credentials(trunk.trunk_sid)
        with pytest.raises(ResponseDecodeError, match=r"read them with credentials\.list\(\)"):
            await client.credentials.get(trunk.trunk_sid)
        [listed] = await client.credentials.list(trunk.trunk_sid)
    assert (listed.user_name, listed.password) == (trunk.trunk_sid, None)
    assert issued.password not in repr(listed)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_duplicates_raise_conflict_error(dialect: str) -> None:
    emulator = make_emulator(dialect)
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("first")).trunk_sid
        other = (await client.trunks.create("second")).trunk_sid
        await client.phone_numbers.map(sid, NUMBERS[0])
        await client.whitelisted_ips.add(sid, "203.0.113.0/24")
        await client.destination_uris.add(sid, FQDN_DESTINATION)

        conflicts: list[APIStatusError] = []
        for duplicate in (
            lambda: client.trunks.create("first"),
            lambda: client.phone_numbers.map(sid, NUMBERS[0]),
            lambda: client.phone_numbers.map(other, NUMBERS[0]),  # one trunk per number
            lambda: client.whitelisted_ips.add(sid, "203.0.113.0", mask=24),
        ):
            with pytest.raises(ConflictError) as caught:
                await duplicate()
            conflicts.append(caught.value)
        with pytest.raises(PartialFailureError) as partial:
            await client.destination_uris.add(sid, f"sip:{FQDN_DESTINATION}")

    [(item, error)] = partial.value.failed
    assert item == FQDN_DESTINATION
    assert partial.value.succeeded == []
    conflicts.append(error)
    assert all(isinstance(error, ConflictError) for error in conflicts)
    assert {(e.status_code, e.error_code) for e in conflicts} == {(409, DUPLICATE_CODE[dialect])}
    # Nothing was applied twice.
    assert [t.trunk_name for t in emulator.state.trunks] == ["first", "second"]
    assert len(emulator.state.phone_numbers(sid)) == 1
    assert emulator.state.phone_numbers(other) == []
    assert len(emulator.state.whitelisted_ips(sid)) == 1
    assert len(emulator.state.destinations(sid)) == 1


async def test_live_refuses_an_ip_destination_that_is_not_whitelisted() -> None:
    emulator = make_emulator("live")
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("inbound")).trunk_sid
        with pytest.raises(PartialFailureError) as caught:
            await client.destination_uris.add(sid, [IP_DESTINATION, FQDN_DESTINATION])

    error = caught.value
    [(item, failure)] = error.failed
    assert item == IP_DESTINATION
    assert isinstance(failure, BadRequestError)
    assert failure.description == "Destination not whitelisted"
    assert [d.destination for d in error.succeeded] == [f"sip:{FQDN_DESTINATION}"]
    assert IP_DESTINATION in str(error)
    assert [d.destination for d in emulator.state.destinations(sid)] == [FQDN_DESTINATION]
    [post] = requests_to(emulator, "POST", "/destination-uris")
    assert post.status == 207


async def test_reference_accepts_an_ip_destination_without_whitelisting() -> None:
    emulator = make_emulator("reference")
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("inbound")).trunk_sid
        added = await client.destination_uris.add(sid, IP_DESTINATION)
    assert [d.destination for d in added] == [f"sip:{IP_DESTINATION}"]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_wrong_token_raises_authentication_error_without_showing_it(dialect: str) -> None:
    emulator = make_emulator(dialect)
    wrong = "not-the-token"
    async with (
        client_for(emulator) as good,
        AsyncTrunkingClient(
            KEY, wrong, SID, transport=emulator.transport(), rate_limit=None, max_retries=0
        ) as bad,
    ):
        sid = (await good.trunks.create("guarded")).trunk_sid
        with pytest.raises(AuthenticationError) as caught:
            await bad.phone_numbers.list(sid)
        with pytest.raises(AuthenticationError):
            await bad.trunks.create("intruder")
    assert (caught.value.status_code, caught.value.error_code) == (401, 1010)
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)
    assert [t.trunk_name for t in emulator.state.trunks] == ["guarded"]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_another_accounts_sid_raises_permission_denied(dialect: str) -> None:
    emulator = make_emulator(dialect)
    async with AsyncTrunkingClient(
        KEY, TOKEN, "someone_else", transport=emulator.transport(), rate_limit=None
    ) as client:
        with pytest.raises(PermissionDeniedError) as caught:
            await client.trunks.create("trespass")
    assert (caught.value.status_code, caught.value.error_code) == (403, 1011)
    assert "/v2/accounts/someone_else/trunks" in str(caught.value)
    assert emulator.state.trunks == []


LiveOnly = Callable[[AsyncTrunkingClient, str], Awaitable[object]]

#: The live-only operations, and what the reference dialect answers each: 404 / 1003 (no such
#: resource), 405 / 1000 (no such method), or its {username, password} where a list is read.
LIVE_ONLY: dict[str, tuple[tuple[type[Exception], int | None, int | None], LiveOnly]] = {
    "trunk_maps.lookup": ((NotFoundError, 404, 1003), lambda c, s: c.trunk_maps.lookup(NUMBERS[0])),
    "trunks.update": ((NotFoundError, 404, 1003), lambda c, s: c.trunks.update(s, trunk_name="x")),
    "phone_numbers.update": (
        (NotFoundError, 404, 1003),
        lambda c, s: c.phone_numbers.update(s, NUMBERS[0], mode="flow"),
    ),
    "whitelisted_ips.update": (
        (NotFoundError, 404, 1003),
        lambda c, s: c.whitelisted_ips.update(s, "203.0.113.0/24", "198.51.100.0/24"),
    ),
    "destination_uris.update": (
        (NotFoundError, 404, 1003),
        lambda c, s: c.destination_uris.update(s, FQDN_DESTINATION, weight=2),
    ),
    "credentials.update": (
        (NotFoundError, 404, 1003),
        lambda c, s: c.credentials.update(s, "cr_1", friendly_name="x"),
    ),
    "trunks.list": ((APIStatusError, 405, 1000), lambda c, s: c.trunks.list()),
    "trunks.find": ((APIStatusError, 405, 1000), lambda c, s: c.trunks.find("reference")),
    "phone_numbers.remove": (
        (APIStatusError, 405, 1000),
        lambda c, s: c.phone_numbers.remove(s, NUMBERS[0]),
    ),
    "whitelisted_ips.remove": (
        (APIStatusError, 405, 1000),
        lambda c, s: c.whitelisted_ips.remove(s, "203.0.113.0/24"),
    ),
    "destination_uris.remove": (
        (APIStatusError, 405, 1000),
        lambda c, s: c.destination_uris.remove(s, FQDN_DESTINATION),
    ),
    "credentials.create": (
        (APIStatusError, 405, 1000),
        lambda c, s: c.credentials.create(s, "voicebot"),
    ),
    "settings.list": ((APIStatusError, 405, 1000), lambda c, s: c.settings.list(s)),
    "settings.delete": (
        (APIStatusError, 405, 1000),
        lambda c, s: c.settings.delete(s, "trunk_external_alias"),
    ),
    "credentials.list": ((ResponseDecodeError, None, None), lambda c, s: c.credentials.list(s)),
}


@pytest.mark.parametrize("operation", LIVE_ONLY)
async def test_the_reference_dialect_answers_a_live_only_operation_with_its_error(
    operation: str,
) -> None:
    (error_class, status, code), call = LIVE_ONLY[operation]
    emulator = make_emulator("reference")
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("reference")).trunk_sid
        await client.phone_numbers.map(sid, NUMBERS[0])
        await client.whitelisted_ips.add(sid, "203.0.113.0/24")
        await client.destination_uris.add(sid, FQDN_DESTINATION)
        await client.settings.set_alias(sid, NUMBERS[0])
        before = emulator.snapshot()
        with pytest.raises(error_class) as caught:
            await call(client, sid)
    error = caught.value
    if status is not None:
        assert isinstance(error, APIStatusError)
        assert (error.status_code, error.error_code) == (status, code)
    else:
        assert "holds no list" in str(error)  # the reference answers its {username, password}
    assert emulator.snapshot() == before  # nothing changed by a call the reference lacks


async def test_a_number_is_held_by_one_trunk_at_a_time_and_the_lookup_names_it() -> None:
    emulator = make_emulator("live")
    async with client_for(emulator) as client:
        first = (await client.trunks.create("first")).trunk_sid
        second = (await client.trunks.create("second")).trunk_sid
        await client.phone_numbers.map(first, NUMBERS[0])
        with pytest.raises(ConflictError):
            await client.phone_numbers.map(second, NUMBERS[0])
        held = await client.trunk_maps.lookup(NUMBERS[0])
        assert held is not None
        assert held.trunk_sid == first
        await client.phone_numbers.remove(first, NUMBERS[0])
        assert await client.trunk_maps.lookup(NUMBERS[0]) is None
        moved = await client.phone_numbers.map(second, NUMBERS[0])
        now_held = await client.trunk_maps.lookup(NUMBERS[0])
    assert moved.trunk_sid == second
    assert now_held is not None
    assert now_held.trunk_sid == second


async def test_removing_what_is_not_on_the_trunk_raises_not_found_and_sends_no_delete() -> None:
    emulator = make_emulator("live")
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("empty")).trunk_sid
        await client.whitelisted_ips.add(sid, "203.0.113.0/24")
        removals = {
            NUMBERS[0]: client.phone_numbers.remove(sid, NUMBERS[0]),
            "203.0.113.0/32": client.whitelisted_ips.remove(sid, "203.0.113.0"),
            FQDN_DESTINATION: client.destination_uris.remove(sid, FQDN_DESTINATION),
            "credential 1234": client.credentials.delete(sid, "1234"),
        }
        messages = {}
        for what, call in removals.items():
            with pytest.raises(NotFoundError) as caught:
                await call
            messages[what] = str(caught.value)
    for what, message in messages.items():
        assert f"{what} is not on trunk {sid}" in message
    assert "; it has 203.0.113.0/24" in messages["203.0.113.0/32"]
    assert [r for r in emulator.requests if r.method == "DELETE"] == []
