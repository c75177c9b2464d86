"""Bulk throughput: ``client.bulk.map_phone_numbers`` over loopback HTTP, and the HTTP stacks.

The emulator is served in another process (``python -m exotel_trunking.emulator --latency
0.05``): every request takes 50 ms, so ``N`` numbers at concurrency ``c`` ideally take
``ceil(N / c) x 50 ms``; the headline is 1,000 numbers at concurrency 50, ideal 1.0 s.

Contenders, each mapping the same numbers with the same requests (``POST`` of the same JSON
with the same ``Authorization`` header, the body read as JSON):

- the SDK on its default stack (httpx2), at concurrency 1, 5, 10, 25 and 50 (``N = 20 x c``,
  capped at 1,000), and as a plain sequential ``for`` loop of ``phone_numbers.map``;
- the SDK with ``exotel_trunking.aiohttp.AiohttpTransport``, at concurrency 50;
- bare httpx2 (the baseline): one ``httpx2.AsyncClient`` with a pool of 50, 50 tasks;
- bare aiohttp: one ``aiohttp.ClientSession`` with ``TCPConnector(limit=50)``, 50 tasks;
- bare httpx 0.x, the contrast: as bare httpx2, with the ``httpx`` the SDK no longer uses.

Every run happens in a fresh child process (``python -m benchmarks.bulk --child STACK ...``):
the client's CPU per request is what limits this case, and a process that has already run
other contenders (or other cases) carries their imports and a larger heap for the garbage
collector to walk. The child first warms up with 100 other numbers at concurrency 50 on a
client of its own (the first run holding 50 connections grows both processes' heaps), then
times one run on a new client, measuring its own CPU with ``time.process_time()`` and the
emulator's from ``/proc``. Before every child the emulator is reset and given a fresh trunk;
rounds interleave every contender, in reversed order every other round.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import anyio
import httpx2

from exotel_trunking import AsyncTrunkingClient

from ._canned import ACCOUNT_SID, API_KEY, API_TOKEN, AUTHORIZATION, numbers
from ._report import Section, Table, Target, fmt_pct, fmt_s, median
from ._servers import Server, reset_emulator, served_emulator

LATENCY = 0.05
HEADLINE = 50  # 1,000 numbers at concurrency 50
#: The SDK default at most this many times the bare httpx2 baseline's time.
TARGET_VS_BARE = 1.15
#: The SDK with the aiohttp transport at most this many times the ideal.
TARGET_AIOHTTP_VS_IDEAL = 1.25
WARMUP = 2 * HEADLINE
#: Numbers of the warm-up runs start here, so they never collide with the measured ones.
WARMUP_START = 50_000_000

SDK = "sdk"
SDK_AIOHTTP = "sdk-aiohttp"
BARE_HTTPX2 = "httpx2"
BARE_AIOHTTP = "aiohttp"
BARE_HTTPX = "httpx"
SEQUENTIAL = "sdk-sequential"
#: The HTTP stacks compared at the headline concurrency, in table order.
#: httpx 0.x is no dependency of the project: its contrast row runs where it is installed (the
#: bench group's httpx-aiohttp brings it), and is left out, said so, where it is not.
STACKS = (SDK, SDK_AIOHTTP, BARE_HTTPX2, BARE_AIOHTTP) + (
    (BARE_HTTPX,) if importlib.util.find_spec("httpx") is not None else ()
)
LABELS = {
    SDK: "SDK, default stack (httpx2)",
    SDK_AIOHTTP: "SDK, `AiohttpTransport()`",
    BARE_HTTPX2: "bare httpx2 (baseline)",
    BARE_AIOHTTP: "bare aiohttp",
    BARE_HTTPX: "bare httpx 0.x (contrast)",
}
COLORS = {
    SDK: "#2b6cb0",
    SDK_AIOHTTP: "#38a169",
    BARE_HTTPX2: "#c53030",
    BARE_AIOHTTP: "#805ad5",
    BARE_HTTPX: "#9aa7b1",
}


@dataclass
class Settings:
    #: Rounds of the HTTP stacks at the headline concurrency.
    rounds: int
    #: Rounds of the SDK's concurrency sweep below the headline and of the sequential loop.
    sweep_rounds: int
    #: Rounds of bare httpx 0.x, the contrast (several times slower than the others).
    contrast_rounds: int
    concurrencies: tuple[int, ...]
    waves: int
    max_items: int
    sequential: int


FULL = Settings(
    rounds=5,
    sweep_rounds=3,
    contrast_rounds=2,
    concurrencies=(1, 5, 10, 25, 50),
    waves=20,
    max_items=1000,
    sequential=20,
)
QUICK = Settings(
    rounds=1,
    sweep_rounds=1,
    contrast_rounds=1,
    concurrencies=(1, 10, 50),
    waves=6,
    max_items=300,
    sequential=6,
)


def _size(concurrency: int, settings: Settings) -> int:
    return min(settings.max_items, settings.waves * concurrency)


def _ideal(items: int, concurrency: int) -> float:
    return math.ceil(items / concurrency) * LATENCY


@dataclass
class Run:
    """One timed run: wall seconds, and CPU seconds of the client process and of the server."""

    seconds: float
    client_cpu: float
    server_cpu: float


# -- the child: one contender, one warm-up, one timed run ------------------------------------


def _sdk(url: str, stack: str) -> AsyncTrunkingClient:
    transport = None
    if stack == SDK_AIOHTTP:
        from exotel_trunking.aiohttp import AiohttpTransport  # noqa: PLC0415 (only this stack)

        transport = AiohttpTransport()
    return AsyncTrunkingClient(
        API_KEY, API_TOKEN, ACCOUNT_SID, base_url=url, rate_limit=None, transport=transport
    )


Send = Callable[[], Awaitable[None]]
#: Runs a ``send`` (one whole run of a contender), timing it or not.
Timed = Callable[[Send], Awaitable[None]]


def _check(created: int, items: int) -> None:
    if created != items:
        raise RuntimeError(f"bulk run failed: {created} of {items} numbers mapped")


@dataclass
class Job:
    """One run of one contender: where, which trunk, which numbers, how many at once."""

    stack: str
    url: str
    sid: str
    batch: list[str]
    concurrency: int

    @property
    def path(self) -> str:
        return f"/v2/accounts/{ACCOUNT_SID}/trunks/{self.sid}/phone-numbers"

    async def workers(self, post: Callable[[str], Awaitable[None]]) -> None:
        """``concurrency`` tasks taking numbers off one shared iterator, as a bare user would."""
        pending = iter(self.batch)
        done = 0

        async def worker() -> None:
            nonlocal done
            for number in pending:
                await post(number)
                done += 1

        async with anyio.create_task_group() as group:
            for _ in range(self.concurrency):
                group.start_soon(worker)
        _check(done, len(self.batch))


async def _with_sdk(job: Job, timed: Timed) -> None:
    async with _sdk(job.url, job.stack) as client:
        if job.stack == SEQUENTIAL:

            async def send() -> None:
                for number in job.batch:
                    await client.phone_numbers.map(job.sid, number)

        else:

            async def send() -> None:
                result = await client.bulk.map_phone_numbers(
                    job.sid, job.batch, concurrency=job.concurrency
                )
                _check(len(result.created), len(job.batch))

        await timed(send)


async def _with_bare_httpx(module: ModuleType, job: Job, timed: Timed) -> None:
    """A bare ``AsyncClient`` (its own pool of 50) of ``module``: httpx2, or httpx 0.x."""
    limits = module.Limits(max_connections=HEADLINE, max_keepalive_connections=HEADLINE)
    async with module.AsyncClient(
        base_url=job.url, headers={"Authorization": AUTHORIZATION}, limits=limits
    ) as bare:

        async def post(number: str) -> None:
            response = await bare.post(job.path, json={"phone_number": number})
            response.raise_for_status()
            response.json()

        await timed(lambda: job.workers(post))


async def _with_httpx2(job: Job, timed: Timed) -> None:
    """The baseline: a bare ``httpx2.AsyncClient``."""
    await _with_bare_httpx(httpx2, job, timed)


async def _with_httpx(job: Job, timed: Timed) -> None:
    """The contrast: the same with httpx 0.x (a bench-only dependency)."""
    import httpx  # noqa: PLC0415 (only this child loads it)

    await _with_bare_httpx(httpx, job, timed)


async def _with_aiohttp(job: Job, timed: Timed) -> None:
    """Bare aiohttp: one ``ClientSession`` with ``TCPConnector(limit=50)``."""
    import aiohttp  # noqa: PLC0415 (only this child loads it)

    async with aiohttp.ClientSession(
        base_url=job.url,
        headers={"Authorization": AUTHORIZATION},
        connector=aiohttp.TCPConnector(limit=HEADLINE),
    ) as session:

        async def post(number: str) -> None:
            async with session.post(job.path, json={"phone_number": number}) as response:
                response.raise_for_status()
                await response.json()

        await timed(lambda: job.workers(post))


_RUNNERS: dict[str, Callable[[Job, Timed], Awaitable[None]]] = {
    SDK: _with_sdk,
    SDK_AIOHTTP: _with_sdk,
    SEQUENTIAL: _with_sdk,
    BARE_HTTPX2: _with_httpx2,
    BARE_AIOHTTP: _with_aiohttp,
    BARE_HTTPX: _with_httpx,
}


async def _child(stack: str, server: Server, sid: str, items: int, concurrency: int) -> Run:
    async def untimed(send: Send) -> None:
        await send()

    # The warm-up: the same stack on a client of its own, at the headline concurrency.
    warm = SDK if stack == SEQUENTIAL else stack
    warmup = Job(warm, server.url, sid, numbers(WARMUP, start=WARMUP_START), HEADLINE)
    await _RUNNERS[warm](warmup, untimed)
    measured: list[Run] = []

    async def timed(send: Send) -> None:
        server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
        started = time.perf_counter()
        await send()
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        measured.append(Run(seconds, client_cpu, server.cpu_seconds() - server_cpu))

    await _RUNNERS[stack](Job(stack, server.url, sid, numbers(items), concurrency), timed)
    return measured[0]


# -- the parent: the emulator, a fresh trunk and a fresh child per run ------------------------


@dataclass(frozen=True)
class Config:
    stack: str
    concurrency: int
    items: int


async def _run_child(server: Server, admin: httpx2.AsyncClient, config: Config) -> Run:
    await reset_emulator(admin, server.url)
    async with _sdk(server.url, SDK) as setup:
        sid = (await setup.trunks.create("bench")).trunk_sid
    argv = [
        sys.executable,
        "-m",
        "benchmarks.bulk",
        "--child",
        config.stack,
        "--url",
        server.url,
        "--server-pid",
        str(server.pid),
        "--trunk",
        sid,
        "--items",
        str(config.items),
        "--concurrency",
        str(config.concurrency),
    ]
    with anyio.fail_after(600):
        done = await anyio.run_process(argv, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode()[-2000:]}")
    return Run(**json.loads(done.stdout))


def configs(settings: Settings, round_: int) -> list[Config]:
    """One round: the stacks at the headline concurrency, then (some rounds) the sweep."""
    headline = _size(HEADLINE, settings)
    stacks = [s for s in STACKS if s != BARE_HTTPX or round_ < settings.contrast_rounds]
    round_configs = [Config(stack, HEADLINE, headline) for stack in stacks]
    if round_ < settings.sweep_rounds:
        round_configs.append(Config(SEQUENTIAL, 1, settings.sequential))
        round_configs += [
            Config(SDK, c, _size(c, settings)) for c in settings.concurrencies if c != HEADLINE
        ]
    return round_configs if round_ % 2 == 0 else round_configs[::-1]


async def measure(server: Server, settings: Settings) -> dict[Config, list[Run]]:
    runs: dict[Config, list[Run]] = {}
    async with httpx2.AsyncClient(trust_env=False) as admin:
        for round_ in range(settings.rounds):
            for config in configs(settings, round_):
                runs.setdefault(config, []).append(await _run_child(server, admin, config))
    return runs


# -- the report -------------------------------------------------------------------------------


def _plot(
    sweep: list[tuple[int, int, float, list[float]]],
    sequential_rate: float,
    stacks: dict[str, list[float]],
    items: int,
    out: Path,
) -> str:
    # matplotlib only here: the child processes never load it (it costs them 1.3 s and a
    # heap the garbage collector would walk during the measured runs).
    from ._plots import figure, save  # noqa: PLC0415

    fig, (left, right) = figure(ncols=2, width=9.0, height=3.8)
    cs = [r[0] for r in sweep]
    rates = [r[1] / median(r[3]) for r in sweep]
    ideal = [r[1] / r[2] for r in sweep]
    low = [rate - r[1] / max(r[3]) for rate, r in zip(rates, sweep, strict=True)]
    high = [r[1] / min(r[3]) - rate for rate, r in zip(rates, sweep, strict=True)]
    left.plot(cs, ideal, "--", color="#888888", label="ideal: c / 50 ms")
    left.errorbar(cs, rates, yerr=[low, high], fmt="o-", color=COLORS[SDK], label="SDK (median)")
    left.plot([1], [sequential_rate], "s", color="#c05621", label="SDK sequential loop")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xticks(cs, [str(c) for c in cs])
    left.set_xlabel("concurrency")
    left.set_ylabel("numbers mapped per second")
    left.set_title("SDK default stack, 50 ms per request", fontsize=10)
    left.legend(fontsize=8)
    ideal_time = _ideal(items, HEADLINE)
    names = [LABELS[s].replace("`", "").split(" (")[0] for s in stacks]
    over = [median(times) / ideal_time for times in stacks.values()]
    # httpx 0.x can be several times slower: clip its bar so that the others stay readable.
    clip = max(2.0, *(v for s, v in zip(stacks, over, strict=True) if s != BARE_HTTPX)) * 1.1
    bars = [min(v, clip) for v in over]
    right.barh(names[::-1], bars[::-1], color=[COLORS[s] for s in stacks][::-1])
    right.axvline(1.0, color="#888888", linestyle="--")
    for y, (bar, value) in enumerate(zip(bars[::-1], over[::-1], strict=True)):
        text = f" {value:.2f}x" if bar == value else f" {value:.2f}x (clipped)"
        right.annotate(text, (bar, y), va="center", fontsize=8)
    right.set_xlim(0, clip * 1.3)
    right.set_xlabel("median wall time / ideal (dashed: ideal)")
    right.set_title(f"{items:,} numbers at concurrency {HEADLINE}", fontsize=10)
    right.tick_params(axis="y", labelsize=8)
    fig.suptitle("Bulk mapping over loopback HTTP (emulator in another process)", fontsize=11)
    return save(fig, out, "bulk.png")


def _sweep_row(
    table: Table, label: str, items: int, *, ideal: float, runs: list[Run], rate0: float
) -> float:
    times = [r.seconds for r in runs]
    elapsed = median(times)
    table.add(
        label,
        items,
        fmt_s(ideal),
        f"{fmt_s(elapsed)} ({min(times):.2f}-{max(times):.2f})",
        fmt_pct(elapsed / ideal - 1),
        f"{items / elapsed:.0f}",
        f"{items / elapsed / rate0:.1f}x" if rate0 else "1.0x",
        f"{median(r.client_cpu for r in runs) / items * 1e6:.0f}",
        f"{median(r.server_cpu for r in runs) / items * 1e6:.0f}",
    )
    return elapsed


def _sweep_table(
    settings: Settings, runs: dict[Config, list[Run]]
) -> tuple[Table, float, list[tuple[int, int, float, list[float]]]]:
    table = Table(
        "SDK default stack by concurrency, 50 ms per request",
        [
            "concurrency",
            "N",
            "ideal",
            "measured",
            "vs ideal",
            "numbers/s",
            "vs sequential",
            "client CPU µs/req",
            "server CPU µs/req",
        ],
    )
    seq = Config(SEQUENTIAL, 1, settings.sequential)
    seq_time = _sweep_row(
        table, "sequential loop", seq.items, ideal=_ideal(seq.items, 1), runs=runs[seq], rate0=0.0
    )
    seq_rate = seq.items / seq_time
    rows = []
    for c in settings.concurrencies:
        config = Config(SDK, c, _size(c, settings))
        ideal = _ideal(config.items, c)
        label = f"**{c}**" if c == HEADLINE else str(c)
        _sweep_row(table, label, config.items, ideal=ideal, runs=runs[config], rate0=seq_rate)
        rows.append((c, config.items, ideal, [r.seconds for r in runs[config]]))
    return table, seq_rate, rows


def _ratio(a: list[float], b: list[float]) -> str:
    return f"{median(a) / median(b):.2f}x (best-of {min(a) / min(b):.2f}x)"


def run(quick: bool, out: Path) -> Section:
    settings = QUICK if quick else FULL
    with served_emulator(latency=LATENCY) as server:
        runs = anyio.run(measure, server, settings)
    items = _size(HEADLINE, settings)
    ideal = _ideal(items, HEADLINE)
    section = Section(
        "bulk",
        "2. Bulk throughput and HTTP stacks",
        f"{items:,} numbers at concurrency {HEADLINE} against the emulator served in another "
        f"process with 50 ms latency per request (ideal = ceil(N / c) x 50 ms = "
        f"{fmt_s(ideal)}), by the SDK (`client.bulk.map_phone_numbers`, `rate_limit=None`, "
        "default `max_connections=50`) on its default stack and with the aiohttp transport, "
        f"and by bare clients: {HEADLINE} tasks posting the same JSON with the same "
        "`Authorization` header and reading the body as JSON, on one pool of 50 connections. "
        "Every run is a fresh child process (warm-up of 100 other numbers on a client of its "
        "own, then the timed run on a new client); the emulator is reset and given a fresh "
        f"trunk before each. {settings.rounds} interleaved rounds of the stacks "
        f"({settings.contrast_rounds} of bare httpx 0.x), {settings.sweep_rounds} of the "
        f"SDK's concurrency sweep (N = {settings.waves} x c, "
        f"capped at {settings.max_items}); medians, min-max or best-of in brackets. CPU: the "
        "client process's `time.process_time()` over the timed run, and the emulator's, per "
        "request; on this nested VM they include cache-cold wake-ups after every idle wait, so "
        "compare them across rows rather than with the in-process overhead figures.",
    )
    stacks = {s: runs[Config(s, HEADLINE, items)] for s in STACKS}
    times = {s: [r.seconds for r in stack_runs] for s, stack_runs in stacks.items()}
    table = Table(
        f"HTTP stacks, {items:,} numbers at concurrency {HEADLINE}",
        ["client", "wall / ideal", "wall / bare httpx2", "client CPU per request"],
    )
    for stack, stack_runs in stacks.items():
        t = times[stack]
        table.add(
            LABELS[stack],
            f"**{median(t) / ideal:.2f}x** ({fmt_s(median(t))}, {min(t):.2f}-{max(t):.2f})",
            "1.00x" if stack == BARE_HTTPX2 else _ratio(t, times[BARE_HTTPX2]),
            f"{median(r.client_cpu for r in stack_runs) / items * 1e6:.0f} µs",
        )
    section.tables.append(table)
    sdk, bare, aio = median(times[SDK]), median(times[BARE_HTTPX2]), median(times[SDK_AIOHTTP])
    section.targets += [
        Target(
            "bulk",
            f"SDK default, {items:,} numbers at c={HEADLINE}: <= {TARGET_VS_BARE:.2f}x bare httpx2",
            f"{sdk / bare:.2f}x ({fmt_s(sdk)} vs {fmt_s(bare)}; best-of "
            f"{min(times[SDK]) / min(times[BARE_HTTPX2]):.2f}x)",
            sdk <= TARGET_VS_BARE * bare,
        ),
        Target(
            "bulk",
            f"SDK with `AiohttpTransport`, {items:,} numbers at c={HEADLINE}: "
            f"<= {TARGET_AIOHTTP_VS_IDEAL:.2f}x ideal ({fmt_s(ideal)})",
            f"{aio / ideal:.2f}x ({fmt_s(aio)})",
            aio <= TARGET_AIOHTTP_VS_IDEAL * ideal,
        ),
    ]
    sweep, seq_rate, rows = _sweep_table(settings, runs)
    section.tables.append(sweep)
    section.notes += [
        "Bare rows: what a user without the SDK would write, on each HTTP stack: one client "
        f"(a pool of {HEADLINE} connections) and {HEADLINE} tasks taking numbers off one "
        "list. httpx 0.x is not a dependency of the SDK any more; it is there as a contrast "
        "with its continuation httpx2.",
        "`AiohttpTransport()` (`exotel_trunking.aiohttp`, the `aiohttp` extra) sends the "
        "SDK's requests over one `aiohttp.ClientSession` instead of httpcore2; it is asyncio "
        "only.",
    ]
    section.plots.append(_plot(rows, seq_rate, times, items, out))
    return section


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bulk")
    parser.add_argument("--child", choices=[*STACKS, SEQUENTIAL], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--trunk", required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args()
    server = Server(args.url, args.server_pid)
    measured = anyio.run(_child, args.child, server, args.trunk, args.items, args.concurrency)
    print(json.dumps(dataclasses.asdict(measured)))


if __name__ == "__main__":
    main()
