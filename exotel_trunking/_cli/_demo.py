"""``demo``: provision a sample tenant against the built-in emulator, with faults on."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

import anyio
import click
from rich.console import Console

from .._client import AsyncTrunkingClient
from .._diagnosis import Diagnosis
from .._provision import ProvisionReport, TrunkSpec
from .._transport import RateLimit, RetryEvent, RetryPolicy
from ..emulator import Emulator, FaultRule
from ._app import EXIT_FAILED, Settings
from ._apply import print_report, report_data
from ._doctor import diagnosis_data, print_diagnosis
from ._progress import bulk_progress, follow

_KEY, _TOKEN, _SID = "demo-key", "demo-token", "demo"
#: Faults on the calls that are safe to repeat; creating the trunk is never repeated.
_FAULTS = ("503", 0.05), ("429", 0.005), ("drop_after", 0.01), ("502_html", 0.01)
_FAULTY_PATHS = ("/trunks/*/phone-numbers", "/trunks/*/whitelisted-ips")


def sample_spec(count: int) -> TrunkSpec:
    """The demo tenant: ``count`` numbers, two IP ranges, two destinations, an alias."""
    numbers = [f"+9180{4000_0000 + n:08d}" for n in range(count)]
    return TrunkSpec(
        name="demo_tenant",
        numbers=numbers,
        ips=["203.0.113.0/28", "198.51.100.10"],
        destinations=[
            "203.0.113.5:5061;transport=tls",
            "sip.tenant.example.com:5061;transport=tls",
        ],
        alias=numbers[0] if numbers else None,
    )


def _emulator(seed: int, dialect: str) -> Emulator:
    rules = [
        FaultRule(kind, probability, method="POST", path=path)
        for kind, probability in _FAULTS
        for path in _FAULTY_PATHS
    ]
    return Emulator(
        _KEY,
        _TOKEN,
        _SID,
        dialect=dialect,  # type: ignore[arg-type]
        seed=seed,
        faults=rules,
        latency=(0.02, 0.08),
        rate_limit="120/1/20",
        fault_retry_after=1,
    )


@click.command("demo", short_help="Provision a sample tenant on a built-in emulator (offline).")
@click.option(
    "--numbers",
    "count",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Numbers to map.",
)
@click.option(
    "--dialect",
    type=click.Choice(["live", "reference"]),
    default="live",
    show_default=True,
    help="Which of Exotel's response shapes the emulator speaks.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the emulator's randomness.")
@click.pass_obj
def demo(settings: Settings, count: int, dialect: str, seed: int) -> None:
    """Provision a sample tenant on the built-in emulator: no account needed.

    The emulator answers with 20-80 ms latency, enforces 120 calls a second, and injects
    503s, 429s, proxy 502 pages and connections dropped after the change was applied. The
    demo creates a trunk, maps the numbers with a live progress bar, brings the trunk to the
    full spec, prints the PBX settings, applies the spec again to show nothing changes, and
    ends with 'exotel-trunking doctor' on the trunk.
    """
    emulator = _emulator(seed, dialect)
    spec = sample_spec(count)
    retries: Counter[str] = Counter()
    console = settings.console

    def on_retry(event: RetryEvent) -> None:
        retries[event.reason] += 1

    client = AsyncTrunkingClient(
        _KEY,
        _TOKEN,
        _SID,
        transport=emulator.transport(),
        rate_limit=RateLimit(100, 1.0),
        retry=RetryPolicy(initial_delay=0.2, max_delay=2.0, max_retries=8),
        on_retry=on_retry,
    )
    if not settings.as_json:
        console.print(
            f"[bold]exotel-trunking demo[/]: an emulated Exotel account ({dialect} dialect), "
            "20-80 ms latency, 120 calls/s, faults on: 5% 503, 1% proxy 502 pages, 1% "
            "connections dropped after commit, 0.5% 429. The client paces itself at 100/s."
        )
    started = time.monotonic()

    def step(text: str) -> None:
        if not settings.as_json:
            console.print(f"[bold]{text}[/]")

    async def run() -> tuple[ProvisionReport, ProvisionReport, ProvisionReport, Diagnosis]:
        async with client:
            trunk = await client.trunks.create(spec.name)
            step(f"1. Created trunk {trunk.trunk_name} ({trunk.trunk_sid}).")
            step(f"2. Mapping {count} numbers through the bulk executor:")
            with bulk_progress(settings.errors, disable=not settings.show_progress) as progress:
                async with client.bulk.stream_phone_numbers(
                    trunk.trunk_sid, [n.phone_number for n in spec.numbers], concurrency=20
                ) as stream:
                    await follow(stream, progress, "mapping numbers")
            step("3. Bringing the trunk to the full spec (IPs before destinations, then alias):")
            first = await client.provision(spec, trunk_sid=trunk.trunk_sid)
            step("4. Checking the claims: a dry run, then the same spec applied again.")
            plan = await client.provision(spec, trunk_sid=trunk.trunk_sid, dry_run=True)
            again = await client.provision(spec, trunk_sid=trunk.trunk_sid)
            step("5. Checking the trunk for what would make calls fail (doctor).")
            diagnosis = await client.diagnose(trunk.trunk_sid)
            return first, plan, again, diagnosis

    first, plan, again, diagnosis = anyio.run(run)
    elapsed = time.monotonic() - started
    sid = first.trunk_sid or ""
    mapped = len(emulator.state.phone_numbers(sid))
    summary: dict[str, Any] = {
        "seconds": round(elapsed, 1),
        "numbers_mapped": mapped,
        "report": report_data(first),
        "plan_after_apply": report_data(plan),
        "second_apply_changed": again.changed,
        "retries": dict(retries),
        "faults_injected": dict(emulator.counters.by_fault),
        "requests": emulator.counters.total,
        "doctor": diagnosis_data(diagnosis),
    }
    ok = first.ok and not plan.changed and not again.changed and mapped == count
    ok = ok and diagnosis.ok
    if settings.as_json:
        settings.emit(summary, lambda: None)
    else:
        _print(console, first, plan, again, summary, sip_server=f"{_SID}.pstn.exotel.com")
        console.print(f"\n[bold]exotel-trunking doctor {sid}[/]")
        print_diagnosis(console, diagnosis)
    if not ok:
        sys.exit(EXIT_FAILED)


def _print(
    console: Console,
    first: ProvisionReport,
    plan: ProvisionReport,
    again: ProvisionReport,
    summary: dict[str, Any],
    *,
    sip_server: str,
) -> None:
    print_report(
        console,
        first,
        sip_server=sip_server,
        mask_note="The password is masked (the trunk lives only as long as the demo).",
    )
    faults = ", ".join(f"{n} {k}" for k, n in sorted(summary["faults_injected"].items()))
    retried = ", ".join(f"{n} after {k}" for k, n in sorted(summary["retries"].items()))
    console.print(
        f"\n{summary['requests']} requests in {summary['seconds']} s; faults injected: "
        f"{faults or 'none'}; retries: {retried or 'none'}."
    )
    console.print(
        f"Every number mapped exactly once: {summary['numbers_mapped']} numbers on the trunk, "
        f"{len(first.numbers.failed)} failed."
    )
    verdict = "[green]nothing to change[/]" if not plan.changed else "[red]changes planned[/]"
    console.print(f"Plan after applying (--dry-run): {verdict}.")
    created = sum(len(part.created) for part in (again.numbers, again.ips, again.destinations))
    console.print(f"Applying the same spec again: {created} created, changed={again.changed}.")
