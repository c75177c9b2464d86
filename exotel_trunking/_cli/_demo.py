"""``demo``: provision a sample tenant against the built-in emulator, with faults on."""

from __future__ import annotations

import sys
import textwrap
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import anyio
import attrs
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
from ._progress import ClientActivity, bulk_progress, follow

_KEY, _TOKEN, _SID = "demo-key", "demo-token", "demo"
#: Faults on the calls that are safe to repeat; creating the trunk is never repeated.
_FAULTS = ("503", 0.05), ("429", 0.005), ("drop_after", 0.01), ("502_html", 0.01)
_FAULTY_PATHS = ("/trunks/*/phone-numbers", "/trunks/*/whitelisted-ips")

#: The injected faults in plain words, in the order the closing summary lists them.
_FAULT_WORDS = {
    "503": "'service unavailable' answers (HTTP 503)",
    "502_html": "proxy error pages instead of an API answer (HTTP 502)",
    "429": "'too many requests' answers (HTTP 429): all calls paused as long as asked",
    "drop_after": "connections dropped after the change was applied",
    "drop_before": "connections dropped before the change was applied",
    "slow": "answers too slow to wait for",
}
#: Why the client retried (``RetryEvent.reason``), in plain words.
_RETRY_WORDS = {
    "503": "after 'service unavailable'",
    "502": "after a proxy error page",
    "429": "after 'too many requests'",
    "RemoteProtocolError": "after a dropped connection",
    "ReadError": "after a dropped connection",
    "ReadTimeout": "after no answer in time",
}


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
        # After a dropped connection the client finds the number it mapped in the trunk's
        # listing, newest first. With the live default of 50 a page, whether that takes one
        # page or two depends on how many numbers other tasks mapped meanwhile, which timing
        # decides; with 1000 a page it is one page, and the same seed gives the same requests.
        page_size=1000,
    )


@attrs.define
class _Run:
    """What the demo's steps found, for the closing summary."""

    first: ProvisionReport
    plan: ProvisionReport
    again: ProvisionReport
    diagnosis: Diagnosis
    mapping: dict[str, int]


@attrs.define
class _Steps:
    """The demo's five steps, each printing its report as soon as it is done."""

    settings: Settings
    client: AsyncTrunkingClient
    spec: TrunkSpec
    activity: ClientActivity
    retries: Counter[str]

    def say(self, text: str) -> None:
        """Print a heading (nothing with ``--json``)."""
        if not self.settings.as_json:
            self.settings.console.print(text)

    def report(self, text: str, *, style: str | None = None) -> None:
        """Print a step's report, indented under its heading (nothing with ``--json``)."""
        if not self.settings.as_json:
            console = self.settings.console
            width = max(40, console.width - 1)
            lines = textwrap.fill(text, width, initial_indent="   ", subsequent_indent="   ")
            console.print(lines, style=style, markup=False, highlight=False, soft_wrap=True)

    async def run(self) -> _Run:
        """Run the steps in order on the client (which this closes)."""
        async with self.client:
            sid = await self.create_trunk()
            mapping = await self.map_numbers(sid)
            first = await self.complete(sid)
            plan, again = await self.repeat(sid)
            diagnosis = await self.doctor(sid)
        return _Run(first, plan, again, diagnosis, mapping)

    async def create_trunk(self) -> str:
        self.say("\n[bold]1. Creating the trunk[/]")
        trunk = await self.client.trunks.create(self.spec.name)
        self.report(f"Created trunk {trunk.trunk_name} ({trunk.trunk_sid}).")
        return trunk.trunk_sid

    async def map_numbers(self, sid: str) -> dict[str, int]:
        numbers = [n.phone_number for n in self.spec.numbers]
        self.say(f"\n[bold]2. Mapping {len(numbers)} numbers to it, 20 at a time[/]")
        retried_before = self.retries.total()
        errors = self.settings.errors
        with bulk_progress(
            errors, activity=self.activity, disable=not self.settings.show_progress
        ) as progress:
            async with self.client.bulk.stream_phone_numbers(
                sid, numbers, concurrency=20
            ) as stream:
                await follow(stream, progress, "mapping numbers")
                mapping = {str(status): n for status, n in stream.counts.items()}
        self.report(_mapping_line(mapping, self.retries.total() - retried_before))
        return mapping

    async def complete(self, sid: str) -> ProvisionReport:
        self.say(
            "\n[bold]3. Bringing the trunk to the full spec: IP ranges, destinations, "
            "caller-ID alias[/]"
        )
        report = await self.client.provision(self.spec, trunk_sid=sid)
        self.report(
            f"Provisioning reads the trunk first and sends only what is missing: the "
            f"{len(report.numbers.existing)} numbers mapped in step 2 were found in place "
            f"('already there') and left alone; {len(report.ips.created)} IP ranges were "
            f"whitelisted and {len(report.destinations.created)} destinations added."
        )
        if not self.settings.as_json:
            print_report(
                self.settings.console,
                report,
                sip_server=f"{_SID}.pstn.exotel.com",
                mask_note="The password is masked (the trunk lives only as long as the demo).",
            )
        return report

    async def repeat(self, sid: str) -> tuple[ProvisionReport, ProvisionReport]:
        self.say("\n[bold]4. Checking the spec is in place: a dry run, then applying it again[/]")
        plan = await self.client.provision(self.spec, trunk_sid=sid, dry_run=True)
        again = await self.client.provision(self.spec, trunk_sid=sid)
        self.report(
            _repeat_line(plan, again), style="red" if plan.changed or again.changed else None
        )
        return plan, again

    async def doctor(self, sid: str) -> Diagnosis:
        self.say("\n[bold]5. Checking the trunk for what would make calls fail (doctor)[/]")
        diagnosis = await self.client.diagnose(sid)
        if not self.settings.as_json:
            print_diagnosis(self.settings.console, diagnosis)
        return diagnosis


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
@click.option(
    "--seed",
    default=0,
    show_default=True,
    help="Seed of the emulator's randomness: the same seed, the same requests and faults.",
)
@click.pass_obj
def demo(settings: Settings, count: int, dialect: str, seed: int) -> None:
    """Provision a sample tenant on the built-in emulator: no account needed.

    The emulator answers with 20-80 ms latency, allows 120 calls a second, and misbehaves on
    purpose: 'service unavailable' answers, proxy error pages, 'too many requests', and
    connections dropped after the change was applied. The demo creates a trunk, maps the
    numbers with a live progress bar, brings the trunk to the full spec (IPs, destinations,
    alias), checks that applying the spec again changes nothing, runs 'exotel-trunking
    doctor' on the trunk, and sums up what happened. The same --seed gives the same requests
    and the same faults, run after run.
    """
    emulator = _emulator(seed, dialect)
    retries: Counter[str] = Counter()
    activity = ClientActivity()

    def on_retry(event: RetryEvent) -> None:
        retries[event.reason] += 1
        activity.on_retry(event)

    client = AsyncTrunkingClient(
        _KEY,
        _TOKEN,
        _SID,
        transport=emulator.transport(),
        rate_limit=RateLimit(100, 1.0),
        retry=RetryPolicy(initial_delay=0.2, max_delay=2.0, max_retries=8),
        on_retry=on_retry,
        on_rate_limit_wait=activity.on_rate_limit_wait,
    )
    steps = _Steps(settings, client, sample_spec(count), activity, retries)
    steps.say(
        f"[bold]exotel-trunking demo[/]: a sample tenant provisioned on a built-in emulator "
        f"of Exotel's API ({dialect} dialect, seed {seed}); nothing leaves this machine. "
        "The emulator answers in 20-80 ms, allows 120 calls a second and misbehaves on "
        "purpose, as networks do: about 5% of the calls that map numbers or whitelist IPs "
        "answer 'service unavailable', 1% get a proxy's error page, 1% lose their "
        "connection after the change was applied, 0.5% answer 'too many requests'. The "
        "client paces itself at 100 calls a second and retries what is safe to repeat."
    )
    started = time.monotonic()
    done = anyio.run(steps.run)
    elapsed = time.monotonic() - started
    mapped = len(emulator.state.phone_numbers(done.first.trunk_sid or ""))
    summary: dict[str, Any] = {
        "seconds": round(elapsed, 1),
        "numbers_mapped": mapped,
        "mapping": done.mapping,
        "report": report_data(done.first),
        "plan_after_apply": report_data(done.plan),
        "second_apply_changed": done.again.changed,
        "retries": dict(sorted(retries.items())),
        "faults_injected": dict(sorted(emulator.counters.by_fault.items())),
        "requests": emulator.counters.total,
        "doctor": diagnosis_data(done.diagnosis),
    }
    ok = done.first.ok and not done.plan.changed and not done.again.changed
    ok = ok and mapped == count and done.diagnosis.ok
    if settings.as_json:
        settings.emit(summary, lambda: None)
    else:
        _print_summary(settings.console, summary, count=count, seed=seed, ok=ok)
    if not ok:
        sys.exit(EXIT_FAILED)


def _mapping_line(mapping: Mapping[str, int], retried: int) -> str:
    """Step 2's outcome: mapped, failed, and how many requests needed another try."""
    mapped = mapping.get("created", 0) + mapping.get("exists", 0)
    failed = sum(n for status, n in mapping.items() if status not in ("created", "exists"))
    line = f"{mapped} numbers mapped, {failed} failed"
    if retried:
        line += f"; {retried} requests needed another try (see the summary at the end)"
    return line + "."


def _repeat_line(plan: ProvisionReport, again: ProvisionReport) -> str:
    """Step 4's outcome: whether the dry run and the second apply changed anything."""
    if plan.changed:
        planned = "The dry run still plans changes"
    else:
        planned = "The dry run finds nothing to change"
    if again.changed:
        applied = "applying the spec again changed something"
    else:
        applied = "applying it again creates nothing and changes nothing"
    return f"{planned}; {applied}."


def _print_summary(
    console: Console, summary: dict[str, Any], *, count: int, seed: int, ok: bool
) -> None:
    """The closing summary, in words a newcomer follows."""
    faults: dict[str, int] = summary["faults_injected"]
    retries: dict[str, int] = summary["retries"]
    console.print("\n[bold]What happened[/]")
    console.print(
        f"{summary['requests']} requests in {summary['seconds']} s. The emulator misbehaved "
        f"on purpose {sum(faults.values())} times:"
    )
    for kind in sorted(faults, key=_listed_first(_FAULT_WORDS)):
        console.print(f"  {faults[kind]} {_FAULT_WORDS.get(kind, kind)}")
    if retries:
        why = ", ".join(
            f"{retries[reason]} {_RETRY_WORDS.get(reason, f'after {reason}')}"
            for reason in sorted(retries, key=_listed_first(_RETRY_WORDS))
        )
        console.print(f"The client tried again {sum(retries.values())} times: {why}.")
    if faults.get("drop_after"):
        console.print(
            "When a dropped connection had left a number mapped, the next try found it on the "
            "trunk instead of mapping it twice."
        )
    failed = count - summary["numbers_mapped"]
    verdict = "[green]All as specified[/]" if ok else "[red]Not as specified[/]"
    console.print(
        f"{verdict}: {summary['numbers_mapped']} numbers on the trunk, each mapped once "
        f"({failed} missing); the IP ranges, destinations and caller-ID alias in place."
    )
    console.print(
        f"Run it again with --seed {seed} for the same requests and faults, or another "
        "--seed for others."
    )


def _listed_first(order: Mapping[str, str]) -> Any:
    """A sort key: the keys of ``order`` in its order, anything else after them."""
    ranks = {key: rank for rank, key in enumerate(order)}
    return lambda key: (ranks.get(key, len(ranks)), key)
