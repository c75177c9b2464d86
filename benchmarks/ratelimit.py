"""Under a rate limit: 1,000 numbers against an emulator that enforces 100 requests a second.

The emulator is served in another process with ``--rate-limit 100/1`` (a token bucket of 100
tokens refilled at 100 a second, so it also accepts a burst of 100 after a quiet spell) and
``--latency 0.05``. Three clients map the same 1,000 numbers, each against a freshly reset
emulator (full bucket):

- the SDK paced with ``RateLimit(100, 1.0)`` (``client.bulk.map_phone_numbers``,
  concurrency 50): ideally N / rate = 10.0 s, with no 429;
- a naive client: bare ``httpx2.AsyncClient`` and one task per number in an anyio task group,
  each wrapped in a retry-on-429 decorator that sleeps ``Retry-After`` (1 s without one);
- the SDK unpaced (``rate_limit=None``), which relies on its cool-down after a 429.

Every 429 the server sent is counted from the emulator's own counters.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2

from exotel_trunking import AsyncTrunkingClient, RateLimit

from ._canned import ACCOUNT_SID, API_KEY, API_TOKEN, AUTHORIZATION, numbers
from ._plots import figure, save
from ._report import Section, Table, Target, fmt_pct, fmt_s, median
from ._servers import emulator_counters, reset_emulator, served_emulator

RATE = 100
LATENCY = 0.05
#: The paced SDK may take at most this much longer than N / rate, and may see no 429.
TIME_TARGET = 0.05
#: The naive client gives up on a number after this many 429s (it never should).
NAIVE_MAX_ATTEMPTS = 50
CLIENTS = ("SDK paced RateLimit(100, 1.0)", "naive httpx2, retry on 429", "SDK unpaced")


@dataclass
class Settings:
    rounds: int
    items: int
    #: Rounds of the naive and the unpaced client (contrast, not targets; the naive one is slow).
    contrast_rounds: int = 1


FULL = Settings(rounds=3, items=1000)
QUICK = Settings(rounds=1, items=150)


@dataclass
class Run:
    seconds: float = 0.0
    requests: int = 0
    refused: int = 0
    failed: int = 0
    #: Seconds from the start at which each number was mapped.
    done_at: list[float] = field(default_factory=list)


def _sdk(url: str, rate_limit: RateLimit | None) -> AsyncTrunkingClient:
    return AsyncTrunkingClient(API_KEY, API_TOKEN, ACCOUNT_SID, base_url=url, rate_limit=rate_limit)


async def _map_with_sdk(url: str, sid: str, items: list[str], rate_limit: RateLimit | None) -> Run:
    run = Run()
    async with _sdk(url, rate_limit) as client:
        started = time.perf_counter()

        def progress(done: int, total: int | None) -> None:
            run.done_at.append(time.perf_counter() - started)

        result = await client.bulk.map_phone_numbers(
            sid, items, concurrency=50, on_progress=progress
        )
        run.seconds = time.perf_counter() - started
    run.failed = len(result.outcomes) - len(result.created)
    return run


def retry_on_429(
    send: Callable[[str], Awaitable[httpx2.Response]],
) -> Callable[[str], Awaitable[httpx2.Response]]:
    """What a quick script does: on a 429, sleep ``Retry-After`` (or 1 s) and try again."""

    @functools.wraps(send)
    async def wrapper(number: str) -> httpx2.Response:
        for _ in range(NAIVE_MAX_ATTEMPTS - 1):
            response = await send(number)
            if response.status_code != 429:
                return response
            await anyio.sleep(float(response.headers.get("retry-after", 1)))
        return await send(number)

    return wrapper


async def _map_naively(url: str, sid: str, items: list[str]) -> Run:
    run = Run()
    path = f"{url}/v2/accounts/{ACCOUNT_SID}/trunks/{sid}/phone-numbers"
    headers = {"Authorization": AUTHORIZATION}
    async with httpx2.AsyncClient(headers=headers, timeout=60.0, trust_env=False) as http:

        @retry_on_429
        async def send(number: str) -> httpx2.Response:
            return await http.post(path, json={"phone_number": number})

        started = time.perf_counter()

        async def one(number: str) -> None:
            response = await send(number)
            if response.status_code == 200:
                run.done_at.append(time.perf_counter() - started)
            else:
                run.failed += 1

        async with anyio.create_task_group() as tasks:
            for number in items:
                tasks.start_soon(one, number)
        run.seconds = time.perf_counter() - started
    return run


async def _one_run(url: str, admin: httpx2.AsyncClient, which: str, items: list[str]) -> Run:
    await reset_emulator(admin, url)
    async with _sdk(url, None) as setup:
        sid = (await setup.trunks.create("bench")).trunk_sid
    await anyio.sleep(0.1)  # give back the token the trunk took: the bucket starts full
    before = await emulator_counters(admin, url)
    if which == CLIENTS[0]:
        run = await _map_with_sdk(url, sid, items, RateLimit(RATE, 1.0))
    elif which == CLIENTS[1]:
        run = await _map_naively(url, sid, items)
    else:
        run = await _map_with_sdk(url, sid, items, None)
    after = await emulator_counters(admin, url)
    run.requests = after["total"] - before["total"]
    run.refused = after["by_status"].get("429", 0) - before["by_status"].get("429", 0)
    return run


async def measure(url: str, settings: Settings) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {name: [] for name in CLIENTS}
    items = numbers(settings.items)
    async with httpx2.AsyncClient(trust_env=False) as admin:
        for round_ in range(settings.rounds):
            for name in CLIENTS if round_ < settings.contrast_rounds else CLIENTS[:1]:
                runs[name].append(await _one_run(url, admin, name, items))
    return runs


def _median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def _plot(runs: dict[str, list[Run]], items: int, out: Path) -> str:
    fig, ax = figure(width=7.5, height=4.2)
    ideal_end = items / RATE
    ax.plot([0, ideal_end], [0, items], "--", color="#888888", label="ideal: 100 a second")
    colors = dict(zip(CLIENTS, ("#2b6cb0", "#c05621", "#6b46c1"), strict=True))
    for name, client_runs in runs.items():
        run = _median_run(client_runs)
        times = sorted(run.done_at)
        ax.step(
            times,
            range(1, len(times) + 1),
            where="post",
            color=colors[name],
            label=f"{name}: {run.seconds:.1f} s, {run.refused} x 429",
        )
    ax.set_xlabel("seconds from start")
    ax.set_ylabel("numbers mapped")
    ax.set_title(
        f"{items} numbers against a server allowing 100/s (burst 100), median run", fontsize=10
    )
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return save(fig, out, "ratelimit.png")


def run(quick: bool, out: Path) -> Section:
    settings = QUICK if quick else FULL
    with served_emulator(latency=LATENCY, rate_limit=f"{RATE}/1") as server:
        runs = anyio.run(measure, server.url, settings)
    ideal = settings.items / RATE
    floor = (settings.items - RATE) / RATE
    section = Section(
        "ratelimit",
        "3. Under a rate limit (issue 7)",
        f"{settings.items} numbers against the emulator served with `--rate-limit 100/1` "
        "(bucket of 100, refilled at 100/s) and 50 ms latency; the emulator is reset (full "
        f"bucket) before each run. Ideal = N / rate = {fmt_s(ideal)}; a client that spends the "
        f"server's initial burst of 100 could finish in {fmt_s(floor)} at best. "
        f"The paced SDK runs {settings.rounds} rounds (median, min-max); the naive and unpaced "
        f"clients, shown for contrast, {settings.contrast_rounds}. 429s are the emulator's own "
        "count.",
    )
    table = Table(
        "Rate-limited mapping",
        ["client", "time", "vs ideal", "requests", "429s", "429 share", "failed"],
    )
    for name, client_runs in runs.items():
        seconds = [r.seconds for r in client_runs]
        elapsed = median(seconds)
        requests = median(r.requests for r in client_runs)
        refused = median(r.refused for r in client_runs)
        share = refused / requests if requests else 0.0
        table.add(
            name,
            f"{fmt_s(elapsed)} ({min(seconds):.2f}-{max(seconds):.2f})",
            fmt_pct(elapsed / ideal - 1),
            f"{requests:.0f}",
            f"{refused:.0f}",
            f"{share * 100:.1f}%",
            f"{max(r.failed for r in client_runs)}",
        )
        if name == CLIENTS[0]:
            off = elapsed / ideal - 1
            section.targets += [
                Target(
                    "ratelimit",
                    f"SDK paced: {settings.items} numbers in <= {1 + TIME_TARGET:.2f}x "
                    f"N / rate = {fmt_s(ideal)}",
                    f"{fmt_s(elapsed)} ({elapsed / ideal:.3f}x)",
                    off <= TIME_TARGET,
                ),
                Target(
                    "ratelimit",
                    "SDK paced: 0 429s",
                    f"{max(r.refused for r in client_runs)} in the worst of "
                    f"{len(client_runs)} runs ({requests:.0f} requests a run)",
                    all(r.refused == 0 for r in client_runs),
                ),
            ]
    section.tables.append(table)
    section.plots.append(_plot(runs, settings.items, out))
    return section
