"""``python -m benchmarks handoff``: what reaching an event loop from a plain thread costs.

Issue 17 asks a ``TrunkingClient`` call to take at most 1.3x an ``AsyncTrunkingClient`` call in
process. The sync client runs the async one in an event loop on a thread of its own, so every
call crosses between threads twice. This case times one ``phone_numbers.list`` (a page of ten,
on the canned ``MockTransport`` of the overhead case, ``rate_limit=None``) reached six ways,
side by side, from a thread without an event loop:

- ``async``: awaited inside the loop (the baseline);
- ``TrunkingClient``: the sync client as it is (anyio's blocking portal into its loop thread);
- ``portal``: a bare ``BlockingPortal.call`` into a loop thread;
- ``from_thread``: ``anyio.from_thread.run(..., token=)`` into a loop thread (cheaper, but
  bound to the caller's cancel scope when called from an anyio worker thread: not usable);
- ``threadsafe``: ``asyncio.run_coroutine_threadsafe`` into an asyncio loop thread;
- ``caller``: a persistent asyncio loop run by the calling thread itself (no thread crossed;
  one thread only, so not a design for a client that threads share, just the floor).

And, for scale, the same hand-overs with a coroutine that does nothing. Rounds interleave the
ways; medians of per-round microseconds per call are printed with the ratio to ``async``.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - this case compares asyncio's own hand-overs with anyio's
import statistics
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from exotel_trunking import AsyncTrunkingClient, TrunkingClient

from ._canned import ACCOUNT_SID, API_KEY, API_TOKEN, TRUNK_SID, mock_transport

_OPTIONS: dict[str, Any] = {"base_url": "http://127.0.0.1:9", "rate_limit": None}

Call = Callable[[], Any]


async def _make_client() -> AsyncTrunkingClient:
    """The client every way calls: canned answers, no pacing."""
    return AsyncTrunkingClient(
        API_KEY, API_TOKEN, ACCOUNT_SID, transport=mock_transport(), **_OPTIONS
    )


async def _nothing() -> None:
    return None


class _AnyioLoop:
    """An anyio (asyncio backend) loop on a thread, reached with ``from_thread.run(token=)``."""

    def __init__(self) -> None:
        ready = threading.Event()
        self._stop: anyio.Event | None = None

        async def serve() -> None:
            self.token = anyio.lowlevel.current_token()
            self.client = await _make_client()
            self._stop = anyio.Event()
            ready.set()
            await self._stop.wait()
            await self.client.aclose()

        self._thread = threading.Thread(target=anyio.run, args=(serve,), daemon=True)
        self._thread.start()
        ready.wait()

    def run(self, function: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return anyio.from_thread.run(function, token=self.token)

    def close(self) -> None:
        assert self._stop is not None
        anyio.from_thread.run_sync(self._stop.set, token=self.token)
        self._thread.join()


class _Portal:
    """A loop thread reached through anyio's blocking portal."""

    def __init__(self) -> None:
        self._context = anyio.from_thread.start_blocking_portal()
        self.portal = self._context.__enter__()
        self.client = self.portal.call(_make_client)

    def run(self, function: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return self.portal.call(function)

    def close(self) -> None:
        self.portal.call(self.client.aclose)
        self._context.__exit__(None, None, None)


class _AsyncioLoop:
    """An asyncio loop on a thread, reached with ``asyncio.run_coroutine_threadsafe``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.client = self.run(_make_client)

    def run(self, function: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return asyncio.run_coroutine_threadsafe(function(), self.loop).result()

    def close(self) -> None:
        self.run(self.client.aclose)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class _CallerLoop:
    """A persistent asyncio loop that the calling thread runs for each call."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self.client = self.runner.run(_make_client())

    def run(self, function: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return self.runner.run(function())

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.close()


def _time(call: Call, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls * 1e6


def _measure(rounds: int, calls: int) -> dict[str, dict[str, list[float]]]:
    sync = TrunkingClient(API_KEY, API_TOKEN, ACCOUNT_SID, transport=mock_transport(), **_OPTIONS)
    anyio_loop, asyncio_loop, caller = _AnyioLoop(), _AsyncioLoop(), _CallerLoop()
    portal = _Portal()
    in_loop = _AsyncioLoop()

    def awaited(body: Callable[[], Coroutine[Any, Any, Any]]) -> Call:
        # The baseline: a batch of awaits inside one loop, timed inside it.
        async def batch() -> float:
            started = time.perf_counter()
            for _ in range(calls):
                await body()
            return (time.perf_counter() - started) / calls * 1e6

        return lambda: in_loop.run(batch)

    work: dict[str, dict[str, Call]] = {
        "phone_numbers.list": {
            "async": awaited(lambda: in_loop.client.phone_numbers.list(TRUNK_SID)),
            "TrunkingClient": lambda: sync.phone_numbers.list(TRUNK_SID),
            "portal": lambda: portal.run(lambda: portal.client.phone_numbers.list(TRUNK_SID)),
            "from_thread": lambda: anyio_loop.run(
                lambda: anyio_loop.client.phone_numbers.list(TRUNK_SID)
            ),
            "threadsafe": lambda: asyncio_loop.run(
                lambda: asyncio_loop.client.phone_numbers.list(TRUNK_SID)
            ),
            "caller": lambda: caller.run(lambda: caller.client.phone_numbers.list(TRUNK_SID)),
        },
        "nothing": {
            "async": awaited(_nothing),
            "TrunkingClient": lambda: sync._loop.call(_nothing),
            "portal": lambda: portal.run(_nothing),
            "from_thread": lambda: anyio_loop.run(_nothing),
            "threadsafe": lambda: asyncio_loop.run(_nothing),
            "caller": lambda: caller.run(_nothing),
        },
    }
    results: dict[str, dict[str, list[float]]] = {
        name: {way: [] for way in ways} for name, ways in work.items()
    }
    try:
        for round_ in range(rounds + 1):  # the first round warms up and is dropped
            for name, ways in work.items():
                order = list(ways.items())
                for way, call in order if round_ % 2 else reversed(order):
                    value = call() if way == "async" else _time(call, calls)
                    if round_:
                        results[name][way].append(value)
    finally:
        sync.close()
        for loop in (anyio_loop, asyncio_loop, caller, in_loop, portal):
            loop.close()
    return results


def main(*, quick: bool = False) -> None:
    """Print µs per call and the ratio to ``async`` for every way, for both bodies."""
    rounds, calls = (3, 200) if quick else (11, 500)
    results = _measure(rounds, calls)
    for name, ways in results.items():
        base = statistics.median(ways["async"])
        print(f"\n{name}: median of {rounds} rounds of {calls} calls, µs per call")
        for way, values in ways.items():
            value = statistics.median(values)
            extra = value - base if way != "async" else 0.0
            print(f"  {way:15} {value:8.1f}   {value / base:5.2f}x   +{extra:.1f} µs")
