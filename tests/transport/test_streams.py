"""How the asyncio stream picks among a host's addresses (RFC 8305), with fake connections."""

from __future__ import annotations

import anyio
import anyio.abc
import pytest

from exotel_trunking._transport._streams import AsyncioStream, _interleaved, _race

pytestmark = pytest.mark.anyio


class Fake:
    """Stands in for a connected stream."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


def opener(
    plan: dict[str, float | None],
    opened: list[Fake],
    started: list[tuple[str, float]],
    *,
    unstoppable: bool = False,
):
    """Connect to an address after ``plan[address]`` seconds; ``None``: refuse at once.

    ``unstoppable``: a connect under way completes even if the race is decided meanwhile.
    """

    async def open_one(address: str) -> Fake:
        started.append((address, anyio.current_time()))
        delay = plan[address]
        if delay is None:
            raise ConnectionRefusedError(address)
        with anyio.CancelScope(shield=unstoppable):
            await anyio.sleep(delay)
        fake = Fake(address)
        opened.append(fake)
        return fake

    return open_one


def test_addresses_alternate_families_without_repeats() -> None:
    infos = [(10, "::1"), (10, "::2"), (2, "127.0.0.1"), (10, "::1"), (2, "127.0.0.2")]
    assert _interleaved(infos) == ["::1", "127.0.0.1", "::2", "127.0.0.2"]


async def test_a_silent_first_address_gets_company_after_the_delay_and_loses() -> None:
    opened: list[Fake] = []
    started: list[tuple[str, float]] = []
    begin = anyio.current_time()
    with anyio.fail_after(5):
        winner = await _race(
            ["::1", "127.0.0.1"], opener({"::1": 60, "127.0.0.1": 0}, opened, started)
        )  # type: ignore[arg-type]
    assert winner.address == "127.0.0.1"  # type: ignore[attr-defined]
    assert started[1][1] - begin >= 0.2  # the second waited for the first's head start
    assert anyio.current_time() - begin < 2  # and the silent one was abandoned


async def test_a_refused_address_hands_over_at_once() -> None:
    opened: list[Fake] = []
    started: list[tuple[str, float]] = []
    begin = anyio.current_time()
    winner = await _race(
        ["::1", "127.0.0.1"], opener({"::1": None, "127.0.0.1": 0}, opened, started)
    )  # type: ignore[arg-type]
    assert winner.address == "127.0.0.1"  # type: ignore[attr-defined]
    assert started[1][1] - begin < 0.2


async def test_a_second_connection_made_in_the_same_moment_is_closed() -> None:
    opened: list[Fake] = []
    started: list[tuple[str, float]] = []
    plan = {"::1": 0.4, "127.0.0.1": 0.1}  # the second starts at 0.25 s: both connect
    open_one = opener(plan, opened, started, unstoppable=True)
    winner = await _race(["::1", "127.0.0.1"], open_one)  # type: ignore[arg-type]
    assert len(opened) == 2
    assert [fake.closed for fake in opened] == [fake is not winner for fake in opened]


async def test_when_every_address_fails_the_error_names_each() -> None:
    with pytest.raises(OSError, match=r"::1.*127\.0\.0\.1"):
        await _race(["::1", "127.0.0.1"], opener({"::1": None, "127.0.0.1": None}, [], []))  # type: ignore[arg-type]


async def test_cancelling_the_race_abandons_every_attempt_at_once() -> None:
    opened: list[Fake] = []
    started: list[tuple[str, float]] = []
    begin = anyio.current_time()
    with anyio.move_on_after(0.4) as scope:
        await _race(["a", "b"], opener({"a": 60, "b": 60}, opened, started))  # type: ignore[arg-type]
    assert scope.cancelled_caught
    assert [address for address, _ in started] == ["a", "b"]
    assert opened == []
    assert anyio.current_time() - begin < 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_real_race_falls_back_from_an_address_nobody_listens_on(anyio_backend: str) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener:
        stream = await _race(
            ["::1", "127.0.0.1"], lambda address: AsyncioStream._open(address, port, None, "x")
        )
        try:
            assert stream.idle_news() is False  # connected, quiet
        finally:
            await stream.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_an_ip_address_is_connected_to_without_a_lookup(
    anyio_backend: str, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_resolver(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"looked up {args[0]!r}")

    monkeypatch.setattr(anyio, "getaddrinfo", no_resolver)
    try:
        listener = await anyio.create_tcp_listener(local_host=host)
    except OSError:
        pytest.skip(f"no {host} on this machine")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener:
        stream = await AsyncioStream.connect(host, port, None)
        await stream.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_host_name_is_looked_up(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[object] = []
    real = anyio.getaddrinfo

    async def resolver(host: str, port: int, **kwargs: object) -> object:
        looked_up.append(host)
        return await real("127.0.0.1", port, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(anyio, "getaddrinfo", resolver)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener:
        stream = await AsyncioStream.connect("api.example.invalid", port, None)
        await stream.aclose()
    assert looked_up == ["api.example.invalid"]
