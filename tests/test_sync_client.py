"""``TrunkingClient``: the async client's operations, errors and limits, called without await."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest

from exotel_trunking import (
    APIConnectionError,
    AsyncTrunkingClient,
    ConfigurationError,
    ConflictError,
    InvalidParameterError,
    NotFoundError,
    PartialFailureError,
    RateLimit,
    TrunkingClient,
    TrunkSpec,
)
from exotel_trunking.emulator import Emulator

NUMBERS = [f"+9198765432{n:02d}" for n in range(12)]


@pytest.fixture
def emulator() -> Emulator:
    return Emulator("k", "t", "acme", dialect="live", page_size=5)


@pytest.fixture
def client(emulator: Emulator) -> Iterator[TrunkingClient]:
    with TrunkingClient(
        "k", "t", "acme", transport=emulator.transport(), rate_limit=None
    ) as sync_client:
        yield sync_client


# -- parity: the same resources, methods and signatures as the async client ----------------

#: Every resource the async client hangs on itself: a new one the sync client lacks fails.
RESOURCES = list(AsyncTrunkingClient.__annotations__)
#: Async-only methods, each with its reason.
ASYNC_ONLY = {
    ("bulk", "stream_phone_numbers"): "an async context manager of outcomes as they finish",
    ("bulk", "stream_whitelist_ips"): "an async context manager of outcomes as they finish",
}


def _public_methods(obj: object) -> dict[str, Any]:
    return {
        name: getattr(obj, name)
        for name in dir(obj)
        if not name.startswith("_") and callable(getattr(obj, name))
    }


@pytest.mark.parametrize("resource", RESOURCES)
def test_every_async_method_has_a_sync_twin_with_the_same_signature(
    resource: str, client: TrunkingClient
) -> None:
    async_resource = getattr(client._client, resource)
    sync_methods = _public_methods(getattr(client, resource))
    for name, method in _public_methods(async_resource).items():
        if (resource, name) in ASYNC_ONLY:
            assert name not in sync_methods
            continue
        assert name in sync_methods, f"{resource}.{name}"
        expected = inspect.signature(method)
        actual = inspect.signature(sync_methods[name])
        assert list(actual.parameters) == list(expected.parameters), f"{resource}.{name}"
        for parameter in expected.parameters.values():
            twin = actual.parameters[parameter.name]
            assert (twin.kind, twin.default) == (parameter.kind, parameter.default), name


def test_the_clients_own_methods_match_too(client: TrunkingClient) -> None:
    for name in ("provision", "diagnose", "with_options"):
        expected = inspect.signature(getattr(AsyncTrunkingClient, name))
        actual = inspect.signature(getattr(TrunkingClient, name))
        assert list(actual.parameters) == list(expected.parameters), name
    assert inspect.signature(TrunkingClient.close).parameters.keys() == {"self"}


# -- every operation, and its errors ---------------------------------------------------------


def test_every_operation_works_without_await(client: TrunkingClient, emulator: Emulator) -> None:
    trunk = client.trunks.create("sync_trunk")
    sid = trunk.trunk_sid
    mapped = [client.phone_numbers.map(sid, number) for number in NUMBERS]
    assert {n.phone_number for n in client.phone_numbers.list(sid)} == set(NUMBERS)
    assert [n.id for n in client.phone_numbers.iter(sid)] == [
        n.id for n in client.phone_numbers.list(sid)
    ]
    ip = client.whitelisted_ips.add(sid, "203.0.113.0/24")
    assert [w.cidr for w in client.whitelisted_ips.list(sid)] == [ip.cidr]
    assert [w.cidr for w in client.whitelisted_ips.iter(sid)] == [ip.cidr]
    [destination] = client.destination_uris.add(sid, "203.0.113.10:5061;transport=tls")
    assert [d.id for d in client.destination_uris.list(sid)] == [destination.id]
    assert [d.id for d in client.destination_uris.iter(sid)] == [destination.id]
    assert client.credentials.get(sid) is None  # a live trunk has none until created
    credential = client.credentials.create(sid, "voicebot", friendly_name="bot")
    assert credential.password is not None
    assert [c.id for c in client.credentials.list(sid)] == [credential.id]
    assert [c.id for c in client.credentials.iter(sid)] == [credential.id]
    rotated = client.credentials.rotate(sid, credential.id)
    assert rotated.password not in (None, credential.password)
    assert client.credentials.update(sid, credential.id, friendly_name="b2").friendly_name == "b2"
    setting = client.settings.set_alias(sid, NUMBERS[0])
    assert setting.value == NUMBERS[0]
    assert [s.name for s in client.settings.list(sid)] == ["trunk_external_alias"]
    assert [s.name for s in client.settings.iter(sid)] == ["trunk_external_alias"]
    assert client.diagnose(sid).ok
    assert client.trunks.find("sync_trunk") == client.trunks.get(sid)
    assert [t.trunk_sid for t in client.trunks.list()] == [sid]
    assert [t.trunk_sid for t in client.trunks.iter()] == [sid]
    assert client.trunks.update(sid, trunk_name="sync_renamed").trunk_name == "sync_renamed"
    held = client.trunk_maps.lookup(NUMBERS[0])
    assert held is not None
    assert held.trunk_sid == sid
    assert client.phone_numbers.update(sid, NUMBERS[0], mode="flow").mode == "flow"
    assert client.phone_numbers.remove(sid, NUMBERS[0]).phone_number == NUMBERS[0]
    assert client.trunk_maps.lookup(NUMBERS[0]) is None
    moved = client.whitelisted_ips.update(sid, "203.0.113.0/24", "198.51.100.0/24")
    assert moved.cidr == "198.51.100.0/24"
    assert client.whitelisted_ips.remove(sid, "198.51.100.0/24").id == moved.id
    changed = client.destination_uris.update(sid, destination.destination, weight=5)
    assert changed.weight == 5
    assert client.destination_uris.remove(sid, destination.destination).id == destination.id
    assert client.credentials.delete(sid, credential.id).id == credential.id
    client.settings.delete(sid, "trunk_external_alias")
    assert client.settings.list(sid) == []
    client.trunks.delete(sid)
    assert emulator.state.trunks == []
    assert len(mapped) == len(NUMBERS)


def test_errors_are_the_async_clients_classes(client: TrunkingClient) -> None:
    sid = client.trunks.create("errors").trunk_sid
    client.phone_numbers.map(sid, NUMBERS[0])
    with pytest.raises(ConflictError):
        client.trunks.create("errors")
    with pytest.raises(NotFoundError):
        client.phone_numbers.list("trnope")
    with pytest.raises(InvalidParameterError, match="phone_number"):
        client.phone_numbers.map(sid, "12")
    with pytest.raises(PartialFailureError):
        client.destination_uris.add(
            sid, ["203.0.113.99:5061;transport=tls", "sip.acme.example:5061;transport=tls"]
        )


def test_bulk_and_provision_run_with_progress(client: TrunkingClient) -> None:
    sid = client.trunks.create("bulk").trunk_sid
    progress: list[tuple[int, int | None]] = []
    result = client.bulk.map_phone_numbers(
        sid, NUMBERS, concurrency=4, on_progress=lambda done, total: progress.append((done, total))
    )
    assert len(result.created) == len(NUMBERS)
    assert progress[-1][0] == len(NUMBERS)
    again = client.bulk.map_phone_numbers(sid, iter(NUMBERS))
    assert len(again.existing) == len(NUMBERS)
    ips = client.bulk.whitelist_ips(sid, ["203.0.113.0/28", "198.51.100.7"])
    assert ips.ok
    report = client.provision(TrunkSpec(name="bulk", numbers=NUMBERS[:2]), trunk_sid=sid)
    assert report.numbers.created == []
    assert len(report.numbers.existing) == 2


def test_configuration_errors_raise_at_construction_without_a_thread() -> None:
    before = threading.active_count()
    with pytest.raises(ConfigurationError, match="api_key"):
        TrunkingClient(None, "t", "acme", base_url="http://127.0.0.1:1")
    assert threading.active_count() == before


# -- sharing between threads ----------------------------------------------------------------


def test_threads_share_one_client_its_pool_and_its_limiter(emulator: Emulator) -> None:
    with TrunkingClient(
        "k", "t", "acme", transport=emulator.transport(), rate_limit=RateLimit(1000, 1.0)
    ) as client:
        sid = client.trunks.create("shared").trunk_sid
        errors: list[BaseException] = []

        def work(offset: int) -> None:
            try:
                for n in range(5):
                    client.phone_numbers.map(sid, f"+91987650{offset:02d}{n:02d}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        assert len(client.phone_numbers.list(sid)) == 40
        limiter_ids = {id(client._client._requester.limiter)}
    assert len(limiter_ids) == 1
    assert emulator.counters.total >= 42


def test_the_clients_thread_ends_when_it_is_closed(emulator: Emulator) -> None:
    client = TrunkingClient("k", "t", "acme", transport=emulator.transport())
    thread = client._loop._thread
    assert thread.is_alive()
    assert thread.daemon  # a client never closed does not hold the program open
    client.close()
    assert not thread.is_alive()
    with pytest.raises(APIConnectionError, match="closed"):
        client.trunks.create("late")
    client.close()  # twice is fine


@pytest.mark.slow
def test_a_call_from_an_anyio_worker_thread_is_not_bound_to_the_callers_cancel_scope() -> None:
    # A FastAPI or Starlette sync endpoint calls from such a thread; the caller's timeout must
    # not reach into the client's own event loop (its scope belongs to another loop).
    emulator = Emulator("k", "t", "acme", dialect="live", latency=0.2)
    outcomes: list[object] = []

    async def caller(client: TrunkingClient) -> None:
        with anyio.move_on_after(0.02):
            try:
                outcomes.append(await anyio.to_thread.run_sync(client.trunks.list))
            except BaseException as error:  # what the worker thread got back, if anything
                outcomes.append(error)
                raise

    with TrunkingClient("k", "t", "acme", transport=emulator.transport()) as client:
        anyio.run(caller, client)

    assert outcomes == [[]]  # the call ran to its end in the client's loop


@pytest.mark.slow
def test_closing_while_another_thread_waits_to_retry_fails_that_call_cleanly() -> None:
    emulator = Emulator("k", "t", "acme", dialect="live", fault_retry_after=2)
    emulator.script("GET", "/trunks", "429")
    client = TrunkingClient("k", "t", "acme", transport=emulator.transport(), rate_limit=None)
    caught: list[BaseException] = []

    def call() -> None:
        try:
            client.trunks.list()
        except BaseException as error:
            caught.append(error)

    worker = threading.Thread(target=call)
    worker.start()
    for _ in range(500):  # until the 429 has come back and the call waits out Retry-After
        if emulator.counters.total or not worker.is_alive():
            break
        threading.Event().wait(0.01)
    client.close()
    worker.join(timeout=10)

    assert not worker.is_alive()
    assert len(caught) == 1
    assert isinstance(caught[0], APIConnectionError)  # an ExotelError, not a CancelledError
    assert "closed" in str(caught[0])


def test_closing_the_client_from_one_of_its_own_hooks_raises_instead_of_hanging(
    emulator: Emulator,
) -> None:
    emulator.script("GET", "/trunks", "503")
    errors: list[BaseException] = []

    def on_retry(_: object) -> None:
        try:
            sync_client.close()
        except BaseException as error:
            errors.append(error)

    sync_client = TrunkingClient(
        "k", "t", "acme", transport=emulator.transport(), rate_limit=None, on_retry=on_retry
    )
    caller = threading.Thread(target=sync_client.trunks.list, daemon=True)  # if it hangs
    caller.start()
    caller.join(timeout=10)
    hung = caller.is_alive()
    if not hung:
        sync_client.close()

    assert not hung
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)


def test_a_derived_client_shares_the_thread_and_closing_it_does_nothing(
    client: TrunkingClient,
) -> None:
    derived = client.with_options(max_retries=0)
    assert derived._loop is client._loop
    derived.close()
    assert client.trunks.create("still_open").trunk_name == "still_open"


# -- inside an event loop -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_inside_a_running_event_loop_it_points_to_the_async_client(
    backend: str, emulator: Emulator
) -> None:
    async def construct() -> None:
        TrunkingClient("k", "t", "acme", transport=emulator.transport())

    with pytest.raises(RuntimeError, match="use AsyncTrunkingClient"):
        anyio.run(construct, backend=backend)

    with TrunkingClient("k", "t", "acme", transport=emulator.transport()) as client:

        async def call() -> None:
            client.trunks.create("in_loop")

        with pytest.raises(RuntimeError, match="use AsyncTrunkingClient"):
            anyio.run(call, backend=backend)
    assert emulator.state.trunks == []


def test_an_http_client_given_to_it_is_used_in_its_loop_and_closed_with_it(
    emulator: Emulator,
) -> None:
    seen: list[str] = []

    async def hook(request: httpx2.Request) -> None:
        seen.append(request.method)

    http_client = httpx2.AsyncClient(
        transport=emulator.transport(), event_hooks={"request": [hook]}
    )
    with TrunkingClient("k", "t", "acme", http_client=http_client, rate_limit=None) as client:
        client.trunks.create("hooked")
    assert seen == ["POST"]
    assert http_client.is_closed  # nothing else could have closed it


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, "BadRequestError"),
        (401, "AuthenticationError"),
        (403, "PermissionDeniedError"),
        (404, "NotFoundError"),
        (409, "ConflictError"),
        (422, "UnprocessableEntityError"),
        (429, "RateLimitError"),
        (500, "InternalServerError"),
    ],
)
def test_every_error_status_raises_the_same_class_as_the_async_client(
    status: int, error_class: str
) -> None:
    body = {"request_id": "r", "http_code": status, "response": {"status": "failure"}}

    def answer(request: httpx2.Request) -> httpx2.Response:
        headers = {"retry-after": "600"} if status == 429 else {}
        return httpx2.Response(status, json=body, headers=headers)

    options: dict[str, Any] = {
        "transport": httpx2.MockTransport(answer),
        "rate_limit": None,
        "max_retries": 0,
    }

    async def async_error() -> type[BaseException]:
        async with AsyncTrunkingClient("k", "t", "acme", **options) as client:
            try:
                await client.phone_numbers.list("tr1")
            except Exception as exc:
                return type(exc)
        raise AssertionError("no error")

    expected = anyio.run(async_error)
    with TrunkingClient("k", "t", "acme", **options) as client, pytest.raises(expected) as caught:
        client.phone_numbers.list("tr1")
    assert type(caught.value) is expected
    assert expected.__name__ == error_class
