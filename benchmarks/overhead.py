"""Per-call overhead: the SDK against bare ``httpx2.AsyncClient`` + ``.json()``, same request.

Two settings, each with identical responses for both sides:

- in process: one ``httpx2.MockTransport`` answering a canned envelope, shared by both
  clients, so what differs is only what the SDK does around httpx2;
- loopback: real HTTP to :mod:`benchmarks.bare_server` in another process (one call in flight,
  keep-alive), so the client's CPU is not shared with the server's.

Each round times a batch of calls of every (call, side) pair in turn (the order reversed on
every other round, so drift hits both sides alike); the median over rounds is reported, and the
ratio is the median of the per-round SDK/bare ratios.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2

from exotel_trunking import AsyncTrunkingClient

from ._canned import (
    ACCOUNT_SID,
    API_KEY,
    API_TOKEN,
    AUTHORIZATION,
    LIST_SIZE,
    NUMBER,
    TRUNK_SID,
    mock_transport,
)
from ._plots import figure, save
from ._report import Section, Table, Target, median
from ._servers import bare_server

CALLS = ("phone_numbers.list", "phone_numbers.map")
SIDES = ("bare httpx2", "SDK")
TARGETS = {"in process": 1.30, "loopback": 1.10}
_PATH = f"trunks/{TRUNK_SID}/phone-numbers"

Op = Callable[[], Awaitable[Any]]


@dataclass
class Settings:
    rounds: int
    calls: int
    warmup: int = 200


FULL = Settings(rounds=15, calls=300)
QUICK = Settings(rounds=4, calls=100, warmup=50)


def _ops(sdk: AsyncTrunkingClient, bare: httpx2.AsyncClient) -> dict[tuple[str, str], Op]:
    async def bare_list() -> Any:
        response = await bare.get(_PATH)
        response.raise_for_status()
        return response.json()["response"]["data"]

    async def bare_map() -> Any:
        response = await bare.post(_PATH, json={"phone_number": NUMBER})
        response.raise_for_status()
        return response.json()["response"]["data"]

    return {
        ("phone_numbers.list", "bare httpx2"): bare_list,
        ("phone_numbers.list", "SDK"): lambda: sdk.phone_numbers.list(TRUNK_SID),
        ("phone_numbers.map", "bare httpx2"): bare_map,
        ("phone_numbers.map", "SDK"): lambda: sdk.phone_numbers.map(TRUNK_SID, NUMBER),
    }


async def _time(op: Op, calls: int, clock: Callable[[], float]) -> float:
    """Microseconds per call over ``calls`` sequential calls, on ``clock``."""
    gc.collect()
    start = clock()
    for _ in range(calls):
        await op()
    return (clock() - start) / calls * 1e6


async def measure(
    base_url: str,
    transport: httpx2.AsyncBaseTransport | None,
    settings: Settings,
    clock: Callable[[], float],
) -> dict[tuple[str, str], list[float]]:
    """Per-round µs/call of every (call, side) pair."""
    bare = httpx2.AsyncClient(
        transport=transport,
        base_url=f"{base_url}/v2/accounts/{ACCOUNT_SID}/",
        headers={"Authorization": AUTHORIZATION},
        trust_env=False,
    )
    sdk = AsyncTrunkingClient(
        API_KEY, API_TOKEN, ACCOUNT_SID, base_url=base_url, transport=transport, rate_limit=None
    )
    async with sdk, bare:
        ops = _ops(sdk, bare)
        for op in ops.values():
            await _time(op, settings.warmup, clock)
        results: dict[tuple[str, str], list[float]] = {key: [] for key in ops}
        keys = list(ops)
        for round_ in range(settings.rounds):
            for key in keys if round_ % 2 == 0 else reversed(keys):
                results[key].append(await _time(ops[key], settings.calls, clock))
    return results


def _summarise(
    setting: str, results: dict[tuple[str, str], list[float]], table: Table, section: Section
) -> dict[str, tuple[float, float, float]]:
    summary = {}
    for call in CALLS:
        bare, sdk = results[(call, "bare httpx2")], results[(call, "SDK")]
        ratios = [s / b for s, b in zip(sdk, bare, strict=True)]
        ratio = median(ratios)
        bare_us, sdk_us = median(bare), median(sdk)
        goal = TARGETS[setting]
        table.add(
            setting,
            call,
            f"{bare_us:.0f}",
            f"{sdk_us:.0f}",
            f"**{ratio:.3f}x** ({min(ratios):.2f}-{max(ratios):.2f})",
            f"<= {goal:.2f}x",
        )
        section.targets.append(
            Target(
                "overhead",
                f"{call} {setting} <= {goal:.2f}x bare httpx2",
                f"{ratio:.3f}x ({sdk_us:.0f} vs {bare_us:.0f} µs/call)",
                ratio <= goal,
            )
        )
        summary[call] = (bare_us, sdk_us, ratio)
    return summary


def _plot(summaries: dict[str, dict[str, tuple[float, float, float]]], out: Path) -> str:
    fig, axes = figure(ncols=len(summaries), width=8.0, height=3.8)
    for ax, (setting, summary) in zip(axes, summaries.items(), strict=True):
        xs = range(len(CALLS))
        bare = [summary[c][0] for c in CALLS]
        sdk = [summary[c][1] for c in CALLS]
        ax.bar([x - 0.2 for x in xs], bare, 0.4, label="bare httpx2 + .json()", color="#9aa7b1")
        ax.bar([x + 0.2 for x in xs], sdk, 0.4, label="SDK", color="#2b6cb0")
        for x, call in zip(xs, CALLS, strict=True):
            ax.annotate(
                f"{summary[call][2]:.2f}x",
                (x + 0.2, summary[call][1]),
                ha="center",
                va="bottom",
                fontsize=9,
            )
        ax.set_xticks(list(xs), [c.split(".")[1] for c in CALLS])
        ax.set_title(f"{setting} (target <= {TARGETS[setting]:.2f}x)", fontsize=10)
        ax.set_ylabel("µs per call (median)")
        ax.margins(y=0.35)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Per-call overhead: SDK vs bare httpx2, same request and response", fontsize=11)
    return save(fig, out, "overhead.png")


def run(quick: bool, out: Path) -> Section:
    settings = QUICK if quick else FULL
    section = Section(
        "overhead",
        "1. Per-call overhead (SDK vs bare httpx2)",
        f"`phone_numbers.list` (one page of {LIST_SIZE} records) and `phone_numbers.map` "
        "through the SDK (`rate_limit=None`, default retries) against the same request made "
        "with a bare `httpx2.AsyncClient` (same Authorization header, `raise_for_status()`, "
        "`.json()`), one call at a time. *In process*: both share one `httpx2.MockTransport` "
        "answering a canned envelope. *Loopback*: both talk to `benchmarks/bare_server.py` "
        f"(a canned-response HTTP server in another process). {settings.rounds} rounds of "
        f"{settings.calls} calls per side, interleaved; medians, ratio = median of per-round "
        "ratios (range in brackets), which compares batches run back to back and so can differ "
        "from the ratio of the two medians when the machine's speed drifts. In process the "
        "clock is this process's CPU time (nothing waits, and other processes cannot inflate "
        "it); over loopback it is wall time.",
    )
    table = Table(
        "Per-call time",
        ["setting", "call", "bare µs/call", "SDK µs/call", "SDK/bare", "target"],
    )
    summaries = {}
    # In process nothing waits, so CPU time is the call's cost, and other processes on the
    # machine cannot inflate it; over loopback the server's share is part of the call: wall.
    in_process = mock_transport()
    results = anyio.run(measure, "http://127.0.0.1:9", in_process, settings, time.process_time)
    summaries["in process"] = _summarise("in process", results, table, section)
    with bare_server() as server:
        results = anyio.run(measure, server.url, None, settings, time.perf_counter)
    summaries["loopback"] = _summarise("loopback", results, table, section)
    section.tables.append(table)
    section.plots.append(_plot(summaries, out))
    return section
