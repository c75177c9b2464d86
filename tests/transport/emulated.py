"""The shipped emulator as the transport tests' one fake API, in process or served, on any clock.

:func:`emulator_on` builds an :class:`~exotel_trunking.emulator.Emulator` for the test account,
on a :class:`~.virtual_time.VirtualTime` when one is given (its latency, slow answers, rate
limit, request log and ``X-RateLimit-Reset`` then all keep virtual time). :func:`client_on`
builds an SDK client served by it in process and, on virtual time, puts the client's retries and
limiter on the same clock. Faults come from the emulator itself (``emulator.script``,
``emulator.add_fault``, the ``rate_limit`` and ``latency`` knobs).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx2

from exotel_trunking import AsyncTrunkingClient
from exotel_trunking.emulator import Dialect, Emulator

from .virtual_time import VirtualTime, use_virtual_time

ACCOUNT = "acme"
API_KEY = "key"
API_TOKEN = "s3cr3t-t0ken"  # distinctive, so that a leak shows
BASE_URL = "https://api.exotel.test"
ACCOUNT_PATH = f"/v2/accounts/{ACCOUNT}"


def emulator_on(
    clock: VirtualTime | None = None, *, dialect: Dialect = "reference", **knobs: Any
) -> Emulator:
    """An emulator for the test account (seed 0), on ``clock`` if given."""
    options: dict[str, Any] = {"dialect": dialect, "seed": 0, **knobs}
    if clock is not None:
        options.update(
            clock=clock.monotonic,
            sleep=clock.pause,
            now=lambda: datetime.fromtimestamp(clock.time(), UTC),
        )
    return Emulator(API_KEY, API_TOKEN, ACCOUNT, **options)


def client_on(
    emulator: Emulator,
    clock: VirtualTime | None = None,
    *,
    rand: Callable[[], float] = lambda: 0.5,
    **options: Any,
) -> AsyncTrunkingClient:
    """A client served by ``emulator`` in process; on ``clock`` if given; no pacing unless asked."""
    options.setdefault("rate_limit", None)
    options.setdefault("transport", emulator.transport())
    options.setdefault("base_url", BASE_URL)
    client = AsyncTrunkingClient(API_KEY, API_TOKEN, ACCOUNT, **options)
    if clock is not None:
        use_virtual_time(client, clock, rand)
    return client


class AnswerLog(httpx2.AsyncBaseTransport):
    """The emulator's in-process transport, keeping every answer it gives.

    The answers tell a test what the emulator really sent: its request ids, error codes and
    messages, headers. A connection that failed left no answer.
    """

    def __init__(self, emulator: Emulator) -> None:
        self._inner = emulator.transport()
        self.answers: list[httpx2.Response] = []

    @property
    def bodies(self) -> list[Any]:
        """Each answer's JSON body, in order."""
        return [json.loads(answer.content) for answer in self.answers]

    @property
    def request_ids(self) -> list[str | None]:
        """Each answer's ``request_id`` (``None`` for a body without one), in order."""
        return [body.get("request_id") if isinstance(body, dict) else None for body in self.bodies]

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Answer from the emulator, and keep a copy of the answer (its body read)."""
        response = await self._inner.handle_async_request(request)
        answer = httpx2.Response(
            response.status_code,
            headers=response.headers,
            content=await response.aread(),
            extensions=response.extensions,
        )
        self.answers.append(answer)
        return answer

    async def aclose(self) -> None:
        """Close the emulator's transport."""
        await self._inner.aclose()


def logged_client(
    emulator: Emulator, clock: VirtualTime | None = None, **options: Any
) -> tuple[AsyncTrunkingClient, AnswerLog]:
    """A client as :func:`client_on` makes, and the :class:`AnswerLog` of what it was sent."""
    log = AnswerLog(emulator)
    return client_on(emulator, clock, transport=log, **options), log


def served_client(base_url: str, **options: Any) -> AsyncTrunkingClient:
    """A client talking to a served emulator at ``base_url`` over real sockets."""
    options.setdefault("rate_limit", None)
    return AsyncTrunkingClient(API_KEY, API_TOKEN, ACCOUNT, base_url=base_url, **options)


def create_trunk(emulator: Emulator, name: str = "t1") -> str:
    """Create a trunk straight in the emulator's state; return its sid."""
    return emulator.state.create_trunk(name).trunk_sid


def attempts(emulator: Emulator, method: str | None = None, fragment: str = "") -> list[Any]:
    """The logged API requests with ``method`` whose path contains ``fragment``."""
    return [
        record
        for record in emulator.requests
        if (method is None or record.method == method) and fragment in record.path
    ]


def arrivals(emulator: Emulator, method: str | None = None, fragment: str = "") -> list[float]:
    """When each such request arrived, on the emulator's clock."""
    return [record.arrived for record in attempts(emulator, method, fragment)]


def peak_share(times: Iterable[float], window: float) -> float:
    """The largest share of ``times`` that fall into any one ``window`` seconds."""
    ordered = sorted(times)
    if not ordered:
        return 0.0
    best = 0
    start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best / len(ordered)
