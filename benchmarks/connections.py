"""Connections opened versus concurrency, from the served emulator's own connection stats.

One emulator in another process (``--latency 0.05``, so requests overlap); before each run it
is reset, which zeroes its connection counters. A fresh client (default ``max_connections=50``)
then maps ``4 x c`` numbers with ``client.bulk.map_phone_numbers(concurrency=c)``. A client
should open no more connections than requests it has in flight: at most ``c``, and never more
than its pool (50) even when asked for a concurrency of 100.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2

from exotel_trunking import AsyncTrunkingClient

from ._canned import ACCOUNT_SID, API_KEY, API_TOKEN, numbers
from ._plots import figure, save
from ._report import Section, Table, Target
from ._servers import emulator_counters, reset_emulator, served_emulator

LATENCY = 0.05
MAX_CONNECTIONS = 50  # the client's default


@dataclass
class Settings:
    concurrencies: tuple[int, ...]
    waves: int


FULL = Settings(concurrencies=(1, 5, 10, 25, 50, 100), waves=4)
QUICK = Settings(concurrencies=(1, 10, 50, 100), waves=2)


@dataclass
class Stats:
    concurrency: int
    items: int
    opened: int
    peak: int
    requests: int


async def _one(url: str, admin: httpx2.AsyncClient, concurrency: int, items: int) -> Stats:
    await reset_emulator(admin, url)
    admin_open = (await emulator_counters(admin, url))["connections"]["current"]
    async with AsyncTrunkingClient(
        API_KEY, API_TOKEN, ACCOUNT_SID, base_url=url, rate_limit=None
    ) as client:
        sid = (await client.trunks.create("bench")).trunk_sid
        result = await client.bulk.map_phone_numbers(sid, numbers(items), concurrency=concurrency)
    if len(result.created) != items:
        raise RuntimeError(f"run failed: {result.counts()}")
    connections = (await emulator_counters(admin, url))["connections"]
    return Stats(
        concurrency,
        items,
        connections["opened"],
        connections["peak"] - admin_open,
        connections["requests"],
    )


async def measure(url: str, settings: Settings) -> list[Stats]:
    async with httpx2.AsyncClient(trust_env=False) as admin:
        return [
            await _one(url, admin, c, max(20, settings.waves * c)) for c in settings.concurrencies
        ]


def _plot(stats: list[Stats], out: Path) -> str:
    fig, ax = figure(width=6.5, height=4.0)
    cs = [s.concurrency for s in stats]
    bound = [min(c, MAX_CONNECTIONS) for c in cs]
    ax.plot(cs, bound, "--", color="#888888", label="bound: min(concurrency, max_connections)")
    ax.plot(cs, [s.opened for s in stats], "o-", color="#2b6cb0", label="connections opened")
    ax.plot(cs, [s.peak for s in stats], "x:", color="#c05621", label="most open at once")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(cs, [str(c) for c in cs])
    ax.set_yticks(cs[:-1], [str(c) for c in cs[:-1]])
    ax.set_xlabel("bulk concurrency")
    ax.set_ylabel("connections (emulator's count)")
    ax.set_title("Connections opened by one client, 4 requests per slot", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save(fig, out, "connections.png")


def run(quick: bool, out: Path) -> Section:
    settings = QUICK if quick else FULL
    with served_emulator(latency=LATENCY) as server:
        stats = anyio.run(measure, server.url, settings)
    section = Section(
        "connections",
        "5. Connections opened vs concurrency",
        "A fresh client (default `max_connections=50`, `rate_limit=None`) maps "
        f"{settings.waves} x c numbers at bulk concurrency c against the emulator served in "
        "another process (50 ms latency), reset before each run; the counts are the "
        "emulator's own (`/_emulator/counters`): connections accepted, the most open at once, "
        "and requests served (N, plus the trunk and two admin reads).",
    )
    table = Table(
        "Connections",
        ["concurrency", "N", "opened", "most open at once", "requests", "requests/connection"],
    )
    ok = True
    for s in stats:
        table.add(
            s.concurrency,
            s.items,
            s.opened,
            s.peak,
            s.requests,
            f"{s.requests / max(s.opened, 1):.1f}",
        )
        ok = ok and s.opened <= min(s.concurrency, MAX_CONNECTIONS)
    section.tables.append(table)
    section.targets.append(
        Target(
            "connections",
            "opened <= min(concurrency, max_connections=50)",
            ", ".join(f"c={s.concurrency}: {s.opened}" for s in stats),
            ok,
        )
    )
    section.plots.append(_plot(stats, out))
    return section
