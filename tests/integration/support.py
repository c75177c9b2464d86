"""What the integration tests share: credentials, clients, expected models, and the full flow.

:func:`exercise_every_operation` drives every operation of the SDK against an emulator and
checks each returned model against what the emulator's state holds; the in-process and the
over-HTTP tests both run it, so the two front ends are held to the same flow.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anyio
import attrs
import httpx2
import pytest

from exotel_trunking import (
    AsyncTrunkingClient,
    Credentials,
    DestinationUri,
    NotFoundError,
    PhoneNumber,
    RetryPolicy,
    SipCredential,
    Trunk,
    TrunkMap,
    TrunkSetting,
    WhitelistedIp,
)
from exotel_trunking.emulator import (
    CredentialRecord,
    DestinationRecord,
    Emulator,
    PhoneNumberRecord,
    TrunkRecord,
    WhitelistedIpRecord,
)

T = TypeVar("T")

KEY = "acme-key"
TOKEN = "acme-token-s3cret"
SID = "acme"
DIALECTS = ["reference", "live"]
#: Retries that take milliseconds, so that fault tests need no real waiting.
FAST_RETRY = RetryPolicy(initial_delay=0.001, max_delay=0.01)

TRUNK_NAME = "acme_main"
#: 20 numbers: three pages of 7 in the live dialect.
NUMBERS = [f"+9198765{index:05d}" for index in range(20)]
IP_DESTINATION = "203.0.113.50:5061;transport=tls"
FQDN_DESTINATION = "sip.acme.example:5061;transport=tls"
PAGE_SIZE = 7


def make_emulator(dialect: str = "reference", **knobs: Any) -> Emulator:
    """An emulator for the test account; ``page_size`` is small so live lists span pages."""
    knobs.setdefault("page_size", PAGE_SIZE)
    return Emulator(KEY, TOKEN, SID, dialect=dialect, **knobs)  # type: ignore[arg-type]


def client_for(emulator: Emulator, **options: Any) -> AsyncTrunkingClient:
    """A client talking to ``emulator`` in process, unpaced, with millisecond retries."""
    options.setdefault("transport", emulator.transport())
    options.setdefault("rate_limit", None)
    options.setdefault("retry", FAST_RETRY)
    return AsyncTrunkingClient(KEY, TOKEN, SID, **options)


def http_client_for(base_url: str, **options: Any) -> AsyncTrunkingClient:
    """A client talking to a served emulator over real HTTP."""
    options.setdefault("rate_limit", None)
    options.setdefault("retry", FAST_RETRY)
    return AsyncTrunkingClient(KEY, TOKEN, SID, base_url=base_url, **options)


def requests_to(emulator: Emulator, method: str, suffix: str) -> list[Any]:
    """The logged requests with ``method`` whose path ends with ``suffix``."""
    return [r for r in emulator.requests if r.method == method and r.path.endswith(suffix)]


# -- what the SDK's models should hold, given the emulator's records ------------------------


def expected_trunk(record: TrunkRecord, live: bool) -> Trunk:
    return Trunk(
        trunk_sid=record.trunk_sid,
        trunk_name=record.trunk_name,
        domain_name=record.domain_name,
        nso_code=record.nso_code,
        date_created=record.date_created,
        date_updated=record.date_updated,
        status=record.status if live else None,
    )


def expected_number(record: PhoneNumberRecord, live: bool) -> PhoneNumber:
    return PhoneNumber(
        id=record.id,
        phone_number=record.phone_number,
        trunk_sid=record.trunk_sid,
        date_created=record.date_created,
        mode=record.mode if live else None,  # the reference document does not echo it
        date_updated=record.date_updated if live else None,
    )


def expected_ip(record: WhitelistedIpRecord, live: bool) -> WhitelistedIp:
    return WhitelistedIp(
        id=record.id,
        ip=record.ip,
        mask=record.mask,
        trunk_sid=record.trunk_sid,
        date_created=record.date_created,
        friendly_name=record.friendly_name if live else None,
    )


def expected_destination(record: DestinationRecord, live: bool) -> DestinationUri:
    return DestinationUri(
        id=record.id,
        destination=f"sip:{record.destination}",
        trunk_sid=record.trunk_sid,
        date_created=record.date_created,
        type=record.type if live else None,
        priority=record.priority if live else None,
        weight=record.weight if live else None,
    )


def expected_credential(record: CredentialRecord) -> SipCredential:
    return SipCredential(
        id=record.id,
        trunk_sid=record.trunk_sid,
        user_name=record.user_name,
        friendly_name=record.friendly_name,
        date_created=record.date_created,
        date_updated=record.date_updated,
    )


def by_id(models: Sequence[Any]) -> dict[str, Any]:
    ids = [model.id for model in models]
    assert len(set(ids)) == len(ids), f"duplicate ids in {ids}"
    return {model.id: model for model in models}


def assert_matches_state(
    listed: Sequence[T], records: Sequence[Any], expect: Callable[[Any, bool], T], live: bool
) -> None:
    """``listed`` holds exactly the records, each as ``expect`` renders it."""
    assert by_id(listed) == by_id([expect(record, live) for record in records])


def assert_paged(emulator: Emulator, sub: str, items: int) -> None:
    """The list call fetched every page: ceil(items / page size) in live, one in reference."""
    pages = requests_to(emulator, "GET", f"/{sub}")
    if emulator.dialect == "live":
        assert len(pages) == math.ceil(items / emulator.knobs.page_size) > 1
        offsets = [r.query for r in pages[1:]]
        assert offsets == [
            f"offset={n * PAGE_SIZE}&page_size={PAGE_SIZE}" for n in range(1, len(pages))
        ]
    else:
        assert len(pages) == 1


async def exercise_every_operation(client: AsyncTrunkingClient, emulator: Emulator) -> None:
    """Create, map, whitelist, add destinations, list, read credentials, alias, delete."""
    live = emulator.dialect == "live"
    state = emulator.state

    trunk = await client.trunks.create(TRUNK_NAME)
    sid = trunk.trunk_sid
    assert trunk == expected_trunk(state.get_trunk(sid), live)
    assert trunk.domain_name == f"{SID}.pstn.exotel.com"
    assert trunk.nso_code == "ANY-ANY"

    mapped = [
        await client.phone_numbers.map(sid, NUMBERS[0], mode="flow"),
        await client.phone_numbers.map(sid, NUMBERS[1], mode="pstn"),
    ]
    mapped += [await client.phone_numbers.map(sid, number) for number in NUMBERS[2:]]
    numbers = {record.id: record for record in state.phone_numbers(sid)}
    assert [numbers[m.id].mode for m in mapped[:3]] == ["flow", "pstn", None]
    assert mapped == [expected_number(numbers[m.id], live) for m in mapped]

    whitelisted = [
        await client.whitelisted_ips.add(sid, "203.0.113.50"),
        await client.whitelisted_ips.add(sid, "198.51.100.0/24"),
        await client.whitelisted_ips.add(sid, "203.0.113.64", mask=30),
    ]
    whitelisted += [await client.whitelisted_ips.add(sid, f"192.0.2.{n}") for n in range(1, 6)]
    assert [(w.ip, w.mask) for w in whitelisted[:3]] == [
        ("203.0.113.50", 32),
        ("198.51.100.0", 24),
        ("203.0.113.64", 30),
    ]
    ips = {record.id: record for record in state.whitelisted_ips(sid)}
    assert whitelisted == [expected_ip(ips[w.id], live) for w in whitelisted]

    # The IP destination goes after its whitelisting (the live service insists on it).
    added = await client.destination_uris.add(sid, f"sip:{IP_DESTINATION}")
    more = [f"198.51.100.{n}:5060;transport=tcp" for n in range(1, 7)]
    added += await client.destination_uris.add(sid, [FQDN_DESTINATION, *more])
    assert [d.destination for d in added] == [
        f"sip:{d}" for d in [IP_DESTINATION, FQDN_DESTINATION, *more]
    ]
    destinations = {record.id: record for record in state.destinations(sid)}
    assert added == [expected_destination(destinations[d.id], live) for d in added]

    listed_numbers = await client.phone_numbers.list(sid)
    listed_ips = await client.whitelisted_ips.list(sid)
    listed_destinations = await client.destination_uris.list(sid)
    assert_matches_state(listed_numbers, state.phone_numbers(sid), expected_number, live)
    assert_matches_state(listed_ips, state.whitelisted_ips(sid), expected_ip, live)
    assert_matches_state(listed_destinations, state.destinations(sid), expected_destination, live)
    assert (len(listed_numbers), len(listed_ips), len(listed_destinations)) == (20, 8, 8)
    assert_paged(emulator, "phone-numbers", 20)
    assert_paged(emulator, "whitelisted-ips", 8)
    assert_paged(emulator, "destination-uris", 8)

    if live:
        await exercise_the_further_live_operations(client, emulator, sid)
    else:
        credentials = await client.credentials.get(sid)
        stored = state.get_credentials(sid)
        assert stored is not None
        assert credentials == Credentials(username=sid, password=stored.password)
        assert stored.password not in repr(credentials)

    setting = await client.settings.set_alias(sid, "+91 98765-00000")
    [alias] = state.settings(sid)
    assert alias.value == NUMBERS[0]
    assert setting == TrunkSetting(
        name="trunk_external_alias",
        value=alias.value,
        trunk_sid=sid,
        date_created=alias.date_created,
    )
    if live:
        assert await client.settings.list(sid) == [setting]
        await client.settings.delete(sid, "trunk_external_alias")
        assert state.settings(sid) == []

    await client.trunks.delete(sid)
    assert state.trunks == []
    with pytest.raises(NotFoundError) as gone:
        await client.phone_numbers.list(sid)
    assert (gone.value.status_code, gone.value.error_code) == (404, 1000 if live else 1003)
    with pytest.raises(NotFoundError):
        await client.trunks.delete(sid)


async def exercise_the_further_live_operations(
    client: AsyncTrunkingClient, emulator: Emulator, sid: str
) -> None:
    """List, find, update and look up; SIP credentials; one removal of each kind."""
    state = emulator.state
    trunk = expected_trunk(state.get_trunk(sid), live=True)
    assert await client.trunks.list() == [trunk]
    assert [t async for t in client.trunks.iter()] == [trunk]
    assert await client.trunks.find(TRUNK_NAME) == trunk
    assert await client.trunks.find("no_such_trunk") is None
    assert await client.trunks.get(sid) == trunk
    renamed = await client.trunks.update(sid, trunk_name="acme_renamed")
    assert renamed == expected_trunk(state.get_trunk(sid), live=True)
    assert renamed.trunk_name == "acme_renamed"

    held = await client.trunk_maps.lookup(NUMBERS[4])
    [record] = [r for r in state.phone_numbers(sid) if r.phone_number == NUMBERS[4]]
    assert held == TrunkMap(
        phone_number=NUMBERS[4],
        trunk_sid=sid,
        id=record.id,
        mode=record.mode,
        date_created=record.date_created,
        date_updated=record.date_updated,
    )
    assert await client.trunk_maps.lookup("+919999999999") is None

    updated = await client.phone_numbers.update(sid, NUMBERS[4], mode="flow")
    assert updated == expected_number(state.phone_numbers(sid)[4], live=True)
    assert updated.mode == "flow"

    created = await client.credentials.create(sid, "voicebot", friendly_name="Voice bot")
    [stored] = state.credentials(sid)
    assert created == attrs.evolve(expected_credential(stored), password=stored.password)
    assert await client.credentials.list(sid) == [expected_credential(stored)]
    rotated = await client.credentials.rotate(sid, created.id)
    [stored] = state.credentials(sid)
    assert rotated.password == stored.password != created.password
    deleted = await client.credentials.delete(sid, created.id)
    assert deleted == expected_credential(stored)
    assert state.credentials(sid) == []

    removed = await client.phone_numbers.remove(sid, NUMBERS[19])
    assert removed.phone_number == NUMBERS[19]
    assert NUMBERS[19] not in {r.phone_number for r in state.phone_numbers(sid)}
    moved = await client.whitelisted_ips.update(sid, "192.0.2.5", "192.0.2.6")
    assert (moved.ip, moved.mask) == ("192.0.2.6", 32)
    await client.whitelisted_ips.remove(sid, "192.0.2.6")
    assert "192.0.2.6" not in {r.ip for r in state.whitelisted_ips(sid)}
    weighted = await client.destination_uris.update(sid, FQDN_DESTINATION, priority=2, weight=7)
    assert (weighted.priority, weighted.weight) == (2, 7)
    await client.destination_uris.remove(sid, FQDN_DESTINATION)
    assert FQDN_DESTINATION not in {r.destination for r in state.destinations(sid)}


class FastTime:
    """A monotonic clock running ``factor`` times faster than real time, and its sleep.

    Give it to the emulator (``clock=``) and to the client's limiter, and a one-second
    ``Retry-After`` costs a few real milliseconds while every wait keeps its order and
    proportion (the emulator's latency stays in real seconds).
    """

    def __init__(self, factor: float = 20.0) -> None:
        self.factor = factor
        self._origin = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._origin) * self.factor

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds / self.factor)


class ArrivalLog(httpx2.AsyncBaseTransport):
    """Wraps a transport and notes, on ``clock``, when each request set off."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, clock: Callable[[], float]) -> None:
        self._inner = inner
        self._clock = clock
        self.arrivals: list[tuple[float, str, str]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.arrivals.append((self._clock(), request.method, request.url.path))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
