"""The test account, requests and comparisons shared by the emulator's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx2

from exotel_trunking.emulator import Emulator

KEY = "k"
TOKEN = "t"
SID = "acme"
BASE = "https://api.in.exotel.com"
ACCOUNT = f"/v2/accounts/{SID}"
#: The reference document's first example timestamp.
FIXED_NOW = datetime(2025, 1, 22, 10, 30, tzinfo=UTC)
FIXED_NOW_TEXT = "2025-01-22T10:30:00Z"


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_emulator(dialect: str = "reference", **kwargs: Any) -> Emulator:
    kwargs.setdefault("now", lambda: FIXED_NOW)
    for name, value in (("api_key", KEY), ("api_token", TOKEN), ("account_sid", SID)):
        kwargs.setdefault(name, value)
    return Emulator(dialect=dialect, **kwargs)  # type: ignore[arg-type]


@asynccontextmanager
async def api(
    emulator: Emulator,
    *,
    timeout: httpx2.Timeout | float | None = 5.0,  # noqa: ASYNC109 - the httpx2 client's
    auth: Any = (KEY, TOKEN),
) -> AsyncIterator[httpx2.AsyncClient]:
    """An httpx2 client talking to ``emulator`` in process, authenticated."""
    async with httpx2.AsyncClient(
        transport=emulator.transport(), base_url=BASE, auth=auth, timeout=timeout
    ) as client:
        yield client


async def create_trunk(http: httpx2.AsyncClient, name: str = "my_trunk") -> str:
    response = await http.post(
        f"{ACCOUNT}/trunks",
        json={"trunk_name": name, "nso_code": "ANY-ANY", "domain_name": f"{SID}.pstn.exotel.com"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["response"]["data"]["trunk_sid"])


def trunk_url(trunk_sid: str, sub: str) -> str:
    return f"{ACCOUNT}/trunks/{trunk_sid}/{sub}"


def assert_same_shape(actual: Any, example: Any, where: str = "$") -> None:
    """Same keys at every level, same JSON types; list items are compared to the first."""
    if isinstance(example, dict):
        assert isinstance(actual, dict), where
        assert set(actual) == set(example), f"{where}: {sorted(actual)} != {sorted(example)}"
        for key, value in example.items():
            assert_same_shape(actual[key], value, f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list), where
        assert bool(actual) == bool(example), f"{where}: {len(actual)} items"
        for index, item in enumerate(actual):
            assert_same_shape(item, example[0], f"{where}[{index}]")
    elif example is None:
        assert actual is None, where
    else:
        assert type(actual) is type(example), f"{where}: {actual!r} vs {example!r}"


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll the server's counters, which change in its own tasks (nothing to wait on)."""
    with anyio.fail_after(3):
        while not predicate():  # noqa: ASYNC110 - the server offers no event for this
            await anyio.sleep(0.01)
