"""``apply``: bring a trunk to a TOML spec, or show the plan with ``--dry-run``.

A new trunk's sid is printed and recorded in a state file (:mod:`._state`) the moment the
trunk exists, so that an interrupted run, re-run, carries on with the same trunk. While it
applies, the phases are shown live (:mod:`._phases`); Ctrl-C stops it within a second, says
what was done, and exits 130.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._client import AsyncTrunkingClient
from .._exceptions import ConflictError, ExotelError, MappedElsewhereError, NotFoundError
from .._models import Trunk
from .._provision import Changes, ProvisionReport, TrunkSpec
from .._transport import RateLimitWait
from ._app import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, Settings, record, run
from ._interrupt import interruptible
from ._phases import ApplyProgress, Phase, View
from ._progress import ClientActivity
from ._spec import SpecError, load_spec
from ._state import ApplyState, StateFileError, choose_trunk_sid, default_state_path

#: The parts of a report, in the order they are applied.
_PARTS = ("numbers", "ips", "destinations")
#: How many items of one part a report lists by name.
_LISTED = 20


def report_data(report: ProvisionReport) -> dict[str, Any]:
    """A report as JSON-ready data (the SIP password masked)."""
    return {
        "dry_run": report.dry_run,
        "trunk_sid": report.trunk_sid,
        "trunk_created": report.trunk_created,
        "changed": report.changed,
        "ok": report.ok,
        **{part: _changes_data(getattr(report, part)) for part in _PARTS},
        "alias": report.alias,
        "alias_error": None if report.alias_error is None else str(report.alias_error),
        "credentials": record(report.credentials),
        "credentials_error": (
            None if report.credentials_error is None else str(report.credentials_error)
        ),
    }


def _changes_data(changes: Changes) -> dict[str, Any]:
    return {
        "created": changes.created,
        "existing": changes.existing,
        "failed": [_failure_data(item, error) for item, error in changes.failed],
    }


def _failure_data(item: str, error: Exception) -> dict[str, Any]:
    data: dict[str, Any] = {"item": item, "error": str(error)}
    if isinstance(error, MappedElsewhereError):
        data |= {"on_another_trunk": True, "held_by": error.held_by}
    return data


def print_report(
    console: Console,
    report: ProvisionReport,
    *,
    sip_server: str,
    mask_note: str | None = None,
) -> None:
    """Print a provisioning report (or plan) as tables, with the PBX settings.

    ``mask_note`` follows the masked SIP password (by default: how to see it).
    """
    _print_counts(console, report)
    if report.dry_run:
        _print_planned(console, report)
    _print_failures(console, report)
    _print_alias(console, report)
    if report.dry_run:
        verdict = "run without --dry-run to apply this plan"
        console.print(verdict if report.changed else "[green]nothing to change[/]")
        return
    if report.credentials_error is not None:
        reason = escape(str(report.credentials_error))
        console.print(f"[yellow]could not read the SIP credentials[/]: {reason}")
    if report.credentials is not None:
        pbx = Table(title="PBX settings", title_justify="left", show_header=False)
        pbx.add_column(style="bold")
        pbx.add_column(overflow="fold")
        pbx.add_row("SIP server", sip_server)
        pbx.add_row("Port", "5060 (TCP) or 5061 (TLS)")
        pbx.add_row("Username", report.credentials.username)
        pbx.add_row("Password", "********")
        console.print(pbx)
        console.print(
            mask_note
            or "The password is masked; to see it:\n"
            f"  exotel-trunking credentials {report.trunk_sid} --show-password"
        )


def _print_counts(console: Console, report: ProvisionReport) -> None:
    if report.dry_run:
        which = "a new trunk" if report.trunk_created else f"trunk {report.trunk_sid}"
        console.print(f"[bold]Plan for {which} ({escape(report.spec.name)})[/]")
    else:
        console.print(f"[bold]Provisioning report for trunk {escape(report.spec.name)}[/]")
        console.print(f"trunk_sid: {report.trunk_sid}")
    elsewhere = {part: _elsewhere(getattr(report, part)) for part in _PARTS}
    table = Table()
    table.add_column("")
    table.add_column("would create" if report.dry_run else "created", justify="right")
    table.add_column("already there", justify="right")
    if any(elsewhere.values()):
        table.add_column("on another trunk", justify="right", style="magenta")
    table.add_column("failed", justify="right")
    if report.trunk_created:
        table.add_row("trunk", "1", "0", *(["0"] if any(elsewhere.values()) else []), "0")
    for part in _PARTS:
        changes: Changes = getattr(report, part)
        row = [part, str(len(changes.created)), str(len(changes.existing))]
        if any(elsewhere.values()):
            row.append(str(elsewhere[part]))
        table.add_row(*row, str(len(changes.failed) - elsewhere[part]))
    console.print(table)


def _elsewhere(changes: Changes) -> int:
    return sum(isinstance(error, MappedElsewhereError) for _, error in changes.failed)


def _print_failures(console: Console, report: ProvisionReport) -> None:
    """One line per failed item (up to :data:`_LISTED` a part); one for an error they share.

    Items that share one error (the fatal error that stopped a batch, or the one request
    that added every destination) are one line, not one per item.
    """
    for part in _PARTS:
        failed: list[tuple[str, Exception]] = getattr(report, part).failed
        sharing = Counter(id(error) for _, error in failed)
        told: set[int] = set()
        alone = [(item, error) for item, error in failed if sharing[id(error)] == 1]
        for _, error in failed:
            if sharing[id(error)] > 1 and id(error) not in told:
                told.add(id(error))
                console.print(
                    f"[red]failed[/] {sharing[id(error)]} {part}, all with the same error: "
                    f"{escape(str(error))}",
                    soft_wrap=True,
                )
        for item, error in alone[:_LISTED]:
            if isinstance(error, MappedElsewhereError):
                holder = f"trunk {error.held_by}" if error.held_by else "another trunk"
                console.print(
                    f"[magenta]on another trunk[/] {part[:-1]} {escape(item)}: it is mapped "
                    f"to {escape(holder)}; unmap it there first",
                    soft_wrap=True,
                )
            else:
                console.print(
                    f"[red]failed[/] {part[:-1]} {escape(item)}: {escape(str(error))}",
                    soft_wrap=True,
                )
        if len(alone) > _LISTED:
            console.print(f"[red]... and {len(alone) - _LISTED} more {part} failed[/] (--json)")


def _print_alias(console: Console, report: ProvisionReport) -> None:
    if report.alias is None:
        return
    if report.dry_run:
        state = "sent again on apply (harmless; it cannot be read back)"
    elif report.alias_error is not None:
        state = f"[red]failed[/]: {escape(str(report.alias_error))}"
    else:
        state = "set"
    console.print(f"caller-ID alias {report.alias}: {state}")


def _print_planned(console: Console, report: ProvisionReport) -> None:
    for part in _PARTS:
        created = getattr(report, part).created
        for item in created[:_LISTED]:
            console.print(f"  [green]+[/] {part[:-1]} {escape(item)}")
        if len(created) > _LISTED:
            console.print(f"  [green]+[/] ... and {len(created) - _LISTED} more {part} (--json)")


@click.command("apply")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--trunk-sid",
    help="The existing trunk to update [default: the spec's trunk_sid, else the state file's].",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    help="The state file [default: beside SPEC, tenant.toml -> tenant.state.json].",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--concurrency", default=20, show_default=True, help="Requests in flight.")
@click.pass_obj
def apply(
    settings: Settings,
    *,
    spec: str,
    trunk_sid: str | None,
    state_file: str | None,
    dry_run: bool,
    concurrency: int,
) -> None:
    """Bring a trunk to the state described in SPEC (a TOML file).

    \b
    name = "acme_main"            # the trunk's name: 1-16 of A-Z a-z 0-9 _
    trunk_sid = "tr..."           # optional: the trunk to update
    numbers = ["+919876543210",
               { phone_number = "+919876543211", mode = "flow" }]
    ips = ["203.0.113.0/28"]      # whitelisted before the destinations
    destinations = ["sip.acme.example:5061;transport=tls"]
    alias = "+919876543210"       # caller ID for outbound calls

    Only what is missing is added; nothing is removed. Applying the same spec again
    changes nothing, and --dry-run shows the plan without changing anything.

    A new trunk's sid is printed the moment the trunk exists and recorded, with the run's
    progress (never a secret), in a state file beside SPEC: tenant.toml -> tenant.state.json
    (--state puts it elsewhere). Applying SPEC again picks the sid up from there; a trunk_sid
    in SPEC (or --trunk-sid) wins, and one that disagrees with the state file is an error.
    Ctrl-C stops the run, prints what was done and exits 130; a second Ctrl-C ends at once.
    """
    wanted = _load(settings, spec)
    state_path = Path(state_file) if state_file else default_state_path(spec)
    try:
        recorded = ApplyState.read(state_path)
        sid = choose_trunk_sid(
            option=trunk_sid,
            spec=wanted.trunk_sid,
            recorded=recorded,
            spec_path=spec,
            state_path=state_path,
        )
    except StateFileError as error:
        settings.fail(error)
    if dry_run:
        _plan(settings, wanted, sid, spec)
        return
    application = _Application(
        settings, wanted, spec_path=spec, state_path=state_path, recorded=recorded, trunk_sid=sid
    )
    application.run(concurrency)


def _load(settings: Settings, spec: str) -> TrunkSpec:
    """The spec, or exit 2 listing every problem in it."""
    try:
        return load_spec(spec)
    except SpecError as error:
        if settings.as_json:
            problems = [
                {"key": p.key, "line": p.line, "message": p.message} for p in error.problems
            ]
            report = {"error": "SpecError", "message": str(error), "problems": problems}
            click.echo(json.dumps({**report, "exit_code": EXIT_USAGE}))
        else:
            count = len(error.problems)
            settings.errors.print(
                f"[bold red]error:[/] {escape(spec)}: "
                + ("1 problem" if count == 1 else f"{count} problems"),
                soft_wrap=True,
            )
            for problem in error.problems:
                settings.errors.print(f"  {escape(str(problem))}", soft_wrap=True)
        sys.exit(EXIT_USAGE)


def _conflict_hint(
    spec: TrunkSpec, spec_path: str, sid: str | None, state_path: Path | None = None
) -> Callable[[ExotelError], str | None]:
    """Hints in apply's terms; ``state_path``: where ``sid`` came from, if from a state file."""

    def hint(error: ExotelError) -> str | None:
        if isinstance(error, ConflictError) and sid is None:
            return (
                f"a trunk named {spec.name!r} exists already, and no trunk_sid is known for "
                f"{spec_path}: add that trunk's trunk_sid to it (or pass --trunk-sid) to bring "
                "that trunk to the spec"
            )
        if isinstance(error, NotFoundError) and state_path is not None:
            return (
                f"the state file {state_path} records trunk {sid}, which this account does not "
                f"have: if it was deleted, delete {state_path} and apply again to create a new "
                "trunk; if it is another account's, check EXOTEL_ACCOUNT_SID"
            )
        return None

    return hint


def _plan(settings: Settings, spec: TrunkSpec, sid: str | None, spec_path: str) -> None:
    """``--dry-run``: print the plan; nothing is sent but reads, no state file is written."""

    async def work(client: AsyncTrunkingClient) -> ProvisionReport:
        return await client.provision(spec, trunk_sid=sid, dry_run=True)

    report = run(settings, work, _conflict_hint(spec, spec_path, sid))
    settings.emit(
        report_data(report), lambda: print_report(settings.console, report, sip_server="")
    )


class _Application:
    """One apply run: its client, its progress, its state file, and what it says at the end."""

    def __init__(
        self,
        settings: Settings,
        spec: TrunkSpec,
        *,
        spec_path: str,
        state_path: Path,
        recorded: ApplyState | None,
        trunk_sid: str | None,
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.spec_path = spec_path
        self.state_path = state_path
        self.recorded = recorded
        self.trunk_sid = trunk_sid
        self.state = ApplyState(spec=Path(spec_path).name, trunk_name=spec.name)
        self.state.trunk_sid = trunk_sid
        self.activity = ClientActivity()
        self.progress = ApplyProgress(
            spec,
            view=self._view(),
            errors=settings.errors,
            activity=self.activity,
            on_phase_end=self._phase_ended,
        )

    def _view(self) -> View:
        """Live on a terminal; plain lines on stderr without one or with --json."""
        if not self.settings.as_json and self.settings.console.is_terminal:
            return "live"
        if not self.settings.as_json or self.settings.errors.is_terminal:
            return "plain"
        return "quiet"

    def run(self, concurrency: int) -> None:
        """Apply the spec; exit with the command's exit code."""
        settings = self.settings

        async def work(client: AsyncTrunkingClient) -> ProvisionReport | None:
            # Before anything is sent: a state file that cannot be written stops the run here.
            self._check_account(client.account_sid)
            self.state.account_sid = client.account_sid
            self._record("applying")
            report: ProvisionReport | None = None
            failure: ExotelError | StateFileError | None = None
            async with interruption.stopping():
                if self.trunk_sid is not None:
                    self.progress.phases["trunk"].note = f"{self.trunk_sid} (existing)"
                try:
                    report = await client.provision(
                        self.spec,
                        trunk_sid=self.trunk_sid,
                        concurrency=concurrency,
                        on_trunk_created=self._trunk_created,
                        on_progress=self.progress.observe,
                    )
                except (ExotelError, StateFileError) as error:
                    failure = error  # raised out here: the block would wrap it in a group
            if failure is not None:
                self._record_quietly("failed")
                raise failure
            return report

        options = {"on_rate_limit_wait": self._held, "on_retry": self.activity.on_retry}
        from_state = self.recorded is not None and self.recorded.trunk_sid == self.trunk_sid
        hint = _conflict_hint(
            self.spec,
            self.spec_path,
            self.trunk_sid,
            self.state_path if from_state and self.spec.trunk_sid is None else None,
        )
        with interruptible(settings.errors) as interruption:
            try:
                with self.progress.shown():
                    report = run(settings, work, hint, client_options=options)
            except StateFileError as error:
                settings.fail(error)
            if report is None:
                self._stop_interrupted()
            self.progress.finish(report)
            self._record_quietly("done" if report.ok else "failed")
            self._print(report)
        if not report.ok:
            sys.exit(EXIT_FAILED)

    def _check_account(self, account_sid: str) -> None:
        recorded = self.recorded
        if recorded is None or recorded.trunk_sid is None or recorded.account_sid is None:
            return
        if recorded.account_sid != account_sid:
            raise StateFileError(
                f"the state file {self.state_path} records trunk {recorded.trunk_sid} of "
                f"account {recorded.account_sid}, but this run is for account {account_sid}: "
                "set EXOTEL_ACCOUNT_SID (or --account-sid) to that account, or pass "
                "--state PATH to keep this account's state apart"
            )

    def _held(self, wait: RateLimitWait) -> None:
        self.activity.on_rate_limit_wait(wait)
        self.progress.held(wait)

    def _trunk_created(self, trunk: Trunk) -> None:
        """Say the new sid at once, then record it (before anything else is sent)."""
        sid = self.trunk_sid = self.state.trunk_sid = trunk.trunk_sid
        self.progress.phases["trunk"].note = f"{sid} (created)"
        line = (
            f"trunk_sid: {sid} (trunk {escape(self.spec.name)} created; recorded in "
            f"{escape(str(self.state_path))})"
        )
        if self.settings.as_json:
            self.settings.warn(line)
        else:
            self.settings.console.print(line, soft_wrap=True)
        self._record("applying")

    def _phase_ended(self, _: Phase) -> None:
        self._record_quietly("applying")

    def _record(self, status: str) -> None:
        self.state.status = status
        self.state.phase = self.progress.current()
        self.state.counts = self.progress.so_far()
        self.state.write(self.state_path)

    def _record_quietly(self, status: str) -> None:
        """Record, or warn that it could not be recorded (the run's own outcome matters more)."""
        try:
            self._record(status)
        except StateFileError as error:
            self.settings.warn(f"[yellow]warning:[/] {escape(str(error))}")

    def _stop_interrupted(self) -> NoReturn:
        """Ctrl-C: say what was done and where it is recorded; exit 130.

        A second Ctrl-C meanwhile ends the process at once (:mod:`._interrupt`).
        """
        self._record_quietly("interrupted")
        phases = {
            name: {"state": phase.state, "summary": phase.summary(), **phase.counts}
            for name, phase in self.progress.phases.items()
        }
        if self.settings.as_json:
            data = {
                "interrupted": True,
                "trunk_sid": self.trunk_sid,
                "trunk_created": self.progress.phases["trunk"].note.endswith("(created)"),
                "state_file": str(self.state_path),
                "phases": phases,
                "exit_code": EXIT_INTERRUPTED,
            }
            click.echo(json.dumps(data, indent=2))
            sys.exit(EXIT_INTERRUPTED)
        console = self.settings.console
        during = self.progress.current() or "the start"
        console.print(f"[bold yellow]Interrupted[/] during {during}; what was done:")
        for name, phase in self.progress.phases.items():
            console.print(f"  {name}: {escape(phase.summary())}", soft_wrap=True)
        console.print(
            "Requests in flight when it stopped may have been applied; applying again finds them."
        )
        if self.trunk_sid is None:
            console.print("No trunk was created.")
        else:
            console.print(
                f"trunk_sid {self.trunk_sid} and this progress are recorded in "
                f"{escape(str(self.state_path))}: apply {escape(self.spec_path)} again to "
                "carry on with this trunk.",
                soft_wrap=True,
            )
        sys.exit(EXIT_INTERRUPTED)

    def _print(self, report: ProvisionReport) -> None:
        account_sid = self.state.account_sid
        server = self.spec.domain_name or f"{account_sid}.pstn.exotel.com"
        spec_path = escape(self.spec_path)

        def human() -> None:
            print_report(self.settings.console, report, sip_server=server)
            if report.trunk_created:
                self.settings.console.print(
                    f"[bold]Next:[/] trunk_sid {report.trunk_sid} is recorded in "
                    f"{escape(str(self.state_path))}: applying {spec_path} again updates this "
                    f'trunk. To keep it in the spec instead, add  trunk_sid = "{report.trunk_sid}"'
                    f"  to {spec_path}.",
                    soft_wrap=True,
                )

        data = {**report_data(report), "state_file": str(self.state_path)}
        self.settings.emit(data, human)
