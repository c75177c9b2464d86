"""``apply``: bring a trunk to a TOML spec, or show the plan with ``--dry-run``."""

from __future__ import annotations

import sys
import tomllib  # type: ignore[import-not-found, unused-ignore]
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._client import AsyncTrunkingClient
from .._exceptions import ConflictError, ExotelError, InvalidParameterError
from .._provision import Changes, ProvisionReport, TrunkSpec
from ._app import EXIT_FAILED, Settings, record, run

#: The parts of a report, in the order they are applied.
_PARTS = ("numbers", "ips", "destinations")
#: How many items of one part a report lists by name.
_LISTED = 20


def load_spec(path: str) -> TrunkSpec:
    """Read a :class:`TrunkSpec` from a TOML file.

    Raises:
        click.BadParameter: the file is not valid TOML or not a valid spec.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return TrunkSpec.from_dict(data)
    except (tomllib.TOMLDecodeError, InvalidParameterError, TypeError) as error:
        raise click.BadParameter(f"{path}: {error}", param_hint="SPEC") from None


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
        "failed": [{"item": item, "error": str(error)} for item, error in changes.failed],
    }


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
    table = Table()
    table.add_column("")
    for column in ("would create" if report.dry_run else "created", "already there", "failed"):
        table.add_column(column, justify="right")
    if report.trunk_created:
        table.add_row("trunk", "1", "0", "0")
    for part in _PARTS:
        changes: Changes = getattr(report, part)
        table.add_row(
            part, str(len(changes.created)), str(len(changes.existing)), str(len(changes.failed))
        )
    console.print(table)


def _print_failures(console: Console, report: ProvisionReport) -> None:
    for part in _PARTS:
        failed = getattr(report, part).failed
        for item, error in failed[:_LISTED]:
            console.print(f"[red]failed[/] {part[:-1]} {escape(item)}: {escape(str(error))}")
        if len(failed) > _LISTED:
            console.print(f"[red]... and {len(failed) - _LISTED} more {part} failed[/] (--json)")


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
@click.option("--trunk-sid", help="The existing trunk to update [default: the spec's trunk_sid].")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--concurrency", default=20, show_default=True, help="Requests in flight.")
@click.pass_obj
def apply(
    settings: Settings, *, spec: str, trunk_sid: str | None, dry_run: bool, concurrency: int
) -> None:
    """Bring a trunk to the state described in SPEC (a TOML file).

    \b
    name = "acme_main"            # the trunk's name: 1-16 of A-Z a-z 0-9 _
    trunk_sid = "tr..."           # once created; without it, the trunk is created
    numbers = ["+919876543210",
               { phone_number = "+919876543211", mode = "flow" }]
    ips = ["203.0.113.0/28"]      # whitelisted before the destinations
    destinations = ["sip.acme.example:5061;transport=tls"]
    alias = "+919876543210"       # caller ID for outbound calls

    Only what is missing is added; nothing is removed. Applying the same spec again
    changes nothing, and --dry-run shows the plan without changing anything.
    """
    wanted = load_spec(spec)
    sid = trunk_sid or wanted.trunk_sid

    async def work(client: AsyncTrunkingClient) -> tuple[ProvisionReport, str]:
        report = await client.provision(
            wanted, trunk_sid=trunk_sid, dry_run=dry_run, concurrency=concurrency
        )
        server = wanted.domain_name or f"{client.account_sid}.pstn.exotel.com"
        return report, server

    def hint(error: ExotelError) -> str | None:
        if isinstance(error, ConflictError) and sid is None:
            return (
                f"a trunk named {wanted.name!r} exists already: add its trunk_sid to {spec} "
                "(or pass --trunk-sid) to bring that trunk to the spec"
            )
        return None

    report, server = run(settings, work, hint)

    def human() -> None:
        print_report(settings.console, report, sip_server=server)
        if report.trunk_created and not report.dry_run:
            settings.console.print(
                f'[bold]Next:[/] add  trunk_sid = "{report.trunk_sid}"  to {escape(spec)} so '
                "that applying it again updates this trunk instead of creating another."
            )

    settings.emit(report_data(report), human)
    if not report.ok:
        sys.exit(EXIT_FAILED)
