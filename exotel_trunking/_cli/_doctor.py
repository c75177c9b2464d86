"""``doctor``: why calls on a trunk will fail; ``explain``: what a SIP or Exotel code means."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import attrs
import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._diagnosis import Diagnosis
from .._explain import Explanation, explain, explanations
from ._app import EXIT_FAILED, Settings, record, run

#: How each severity is shown.
_STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}
#: An explanation's title, by the kind of code.
_TITLES = {
    "sip": "SIP {e.code} {e.title}",
    "exotel": "Exotel error {e.code}: {e.title}",
    "topic": "{e.title} ({e.code})",
}


def diagnosis_data(diagnosis: Diagnosis) -> dict[str, Any]:
    """A diagnosis as JSON-ready data: the trunk, ``ok``, ``probed`` and the findings."""
    return {
        "trunk_sid": diagnosis.trunk_sid,
        "ok": diagnosis.ok,
        "probed": diagnosis.probed,
        "findings": [attrs.asdict(finding) for finding in diagnosis.findings],
    }


def summary(diagnosis: Diagnosis) -> str:
    """``"2 errors, 1 warning"``, or ``"no problems found"`` (with the infos, if any)."""
    counts = Counter(finding.severity for finding in diagnosis.findings)
    parts = [
        f"{counts[severity]} {severity}{'s' if counts[severity] > 1 and severity != 'info' else ''}"
        for severity in ("error", "warning", "info")
        if counts[severity]
    ]
    if counts["error"] or counts["warning"]:
        return ", ".join(parts)
    return "no problems found" + (f" ({parts[0]})" if parts else "")


def print_diagnosis(console: Console, diagnosis: Diagnosis) -> None:
    """Print the findings as a table, errors first, then a one-line summary.

    Two columns, so that the message and the fix (which names sids and commands a user
    copies) keep most of an 80-column terminal: the code on the first line, then the
    message, then the fix.
    """
    if diagnosis.findings:
        table = Table(
            title=f"Doctor: trunk {diagnosis.trunk_sid}", title_justify="left", show_lines=True
        )
        table.add_column("severity", no_wrap=True)
        table.add_column("code, message and fix", overflow="fold")
        for finding in diagnosis.findings:
            style = _STYLES[finding.severity]
            table.add_row(
                f"[{style}]{finding.severity}[/]",
                f"[bold]{finding.code}[/]\n{escape(finding.message)}\n"
                f"[dim]fix:[/] {escape(finding.fix)}",
            )
        console.print(table)
    style = "red" if not diagnosis.ok else "yellow" if diagnosis.warnings else "green"
    console.print(f"Trunk {diagnosis.trunk_sid}: [bold {style}]{summary(diagnosis)}[/].")


@click.command("doctor", short_help="Check a trunk for what will make its calls fail.")
@click.argument("trunk_sid")
@click.option(
    "--probe",
    is_flag=True,
    help="Also try the destinations from this machine: DNS, a TCP connect, and a TLS "
    "handshake checking the certificate (a few seconds at most each).",
)
@click.pass_obj
def doctor(settings: Settings, trunk_sid: str, probe: bool) -> None:
    """Check TRUNK_SID for what will make its calls fail, and say how to fix each.

    Reads the trunk's numbers, whitelisted IPs, destinations and SIP credentials and checks
    them against Exotel's troubleshooting rules: no number mapped, no destination (no
    inbound calls), no whitelisted IP (no outbound calls), a destination IP no whitelisted
    range covers, TLS on port 5060, no SIP credentials, ...

    Exit code 0 when no finding is an error (warnings and infos allowed), 1 when one is, 4
    when there is no such trunk. 'exotel-trunking explain CODE' says what a SIP or Exotel
    error code means.
    """
    diagnosis = run(settings, lambda client: client.diagnose(trunk_sid, probe=probe))
    settings.emit(diagnosis_data(diagnosis), lambda: print_diagnosis(settings.console, diagnosis))
    if not probe and not settings.as_json:
        settings.warn(
            "[dim]hint: add --probe to also try the destinations from this machine "
            "(DNS, TCP, TLS)[/]"
        )
    if not diagnosis.ok:
        sys.exit(EXIT_FAILED)


def _topics() -> list[str]:
    return [code for kind, code in explanations() if kind == "topic"]


def print_explanation(console: Console, explanation: Explanation) -> None:
    """Print an explanation as a grid of field and text, so that nothing is cut."""
    table = Table(
        title=_TITLES[explanation.kind].format(e=explanation),
        title_justify="left",
        show_header=False,
    )
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("text", overflow="fold")
    table.add_row("meaning", escape(explanation.meaning))
    if explanation.live is not None:
        table.add_row("", escape(explanation.live))  # "Live service: ...", under the meaning
    table.add_row("cause", escape(explanation.cause))
    table.add_row("fix", escape(explanation.fix))
    console.print(table)


@click.command("explain", short_help="Say what a SIP or Exotel error code means, and the fix.")
@click.argument("code")
@click.pass_obj
def explain_command(settings: Settings, code: str) -> None:
    """Say what CODE means, its likely cause and the fix.

    \b
    CODE is a SIP response code (488), an Exotel error code (1002), or a topic:
    one_way_audio, tls_handshake_failed, registration_timeout, fqdn_outbound.
    """
    found = explain(code)
    if found is None:
        raise click.BadParameter(
            f"no explanation for {code}: try a SIP response code such as 488, an Exotel error "
            f"code such as 1002, or one of the topics: {', '.join(_topics())}",
            param_hint="CODE",
        )
    settings.emit(record(found), lambda: print_explanation(settings.console, found))
