"""``python -m benchmarks profile``: where the SDK's per-call time goes (cProfile, in process).

Runs ``phone_numbers.map`` and ``phone_numbers.list`` against the canned ``MockTransport`` of the
overhead case and prints, for each, the SDK's own functions by cumulative time and the top
functions by internal time. For a sampling view of the same loop, run pyinstrument on it:
``uv run --with pyinstrument pyinstrument -m benchmarks profile``.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from exotel_trunking import AsyncTrunkingClient

from ._canned import ACCOUNT_SID, API_KEY, API_TOKEN, NUMBER, TRUNK_SID, mock_transport


async def _profile(calls: int) -> None:
    async with AsyncTrunkingClient(
        API_KEY,
        API_TOKEN,
        ACCOUNT_SID,
        base_url="http://127.0.0.1:9",
        transport=mock_transport(),
        rate_limit=None,
    ) as client:
        ops: dict[str, Callable[[], Awaitable[Any]]] = {
            "phone_numbers.map": lambda: client.phone_numbers.map(TRUNK_SID, NUMBER),
            "phone_numbers.list": lambda: client.phone_numbers.list(TRUNK_SID),
        }
        for name, op in ops.items():
            for _ in range(200):
                await op()
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(calls):
                await op()
            profiler.disable()
            print(f"===== {name}: {calls} calls =====")
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(r"exotel_trunking", 15)
            stats.sort_stats("tottime").print_stats(20)


def main(*, quick: bool = False) -> None:
    anyio.run(_profile, 500 if quick else 5000)
