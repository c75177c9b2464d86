"""``apply``: bring a trunk to a TOML spec, or show the plan with ``--dry-run``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .._client import AsyncTrunkingClient
from .._exceptions import InvalidParameterError
from .._provision import Changes, ProvisionReport, TrunkSpec
from ._app import EXIT_FAILED, Settings, record, run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

#: The parts of a report, in the order they are applied.
_PARTS = ("numbers", "ips", "destinations")


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
    }


def _changes_data(changes: Changes) -> dict[str, Any]:
    return {
        "created": changes.created,
        "existing": changes.existing,
        "failed": [{"item": item, "error": str(error)} for item, error in changes.failed],
    }


def print_report(console: Console, report: ProvisionReport, *, sip_server: str) -> None:
    """Print a provisioning report (or plan) as tables, with the PBX settings."""
    verb = "would create" if report.dry_run else "created"
    title = "Plan" if report.dry_run else "Provisioning report"
    trunk = report.trunk_sid or "(new)"
    table = Table(title=f"{title} for trunk {report.spec.name} ({trunk})", title_justify="left")
    for column in ("", verb, "already there", "failed"):
        table.add_column(column, justify="right" if column else "left")
    if report.trunk_created:
        table.add_row("trunk", "1", "0", "0")
    for part in _PARTS:
        changes: Changes = getattr(report, part)
        table.add_row(
            part, str(len(changes.created)), str(len(changes.existing)), str(len(changes.failed))
        )
    console.print(table)
    for part in _PARTS:
        for item, error in getattr(report, part).failed[:20]:
            console.print(f"[red]failed[/] {part[:-1]} {item}: {error}")
    if report.alias is not None:
        state = (
            "will be sent"
            if report.dry_run
            else ("failed: " + str(report.alias_error) if report.alias_error else "set")
        )
        console.print(f"caller-ID alias {report.alias}: {state}")
    if report.dry_run:
        console.print(
            "nothing to change" if not report.changed else "run without --dry-run to apply"
        )
        return
    if report.credentials is not None:
        pbx = Table(title="PBX settings", title_justify="left", show_header=False)
        pbx.add_row("SIP server", sip_server)
        pbx.add_row("Port", "5060 (TCP) or 5061 (TLS)")
        pbx.add_row("Username", report.credentials.username)
        pbx.add_row("Password", "******** (exotel-trunking credentials --show-password)")
        console.print(pbx)


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
    name = "acme_main"                 # the trunk's name
    trunk_sid = "..."                  # once created; without it the trunk is created
    numbers = ["+919876543210", { phone_number = "+919876543211", mode = "flow" }]
    ips = ["203.0.113.0/28"]
    destinations = ["sip.acme.example:5061;transport=tls"]
    alias = "+919876543210"

    Only what is missing is added (IPs before destinations); nothing is removed.
    Applying the same spec again changes nothing.
    """
    wanted = load_spec(spec)

    async def work(client: AsyncTrunkingClient) -> tuple[ProvisionReport, str]:
        report = await client.provision(
            wanted, trunk_sid=trunk_sid, dry_run=dry_run, concurrency=concurrency
        )
        server = wanted.domain_name or f"{client.account_sid}.pstn.exotel.com"
        return report, server

    report, server = run(settings, work)
    settings.emit(
        report_data(report), lambda: print_report(settings.console, report, sip_server=server)
    )
    if not report.ok:
        sys.exit(EXIT_FAILED)
