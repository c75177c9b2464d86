"""The synchronous client: its per-call cost, and threads sharing one client under a limit.

``TrunkingClient`` runs one ``AsyncTrunkingClient`` in an event loop on a daemon thread and
hands every call to it through anyio's blocking portal (issue 17). Two measurements:

- in process: per-call time of ``phone_numbers.list`` and ``phone_numbers.map`` through
  ``TrunkingClient`` against ``AsyncTrunkingClient``, both with ``rate_limit=None`` on one
  shared ``httpx2.MockTransport`` answering a canned envelope, one call at a time. The async
  client runs in the event loop of ``anyio.run``; the sync client is called from a worker
  thread (``anyio.to_thread.run_sync``, one per batch) that runs no event loop, while that loop
  waits idle. Each round
  times a batch of every (call, client) pair in turn, the order reversed on every other round,
  as the overhead case does; each batch is timed on the wall clock (what the caller waits,
  including the hand-over to the client's thread and back; the target is on this clock) and
  on this process's CPU time (both threads).
- shared by threads: 8 threads share one ``TrunkingClient`` paced at ``RateLimit(100, 1.0)``
  against the emulator served in another process with ``--rate-limit 100/1`` (its own limit,
  a bucket of 100) and 50 ms latency. Each thread maps its own share of the numbers to one
  trunk, either one ``phone_numbers.map`` at a time or with one
  ``bulk.map_phone_numbers`` call of its share (default concurrency 20, so up to 160
  requests in flight). The 429s are the emulator's own count; that every number was mapped
  once is read from the emulator's state.
"""

from __future__ import annotations

import collections
import gc
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2

from exotel_trunking import AsyncTrunkingClient, RateLimit, TrunkingClient

from ._canned import ACCOUNT_SID, API_KEY, API_TOKEN, NUMBER, TRUNK_SID, mock_transport, numbers
from ._plots import figure, save
from ._report import Section, Table, Target, fmt_s, median
from ._servers import served_emulator

CALLS = ("phone_numbers.list", "phone_numbers.map")
SIDES = ("async", "sync")
CLOCKS = {"wall": time.perf_counter, "CPU": time.process_time}
#: Sync client's per-call time at most this multiple of the async client's (issue 17).
TARGET = 1.30
#: The server's limit and the client's pacing (the same), and the served emulator's latency.
RATE = 100
LATENCY = 0.05
THREADS = 8
#: 429s below this share of the requests (issue 17).
REFUSED_TARGET = 0.01
MODES = ("phone_numbers.map, one at a time", "bulk.map_phone_numbers of its share")
#: A thread that has not finished after this long fails the run (every loop is bounded).
_JOIN_TIMEOUT = 300.0

SyncOp = Callable[[], Any]
AsyncOp = Callable[[], Coroutine[Any, Any, Any]]


@dataclass
class Settings:
    rounds: int
    calls: int
    items: int
    thread_rounds: int
    warmup: int = 200


FULL = Settings(rounds=15, calls=300, items=400, thread_rounds=3)
QUICK = Settings(rounds=4, calls=100, items=160, thread_rounds=1, warmup=50)


# -- in process: per-call time ----------------------------------------------------------------


def _per_call(started: dict[str, float], calls: int) -> dict[str, float]:
    """Microseconds per call on every clock since ``started``."""
    return {name: (clock() - started[name]) / calls * 1e6 for name, clock in CLOCKS.items()}


async def _time_async(op: AsyncOp, calls: int) -> dict[str, float]:
    """µs per call on every clock over ``calls`` sequential calls."""
    gc.collect()
    started = {name: clock() for name, clock in CLOCKS.items()}
    for _ in range(calls):
        await op()
    return _per_call(started, calls)


def _time_sync(op: SyncOp, calls: int) -> dict[str, float]:
    """µs per call on every clock over ``calls`` sequential calls."""
    gc.collect()
    started = {name: clock() for name, clock in CLOCKS.items()}
    for _ in range(calls):
        op()
    return _per_call(started, calls)


PerCall = dict[tuple[str, str, str], list[float]]


async def _measure_per_call(
    client: TrunkingClient, options: dict[str, Any], settings: Settings
) -> PerCall:
    """Per-round µs/call of every (call, client, clock); ``client`` was made with ``options``."""
    results: PerCall = {(c, s, k): [] for c in CALLS for s in SIDES for k in CLOCKS}
    async with AsyncTrunkingClient(API_KEY, API_TOKEN, ACCOUNT_SID, **options) as aclient:
        async_ops: dict[str, AsyncOp] = {
            "phone_numbers.list": lambda: aclient.phone_numbers.list(TRUNK_SID),
            "phone_numbers.map": lambda: aclient.phone_numbers.map(TRUNK_SID, NUMBER),
        }
        sync_ops: dict[str, SyncOp] = {
            "phone_numbers.list": lambda: client.phone_numbers.list(TRUNK_SID),
            "phone_numbers.map": lambda: client.phone_numbers.map(TRUNK_SID, NUMBER),
        }

        async def batch(call: str, side: str, calls: int) -> dict[str, float]:
            if side == "async":
                return await _time_async(async_ops[call], calls)
            # A worker thread, with no event loop in it (this loop waits, idle, meanwhile).
            return await anyio.to_thread.run_sync(_time_sync, sync_ops[call], calls)

        keys = [(c, s) for c in CALLS for s in SIDES]
        for call, side in keys:
            await batch(call, side, settings.warmup)
        for round_ in range(settings.rounds):
            for call, side in keys if round_ % 2 == 0 else reversed(keys):
                for clock, value in (await batch(call, side, settings.calls)).items():
                    results[(call, side, clock)].append(value)
    return results


def measure_per_call(settings: Settings) -> PerCall:
    """Per-round µs/call of every (call, client, clock)."""
    # Both clients: one canned transport, no pacing. The sync one is made (and closed) here,
    # outside any event loop, as it must be.
    options: dict[str, Any] = {
        "base_url": "http://127.0.0.1:9",
        "transport": mock_transport(),
        "rate_limit": None,
    }
    with TrunkingClient(API_KEY, API_TOKEN, ACCOUNT_SID, **options) as client:
        return anyio.run(_measure_per_call, client, options, settings)


def _summarise_per_call(
    results: PerCall, table: Table, section: Section
) -> dict[str, tuple[float, float, float]]:
    """Rows of the table, the targets (on the wall clock) and (async, sync, ratio) of the wall."""
    summary = {}
    for call in CALLS:
        for clock in CLOCKS:
            asynchronous = results[(call, "async", clock)]
            synchronous = results[(call, "sync", clock)]
            ratios = [s / a for s, a in zip(synchronous, asynchronous, strict=True)]
            ratio = median(ratios)
            async_us, sync_us = median(asynchronous), median(synchronous)
            table.add(
                call,
                clock,
                f"{async_us:.0f} ({min(asynchronous):.0f}-{max(asynchronous):.0f})",
                f"{sync_us:.0f} ({min(synchronous):.0f}-{max(synchronous):.0f})",
                f"**{ratio:.3f}x** ({min(ratios):.2f}-{max(ratios):.2f})",
                f"<= {TARGET:.2f}x" if clock == "wall" else "-",
            )
            if clock == "wall":  # the target: what the caller waits
                section.targets.append(
                    Target(
                        "sync",
                        f"{call} in process: TrunkingClient <= {TARGET:.2f}x "
                        "AsyncTrunkingClient (wall)",
                        f"{ratio:.3f}x ({sync_us:.0f} vs {async_us:.0f} µs/call)",
                        ratio <= TARGET,
                    )
                )
                summary[call] = (async_us, sync_us, ratio)
    return summary


# -- shared by threads, against a server that enforces a limit -------------------------------


@dataclass
class ThreadRun:
    mode: str
    items: int
    seconds: float = 0.0
    requests: int = 0
    refused: int = 0
    failed: int = 0
    #: Distinct numbers of the run found on the trunk, and records beyond one per number.
    mapped: int = 0
    duplicates: int = 0
    #: Numbers on the trunk that are not the run's.
    strays: int = 0
    #: Seconds from the start at which each number was mapped.
    done_at: list[float] = field(default_factory=list)


def _admin_reset(admin: httpx2.Client, url: str) -> None:
    response = admin.post(f"{url}/_emulator/reset", json={"knobs": False, "faults": True})
    response.raise_for_status()


def _admin_get(admin: httpx2.Client, url: str, what: str) -> dict[str, Any]:
    response = admin.get(f"{url}/_emulator/{what}")
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def _worker(
    *,
    client: TrunkingClient,
    sid: str,
    share: list[str],
    mode: str,
    barrier: threading.Barrier,
    done_at: list[float],
    failures: list[str],
) -> None:
    """One thread's share, after every thread is ready; appends to lists (thread-safe)."""
    barrier.wait()
    if mode == MODES[0]:
        for number in share:
            try:
                client.phone_numbers.map(sid, number)
            except Exception as error:
                failures.append(repr(error))
            else:
                done_at.append(time.perf_counter())
        return

    def progress(done: int, total: int | None) -> None:  # in the client's own thread
        done_at.append(time.perf_counter())

    try:
        result = client.bulk.map_phone_numbers(sid, share, on_progress=progress)
    except Exception as error:
        failures.extend([repr(error)] * len(share))
        return
    failures.extend(["bulk outcome not created"] * (len(result.outcomes) - len(result.created)))


def _one_threaded_run(url: str, admin: httpx2.Client, mode: str, items: list[str]) -> ThreadRun:
    _admin_reset(admin, url)
    run = ThreadRun(mode, len(items))
    with TrunkingClient(
        API_KEY, API_TOKEN, ACCOUNT_SID, base_url=url, rate_limit=RateLimit(RATE, 1.0)
    ) as client:
        sid = client.trunks.create("bench").trunk_sid
        time.sleep(0.1)  # give back the token the trunk took: both buckets start full
        before = _admin_get(admin, url, "counters")
        barrier = threading.Barrier(THREADS + 1)
        stamps: list[float] = []
        failures: list[str] = []
        threads = [
            threading.Thread(
                target=_worker,
                kwargs={
                    "client": client,
                    "sid": sid,
                    "share": items[i::THREADS],
                    "mode": mode,
                    "barrier": barrier,
                    "done_at": stamps,
                    "failures": failures,
                },
                name=f"bench-sync-{i}",
                daemon=True,
            )
            for i in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        barrier.wait(timeout=30)
        started = time.perf_counter()
        for thread in threads:
            thread.join(_JOIN_TIMEOUT)
        run.seconds = time.perf_counter() - started
        if any(thread.is_alive() for thread in threads):
            raise RuntimeError(f"{mode}: a thread did not finish in {_JOIN_TIMEOUT:.0f} s")
        after = _admin_get(admin, url, "counters")
    run.requests = after["total"] - before["total"]
    run.refused = after["by_status"].get("429", 0) - before["by_status"].get("429", 0)
    run.failed = len(failures)
    run.done_at = sorted(t - started for t in stamps)
    state = _admin_get(admin, url, "state")
    (trunk,) = [t for t in state["trunks"] if t["trunk_sid"] == sid]
    on_trunk = collections.Counter(r["phone_number"] for r in trunk["phone_numbers"])
    expected = set(items)
    run.mapped = len(expected & on_trunk.keys())
    run.duplicates = sum(n - 1 for n in on_trunk.values())
    run.strays = len(on_trunk.keys() - expected)
    return run


def measure_threads(url: str, settings: Settings) -> dict[str, list[ThreadRun]]:
    runs: dict[str, list[ThreadRun]] = {mode: [] for mode in MODES}
    items = numbers(settings.items)
    with httpx2.Client(trust_env=False) as admin:
        for round_ in range(settings.thread_rounds):
            for mode in MODES if round_ % 2 == 0 else reversed(MODES):
                runs[mode].append(_one_threaded_run(url, admin, mode, items))
    return runs


def _summarise_threads(
    runs: dict[str, list[ThreadRun]], settings: Settings, table: Table, section: Section
) -> None:
    ideal = settings.items / RATE
    for mode, mode_runs in runs.items():
        seconds = [r.seconds for r in mode_runs]
        elapsed = median(seconds)
        requests = median(r.requests for r in mode_runs)
        refused = median(r.refused for r in mode_runs)
        worst = max(mode_runs, key=lambda r: r.refused / max(r.requests, 1))
        worst_share = worst.refused / max(worst.requests, 1)
        once = all(
            r.mapped == r.items and r.duplicates == 0 and r.strays == 0 and r.failed == 0
            for r in mode_runs
        )
        table.add(
            mode,
            f"{fmt_s(elapsed)} ({min(seconds):.2f}-{max(seconds):.2f})",
            f"{elapsed / ideal:.3f}x",
            f"{requests:.0f}",
            f"{refused:.0f}",
            f"{refused / max(requests, 1) * 100:.1f}%",
            f"{min(r.mapped for r in mode_runs)}/{settings.items}",
            f"{max(r.duplicates for r in mode_runs)}",
            f"{max(r.failed for r in mode_runs)}",
        )
        section.targets += [
            Target(
                "sync",
                f"{THREADS} threads, one client, {mode}: 429s < {REFUSED_TARGET:.0%} of requests",
                f"{worst.refused} of {worst.requests} ({worst_share * 100:.1f}%) in the worst "
                f"of {len(mode_runs)} runs",
                all(r.refused < REFUSED_TARGET * r.requests for r in mode_runs),
            ),
            Target(
                "sync",
                f"{THREADS} threads, one client, {mode}: every number mapped once",
                f"{min(r.mapped for r in mode_runs)}/{settings.items} mapped, "
                f"{max(r.duplicates for r in mode_runs)} duplicates, "
                f"{max(r.failed for r in mode_runs)} failed (worst run)",
                once,
            ),
        ]


# -- plot and section ---------------------------------------------------------------------


def _plot(
    per_call: dict[str, tuple[float, float, float]],
    runs: dict[str, list[ThreadRun]],
    items: int,
    out: Path,
) -> str:
    fig, (left, right) = figure(ncols=2, width=11.0, height=4.0)
    xs = range(len(CALLS))
    left.bar(
        [x - 0.2 for x in xs], [per_call[c][0] for c in CALLS], 0.4, label="async", color="#9aa7b1"
    )
    left.bar(
        [x + 0.2 for x in xs], [per_call[c][1] for c in CALLS], 0.4, label="sync", color="#2b6cb0"
    )
    for x, call in zip(xs, CALLS, strict=True):
        left.annotate(
            f"{per_call[call][2]:.2f}x",
            (x + 0.2, per_call[call][1]),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    left.set_xticks(list(xs), [c.split(".")[1] for c in CALLS])
    left.set_ylabel("µs per call, wall (median)")
    left.set_title(f"in process, one call at a time (target <= {TARGET:.2f}x)", fontsize=10)
    left.legend(fontsize=8, loc="upper left")
    left.margins(y=0.35)

    ideal_end = items / RATE
    right.plot([0, ideal_end], [0, items], "--", color="#888888", label="ideal: 100 a second")
    for mode, color in zip(MODES, ("#6b46c1", "#c05621"), strict=True):
        run = sorted(runs[mode], key=lambda r: r.seconds)[len(runs[mode]) // 2]
        right.step(
            run.done_at,
            range(1, len(run.done_at) + 1),
            where="post",
            color=color,
            label=f"{mode}: {run.seconds:.2f} s, {run.refused} x 429",
        )
    right.set_xlabel("seconds from start")
    right.set_ylabel("numbers mapped")
    right.set_title(f"{THREADS} threads, one client, server limit 100/s (median run)", fontsize=10)
    right.legend(fontsize=8, loc="lower right")
    right.grid(alpha=0.3)
    fig.suptitle("TrunkingClient (sync) vs AsyncTrunkingClient", fontsize=11)
    return save(fig, out, "sync.png")


def run(quick: bool, out: Path) -> Section:
    settings = QUICK if quick else FULL
    per_call = measure_per_call(settings)
    with served_emulator(latency=LATENCY, rate_limit=f"{RATE}/1") as server:
        runs = measure_threads(server.url, settings)
    ideal = settings.items / RATE
    section = Section(
        "sync",
        "6. The synchronous client (issue 17)",
        "*In process*: `phone_numbers.list` (one page of 10) and `phone_numbers.map` through "
        "`TrunkingClient` and through `AsyncTrunkingClient`, both `rate_limit=None` on one "
        "shared `httpx2.MockTransport` answering a canned envelope, one call at a time; the "
        "async client runs in the benchmark's event loop; the sync one is called from a thread "
        "with no event loop (the benchmark's loop waits idle) and hands each call to its own "
        f"loop thread and back. {settings.rounds} rounds of {settings.calls} calls per "
        "client, interleaved; medians (range in brackets), ratio = median of per-round "
        "ratios. *Wall* is what the caller waits (the hand-over between threads included) and "
        "carries the target; *CPU* is this process's CPU time, both threads. "
        f"*Shared by threads*: {THREADS} threads share one `TrunkingClient` paced at "
        "`RateLimit(100, 1.0)` against the emulator served in another process with "
        "`--rate-limit 100/1` (bucket of 100) and 50 ms latency, reset before each run; each "
        f"thread maps its own {settings.items // THREADS} of {settings.items} numbers to one "
        "trunk, one `phone_numbers.map` after another, or in one `bulk.map_phone_numbers` "
        "call (concurrency 20 each). Time from the threads' common start until all have "
        f"finished, vs N / rate = {fmt_s(ideal)}; {settings.thread_rounds} runs a mode, "
        "interleaved. 429s and requests are the emulator's own count; mapped and duplicates "
        "are read from its state (`/_emulator/state`).",
    )
    per_call_table = Table(
        "Per-call time in process",
        ["call", "clock", "async µs/call", "sync µs/call", "sync/async", "target"],
    )
    summary = _summarise_per_call(per_call, per_call_table, section)
    threads_table = Table(
        f"{THREADS} threads sharing one client, server limit 100/s",
        [
            "each thread",
            "time",
            "vs N / rate",
            "requests",
            "429s",
            "429 share",
            "mapped",
            "duplicates",
            "failed",
        ],
    )
    _summarise_threads(runs, settings, threads_table, section)
    section.tables += [per_call_table, threads_table]
    section.plots.append(_plot(summary, runs, settings.items, out))
    return section
