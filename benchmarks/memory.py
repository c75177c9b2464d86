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
form for inputs too large to keep results for), which remembers each distinct number it has
settled so that duplicates are sent once; ``stream-unique`` is the same with
``deduplicate=False``, which remembers nothing per number; ``collect`` is ``map_phone_numbers``,
which keeps one outcome per number by design.
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
from ._report import Section, Table, Target, fmt_mb

FORMS = ("stream", "stream-unique", "collect")
#: The forms whose peak traced memory is measured too.
TRACED = ("stream", "stream-unique")
LABELS = {
    "stream": "`stream_phone_numbers`",
    "stream-unique": "`stream_phone_numbers(deduplicate=False)`",
    "collect": "`map_phone_numbers`",
}
CONCURRENCY = 50
WARMUP = 500
MB = 2**20
TARGET_MB = 50
#: Traced growth per extra number under which memory counts as flat: nothing kept per number.
FLAT_BYTES_PER_NUMBER = 1
#: What exact duplicate detection may cost per distinct number: the KeyMap's 16-byte slots
#: (key and first index) at 53-80% load, and both tables for the moment it grows.
DEDUP_BYTES_PER_NUMBER = 50


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
        TRUNK_SID, _numbers(count), concurrency=CONCURRENCY, deduplicate=form == "stream"
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


def _bars(
    ax: Any, values: list[float], offset: float, label: str, color: str, *, width: float
) -> None:
    xs = [x + offset for x in range(len(values))]
    ax.bar(xs, values, width, label=label, color=color)
    for x, value in zip(xs, values, strict=True):
        ax.annotate(f"{value:.1f}", (x, value), ha="center", va="bottom", fontsize=8)


def _plot(results: dict[tuple[str, int], dict[str, Any]], sizes: tuple[int, int], out: Path) -> str:
    # matplotlib only here: the child processes never load it (it costs them 1.3 s and a
    # heap the garbage collector would walk during the measured runs).
    from ._plots import figure, save  # noqa: PLC0415

    fig, (left, right) = figure(ncols=2, width=9.0, height=3.8)
    colors = {"stream": "#2b6cb0", "stream-unique": "#38a169", "collect": "#9aa7b1"}
    names = {"stream": "stream", "stream-unique": "stream, no dedup", "collect": "map"}
    for offset, form in zip((-0.27, 0.0, 0.27), FORMS, strict=True):
        values = [(results[(form, n)]["peak_rss_above_baseline"] or 0) / MB for n in sizes]
        _bars(left, values, offset, names[form], colors[form], width=0.27)
    for offset, form in zip((-0.2, 0.2), TRACED, strict=True):
        values = [results[(form, n)]["traced_peak"] / MB for n in sizes]
        _bars(right, values, offset, names[form], colors[form], width=0.4)
    for ax, title in ((left, "peak RSS above baseline"), (right, "stream: peak traced")):
        ax.axhline(TARGET_MB, color="#c53030", linestyle=":", label=f"target {TARGET_MB} MB")
        ax.set_xticks(range(len(sizes)), [f"{n:,} numbers" for n in sizes])
        ax.set_ylabel("MB")
        ax.set_title(title, fontsize=10)
        ax.margins(y=0.15)
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.suptitle("Client memory, bulk mapping from a generator (in process)", fontsize=11)
    return save(fig, out, "memory.png")


def _measure_all(sizes: tuple[int, int]) -> dict[tuple[str, int], dict[str, Any]]:
    """Every child, two at a time (memory does not depend on CPU contention), longest first."""
    jobs = [(f, n, True) for f in TRACED for n in sizes]
    jobs += [(f, n, False) for f in FORMS for n in sizes]
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
    for form in TRACED:
        for n in sizes:
            results[(form, n)]["traced_peak"] = done[(form, n, True)]["traced_peak"]
            results[(form, n)]["traced_seconds"] = done[(form, n, True)]["seconds"]
    return results


def _per_extra(
    results: dict[tuple[str, int], dict[str, Any]], form: str, sizes: tuple[int, int], field: str
) -> tuple[float, float, float]:
    """``(smaller, larger, bytes per extra number)`` of one figure between the two sizes."""
    small, large = ((results[(form, n)][field] or 0) for n in sizes)
    return small, large, (large - small) / (sizes[1] - sizes[0])


def _growth_table(results: dict[tuple[str, int], dict[str, Any]], sizes: tuple[int, int]) -> Table:
    table = Table(
        f"Growth from {sizes[0]:,} to {sizes[1]:,} numbers",
        ["form", "peak traced", "traced B/extra number", "peak RSS", "RSS B/extra number"],
    )
    for form in FORMS:
        rss_small, rss_large, rss_rate = _per_extra(results, form, sizes, "peak_rss_above_baseline")
        traced = "-", "-"
        if form in TRACED:
            small, large, rate = _per_extra(results, form, sizes, "traced_peak")
            traced = f"{fmt_mb(small)} -> {fmt_mb(large)}", f"{rate:.1f}"
        table.add(
            LABELS[form],
            traced[0],
            traced[1],
            f"+{fmt_mb(rss_small)} -> +{fmt_mb(rss_large)}",
            f"{rss_rate:.1f}",
        )
    return table


def _targets(
    results: dict[tuple[str, int], dict[str, Any]], sizes: tuple[int, int]
) -> list[Target]:
    targets = []
    for form in TRACED:
        r = results[(form, sizes[1])]
        rss = r["peak_rss_above_baseline"] or 0
        targets.append(
            Target(
                "memory",
                f"{LABELS[form]}: < {TARGET_MB} MB above baseline at {sizes[1]:,}",
                f"RSS +{fmt_mb(rss)}, traced {fmt_mb(r['traced_peak'])}",
                max(rss, r["traced_peak"]) < TARGET_MB * MB,
            )
        )
    for form, limit, goal in (
        ("stream-unique", FLAT_BYTES_PER_NUMBER, "flat"),
        ("stream", DEDUP_BYTES_PER_NUMBER, "exact duplicate detection"),
    ):
        small, large, rate = _per_extra(results, form, sizes, "traced_peak")
        rss_small, rss_large, _ = _per_extra(results, form, sizes, "peak_rss_above_baseline")
        targets.append(
            Target(
                "memory",
                f"{LABELS[form]}: {goal} from {sizes[0]:,} to {sizes[1]:,} "
                f"(< {limit} traced B per extra number)",
                f"traced {fmt_mb(small)} -> {fmt_mb(large)}, "
                f"RSS +{fmt_mb(rss_small)} -> +{fmt_mb(rss_large)} "
                f"({rate:.1f} traced B per extra number)",
                rate < limit,
            )
        )
    return targets


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
        "reset first), and, for the streaming forms, peak `tracemalloc` memory in a separate "
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
            traced = r["traced_peak"] if form in TRACED else None
            table.add(
                LABELS[form],
                f"{count:,}",
                f"{r['seconds']:.1f} s",
                fmt_mb(rss) if rss is not None else "n/a",
                fmt_mb(traced) if traced is not None else "-",
                f"{traced / count:.0f}" if traced is not None else "-",
            )
    section.tables.append(table)
    growth = _growth_table(results, settings.sizes)
    section.tables.append(growth)
    section.targets += _targets(results, settings.sizes)
    section.notes.append(
        "Growth = (figure at the larger N - figure at the smaller N) / the extra numbers. "
        "Every number in the input is distinct, so the default form remembers each one (an int "
        "key and the index of its first occurrence in two `array('Q')`, 20-30 bytes per "
        "number, up to 50 while they grow); "
        "`deduplicate=False` remembers nothing per number."
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
