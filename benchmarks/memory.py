"""Memory: 10,000 and 100,000 numbers from a generator through the bulk executor, in process.

Each measurement runs in a fresh child process (``python -m benchmarks.memory --child FORM N``)
so that its peak RSS is its own. The client talks to :class:`~benchmarks._canned.EchoTransport`,
which answers every mapping with a success and keeps nothing (the emulator's account would
grow with N and hide the client's own footprint). After a warm-up, the child records its RSS,
resets the kernel's high-water mark (``/proc/self/clear_refs``), maps N numbers, and reports:

- peak RSS above that baseline (``VmHWM - VmRSS``), in a run without tracemalloc;
- peak traced Python memory (``tracemalloc``), in a second run of its own (tracing slows the
  run and its bookkeeping would inflate RSS).

Forms: ``stream`` is ``client.bulk.stream_phone_numbers`` with a consumer that only counts (the
form for inputs too large to keep results for); ``collect`` is ``map_phone_numbers``, which
keeps one outcome per number by design.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from exotel_trunking import AsyncTrunkingClient

from ._canned import ACCOUNT_SID, API_KEY, API_TOKEN, TRUNK_SID, EchoTransport
from ._plots import figure, save
from ._report import Section, Table, Target, fmt_mb

FORMS = ("stream", "collect")
CONCURRENCY = 50
WARMUP = 500
MB = 2**20
TARGET_MB = 50
#: Growth per extra number under which memory counts as flat (a pointer or two).
FLAT_BYTES_PER_NUMBER = 16


@dataclass
class Settings:
    sizes: tuple[int, int]


FULL = Settings(sizes=(10_000, 100_000))
QUICK = Settings(sizes=(1_000, 5_000))


# -- the child ----------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")  # resets VmHWM to the current RSS
    except OSError:
        return False
    return True


def _numbers(count: int) -> Iterator[str]:
    """A generator: the input is never held as a whole."""
    return (f"+9198{i:08d}" for i in range(count))


async def _consume(client: AsyncTrunkingClient, form: str, count: int) -> int:
    if form == "collect":
        result = await client.bulk.map_phone_numbers(
            TRUNK_SID, _numbers(count), concurrency=CONCURRENCY
        )
        return len(result.created)
    created = 0
    async with client.bulk.stream_phone_numbers(
        TRUNK_SID, _numbers(count), concurrency=CONCURRENCY
    ) as outcomes:
        async for outcome in outcomes:
            created += outcome.status == "created"
    return created


async def _child(form: str, count: int, trace: bool) -> dict[str, Any]:
    transport = EchoTransport()
    async with AsyncTrunkingClient(
        API_KEY, API_TOKEN, ACCOUNT_SID, transport=transport, rate_limit=None
    ) as client:
        await _consume(client, form, WARMUP)
        gc.collect()
        baseline_kb = _status_kb("VmRSS")
        hwm_reset = _reset_peak_rss()
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        created = await _consume(client, form, count)
        elapsed = time.perf_counter() - started
        traced_peak = tracemalloc.get_traced_memory()[1] if trace else 0
        tracemalloc.stop()
        peak_kb = _status_kb("VmHWM")
    if created != count:
        raise RuntimeError(f"{created} of {count} created")
    return {
        "form": form,
        "count": count,
        "seconds": elapsed,
        "baseline_rss": baseline_kb * 1024,
        "peak_rss_above_baseline": (peak_kb - baseline_kb) * 1024 if hwm_reset else None,
        "traced_peak": traced_peak,
    }


# -- the parent ---------------------------------------------------------------------------


def _measure(form: str, count: int, *, trace: bool) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks.memory", "--child", form, str(count)]
    if trace:
        argv.append("--trace")
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _bars(ax: Any, values: list[float], offset: float, label: str, color: str) -> None:
    xs = [x + offset for x in range(len(values))]
    ax.bar(xs, values, 0.4 if offset else 0.5, label=label, color=color)
    for x, value in zip(xs, values, strict=True):
        ax.annotate(f"{value:.1f}", (x, value), ha="center", va="bottom", fontsize=8)


def _plot(results: dict[tuple[str, int], dict[str, Any]], sizes: tuple[int, int], out: Path) -> str:
    fig, (left, right) = figure(ncols=2, width=8.0, height=3.6)
    for offset, form, color in ((-0.2, "stream", "#2b6cb0"), (0.2, "collect", "#9aa7b1")):
        values = [(results[(form, n)]["peak_rss_above_baseline"] or 0) / MB for n in sizes]
        _bars(left, values, offset, f"{form}_phone_numbers".replace("collect", "map"), color)
    _bars(right, [results[("stream", n)]["traced_peak"] / MB for n in sizes], 0.0, "", "#2b6cb0")
    for ax, title in ((left, "peak RSS above baseline"), (right, "stream: peak traced")):
        ax.axhline(TARGET_MB, color="#c53030", linestyle=":", label=f"target {TARGET_MB} MB")
        ax.set_xticks(range(len(sizes)), [f"{n:,} numbers" for n in sizes])
        ax.set_ylabel("MB")
        ax.set_title(title, fontsize=10)
        ax.margins(y=0.15)
    left.legend(fontsize=8)
    fig.suptitle("Client memory, bulk mapping from a generator (in process)", fontsize=11)
    return save(fig, out, "memory.png")


def _measure_all(sizes: tuple[int, int]) -> dict[tuple[str, int], dict[str, Any]]:
    """Every child, two at a time (memory does not depend on CPU contention), longest first."""
    jobs = [("stream", n, True) for n in sizes] + [(f, n, False) for f in FORMS for n in sizes]
    jobs.sort(key=lambda job: job[1] * (3 if job[2] else 1), reverse=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(
            zip(
                jobs,
                pool.map(lambda job: _measure(job[0], job[1], trace=job[2]), jobs),
                strict=True,
            )
        )
    results = {(form, n): done[(form, n, False)] for form in FORMS for n in sizes}
    for n in sizes:
        results[("stream", n)]["traced_peak"] = done[("stream", n, True)]["traced_peak"]
        results[("stream", n)]["traced_seconds"] = done[("stream", n, True)]["seconds"]
    return results


def run(quick: bool, out: Path) -> Section:
    settings = QUICK if quick else FULL
    results = _measure_all(settings.sizes)
    section = Section(
        "memory",
        "4. Memory (bounded streaming)",
        "A generator of N numbers through the bulk executor (concurrency 50, `rate_limit=None`) "
        "against an in-process transport that answers every mapping with a success and keeps "
        "nothing, so only the client's memory is measured. Every figure comes from a fresh "
        "child process: peak RSS above the RSS after a warm-up (the kernel's high-water mark, "
        "reset first), and, for the streaming form, peak `tracemalloc` memory in a separate "
        "traced run (tracing is slow, and its bookkeeping would inflate RSS).",
    )
    table = Table(
        "Client memory",
        [
            "form",
            "N",
            "time (untraced)",
            "peak RSS above baseline",
            "peak traced",
            "traced B/number",
        ],
    )
    for form in FORMS:
        for count in settings.sizes:
            r = results[(form, count)]
            rss = r["peak_rss_above_baseline"]
            traced = r.get("traced_peak") if form == "stream" else None
            table.add(
                f"`{'stream_phone_numbers' if form == 'stream' else 'map_phone_numbers'}`",
                f"{count:,}",
                f"{r['seconds']:.1f} s",
                fmt_mb(rss) if rss is not None else "n/a",
                fmt_mb(traced) if traced is not None else "-",
                f"{traced / count:.0f}" if traced is not None else "-",
            )
    section.tables.append(table)
    small, large = (results[("stream", n)] for n in settings.sizes)
    rss_small, rss_large = (r["peak_rss_above_baseline"] or 0 for r in (small, large))
    worst = max(rss_small, rss_large, small["traced_peak"], large["traced_peak"])
    section.targets.append(
        Target(
            "memory",
            f"stream: < {TARGET_MB} MB above baseline at {settings.sizes[1]:,}",
            f"RSS +{fmt_mb(rss_large)}, traced {fmt_mb(large['traced_peak'])}",
            worst < TARGET_MB * MB,
        )
    )
    extra = settings.sizes[1] - settings.sizes[0]
    growth = large["traced_peak"] - small["traced_peak"]
    section.targets.append(
        Target(
            "memory",
            f"stream: flat from {settings.sizes[0]:,} to {settings.sizes[1]:,}",
            f"traced {fmt_mb(small['traced_peak'])} -> {fmt_mb(large['traced_peak'])}, "
            f"RSS +{fmt_mb(rss_small)} -> +{fmt_mb(rss_large)} "
            f"({growth / extra:.0f} traced bytes per extra number)",
            growth < FLAT_BYTES_PER_NUMBER * extra,
        )
    )
    section.plots.append(_plot(results, settings.sizes, out))
    return section


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("--child", nargs=2, metavar=("FORM", "N"), required=True)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    form, count = args.child[0], int(args.child[1])
    print(json.dumps(anyio.run(_child, form, count, args.trace)))


if __name__ == "__main__":
    main()
