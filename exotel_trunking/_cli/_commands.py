"""The command tree: global options, one subcommand per operation, and the bigger verbs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._client import AsyncTrunkingClient
from .._exceptions import (
    APIStatusError,
    ConflictError,
    ExotelError,
    InvalidParameterError,
    NotFoundError,
    PartialFailureError,
)
from .._models import Credentials, DestinationUri, SipCredential, Trunk, TrunkMap
from .._provision import CANNOT_LIST, CredentialSpec
from .._validation import normalize_destination, normalize_phone_number
from ._app import (
    EXIT_FAILED,
    GlobalOptionsGroup,
    HelpGroup,
    Settings,
    parse_rate_limit,
    record,
    run,
)
from ._apply import apply
from ._demo import demo
from ._doctor import doctor, explain_command
from ._emulator import emulator
from ._importer import import_command
from ._passwords import PasswordOutput, password_options
from ._trace import printed_trace

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=GlobalOptionsGroup, context_settings=_CONTEXT)
@click.option("--api-key", envvar="EXOTEL_API_KEY", help="API key [env: EXOTEL_API_KEY].")
@click.option(
    "--api-token",
    envvar="EXOTEL_API_TOKEN",
    help="API token [env: EXOTEL_API_TOKEN]; prefer the variable (flags show in `ps`).",
)
@click.option(
    "--account-sid", envvar="EXOTEL_ACCOUNT_SID", help="Account SID [env: EXOTEL_ACCOUNT_SID]."
)
@click.option(
    "--region",
    envvar="EXOTEL_REGION",
    type=click.Choice(["in", "sg"]),
    help="in (Mumbai, default) or sg (Singapore) [env: EXOTEL_REGION].",
)
@click.option(
    "--base-url",
    envvar="EXOTEL_BASE_URL",
    help="Override the region's URL, e.g. http://127.0.0.1:4010 [env: EXOTEL_BASE_URL].",
)
@click.option(
    "--rate-limit",
    metavar="CALLS/SECONDS",
    envvar="EXOTEL_RATE_LIMIT",
    callback=parse_rate_limit,
    help="Client-side pacing, e.g. 200/60, or 'off' [default: 200/60, Exotel's account "
    "limit; off for a loopback --base-url] [env: EXOTEL_RATE_LIMIT].",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON on stdout (progress and hints stay on stderr).",
)
@click.option(
    "--trace",
    is_flag=True,
    help="Print the run's OpenTelemetry spans as a tree on stderr at the end (needs "
    "opentelemetry-sdk).",
)
@click.version_option(package_name="exotel-trunking", prog_name="exotel-trunking")
@click.pass_context
def cli(ctx: click.Context, /, **options: Any) -> None:
    """Provision Exotel SIP trunks: trunks, numbers, IPs, destinations, alias.

    \b
    Configure:   EXOTEL_API_KEY, EXOTEL_API_TOKEN, EXOTEL_ACCOUNT_SID (and
                 EXOTEL_REGION or EXOTEL_BASE_URL), or the options below.
    Try it:      exotel-trunking demo       (offline, nothing to configure)
                 exotel-trunking emulator   (a local API to point the others at)
    Check:       exotel-trunking doctor TRUNK_SID   (why calls will fail)
    Options:     the options below may also follow the subcommand.
    Exit codes:  0 all good, 1 some items failed (doctor: a problem found),
                 2 usage, configuration or input file, 3 authentication or
                 permission refused, 4 no such trunk or its name taken,
                 130 interrupted (Ctrl-C, or a confirmation answered no).
    """
    ctx.obj = Settings(**options)
    if ctx.obj.trace:
        ctx.with_resource(printed_trace(Console(stderr=True, highlight=False)))


pass_settings = click.make_pass_decorator(Settings)


def _table(title: str, rows: Sequence[Any], columns: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        # Folded, never cut: a user copies sids and destinations from these tables.
        table.add_column(_HEADINGS.get(column, column), overflow="fold")
    for row in rows:
        table.add_row(*(_cell(getattr(row, column, None)) for column in columns))
    return table


def _fields(title: str, value: Any, columns: Sequence[str]) -> Table:
    """One record as a grid of field and value, so that no value is cut."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for column in columns:
        table.add_row(_HEADINGS.get(column, column), _cell(getattr(value, column, None)))
    return table


#: Column headings that differ from the field names.
_HEADINGS = {"date_created": "created"}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return str(value)


def _show(settings: Settings, title: str, value: Any, columns: Sequence[str]) -> None:
    if isinstance(value, list):
        render = _table(title, value, columns)
    else:
        render = _fields(title, value, columns)
    settings.emit(record(value), lambda: settings.console.print(render))


# -- trunks -------------------------------------------------------------------------------


@cli.group()
def trunks() -> None:
    """Create, list, find and delete trunks."""


#: The columns of a trunk in a table.
_TRUNK_COLUMNS = ("trunk_sid", "trunk_name", "domain_name", "nso_code")
#: The columns of a SIP digest credential (never a password: the service returns none).
_CREDENTIAL_COLUMNS = ("id", "user_name", "friendly_name", "date_created")


@trunks.command("list")
@pass_settings
def trunks_list(settings: Settings) -> None:
    """List the account's trunks (the live service; the reference API lists none)."""
    found = run(settings, lambda c: c.trunks.list(), _cannot_list_hint)
    _show(settings, f"Trunks: {len(found)}", found, (*_TRUNK_COLUMNS, "date_created"))


@trunks.command("find")
@click.argument("name")
@pass_settings
def trunks_find(settings: Settings, name: str) -> None:
    """Find the trunk called NAME and print its sid (exit 4 if no trunk has that name).

    The way back to a trunk whose sid was lost (an interrupted run, a crashed job).
    """
    found: Trunk | None = run(settings, lambda c: c.trunks.find(name), _cannot_list_hint)
    if found is None:
        settings.fail(
            NotFoundError(f"no trunk of this account is called {name!r}", status_code=404),
            "'exotel-trunking trunks list' shows the account's trunks",
        )
    _show(settings, "Trunk found", found, _TRUNK_COLUMNS)


def _cannot_list_hint(error: ExotelError) -> str | None:
    if isinstance(error, APIStatusError) and error.status_code in CANNOT_LIST:
        return (
            "this service cannot list trunks (the reference API has no such call): a trunk is "
            "found by its sid only"
        )
    return None


@trunks.command("create")
@click.argument("name")
@click.option("--nso-code", default="ANY-ANY", show_default=True, help="Network operator code.")
@click.option("--domain-name", help="SIP domain [default: <account_sid>.pstn.exotel.com].")
@pass_settings
def trunks_create(settings: Settings, name: str, nso_code: str, domain_name: str | None) -> None:
    """Create a trunk called NAME (1-16 of A-Z a-z 0-9 _) and print its sid."""
    trunk = run(
        settings,
        lambda c: c.trunks.create(name, nso_code=nso_code, domain_name=domain_name),
    )
    _show(settings, "Trunk created", trunk, ("trunk_sid", "trunk_name", "domain_name", "nso_code"))


@trunks.command("delete")
@click.argument("trunk_sid")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_settings
def trunks_delete(settings: Settings, trunk_sid: str, yes: bool) -> None:
    """Delete trunk TRUNK_SID with its numbers, IPs and destinations (cannot be undone)."""
    if not yes:
        click.confirm(f"Delete trunk {trunk_sid} and everything on it?", abort=True, err=True)
    run(settings, lambda c: c.trunks.delete(trunk_sid))
    settings.emit(
        {"deleted": trunk_sid}, lambda: settings.console.print(f"Deleted trunk {trunk_sid}.")
    )


# -- numbers ------------------------------------------------------------------------------


@cli.group()
def numbers() -> None:
    """Map phone numbers (DIDs) to a trunk: one, or a whole file."""


@numbers.command("map")
@click.argument("trunk_sid")
@click.argument("phone_number")
@click.option("--mode", type=click.Choice(["pstn", "flow"]), help="pstn (default) or flow.")
@pass_settings
def numbers_map(settings: Settings, trunk_sid: str, phone_number: str, mode: str | None) -> None:
    """Map PHONE_NUMBER (E.164, such as +919876543210) to TRUNK_SID."""
    number = run(settings, lambda c: c.phone_numbers.map(trunk_sid, phone_number, mode=mode))
    _show(settings, "Number mapped", number, ("id", "phone_number", "trunk_sid", "mode"))


@numbers.command("list")
@click.argument("trunk_sid")
@pass_settings
def numbers_list(settings: Settings, trunk_sid: str) -> None:
    """List every number mapped to TRUNK_SID."""
    found = run(settings, lambda c: c.phone_numbers.list(trunk_sid))
    columns = ("id", "phone_number", "mode", "date_created")
    _show(settings, f"Numbers on {trunk_sid}: {len(found)}", found, columns)


@numbers.command("remove")
@click.argument("trunk_sid")
@click.argument("phone_number")
@pass_settings
def numbers_remove(settings: Settings, trunk_sid: str, phone_number: str) -> None:
    """Unmap PHONE_NUMBER from TRUNK_SID (exit 1 if the trunk does not hold it)."""
    removed = run(settings, lambda c: c.phone_numbers.remove(trunk_sid, phone_number))
    _show(settings, "Number removed", removed, ("id", "phone_number", "trunk_sid", "mode"))


@numbers.command("where")
@click.argument("phone_number")
@pass_settings
def numbers_where(settings: Settings, phone_number: str) -> None:
    """Say which trunk holds PHONE_NUMBER, if any (the live service's trunk-map lookup)."""

    async def look(client: AsyncTrunkingClient) -> tuple[str, TrunkMap | None]:
        number = normalize_phone_number(phone_number, possible=False)
        return number, await client.trunk_maps.lookup(number)

    number, found = run(settings, look)
    data = record(found) if found is not None else {"phone_number": number, "trunk_sid": None}

    def human() -> None:
        if found is None:
            settings.console.print(f"{number} is on no trunk of this account.")
        else:
            settings.console.print(f"{number} is on trunk {found.trunk_sid}.")

    settings.emit(data, human)


numbers.add_command(import_command("numbers"))


# -- whitelisted IPs ------------------------------------------------------------------------


@cli.group()
def ips() -> None:
    """Whitelist the IPv4 addresses your SIP servers call from."""


@ips.command("add")
@click.argument("trunk_sid")
@click.argument("ip")
@click.option("--mask", type=int, help="Prefix length 16-32 [default: 32, or the CIDR's].")
@pass_settings
def ips_add(settings: Settings, trunk_sid: str, ip: str, mask: int | None) -> None:
    """Whitelist IP ("203.0.113.5" or "203.0.113.0/28") on TRUNK_SID."""
    entry = run(settings, lambda c: c.whitelisted_ips.add(trunk_sid, ip, mask=mask))
    _show(settings, "IP whitelisted", entry, ("id", "ip", "mask", "trunk_sid"))


@ips.command("list")
@click.argument("trunk_sid")
@pass_settings
def ips_list(settings: Settings, trunk_sid: str) -> None:
    """List the whitelisted IPs of TRUNK_SID."""
    found = run(settings, lambda c: c.whitelisted_ips.list(trunk_sid))
    columns = ("id", "ip", "mask", "date_created")
    _show(settings, f"Whitelisted IPs on {trunk_sid}: {len(found)}", found, columns)


@ips.command("remove")
@click.argument("trunk_sid")
@click.argument("ip")
@pass_settings
def ips_remove(settings: Settings, trunk_sid: str, ip: str) -> None:
    """Remove IP ("203.0.113.5", its /32, or "203.0.113.0/28") from TRUNK_SID's whitelist."""
    removed = run(settings, lambda c: c.whitelisted_ips.remove(trunk_sid, ip))
    _show(settings, "IP removed", removed, ("id", "ip", "mask", "trunk_sid"))


ips.add_command(import_command("ips"))


# -- destinations -----------------------------------------------------------------------------


@cli.group(short_help="Say where Exotel sends inbound calls (your PBX).")
def destinations() -> None:
    """Say where Exotel sends inbound calls (your PBX's SIP address)."""


@destinations.command("add")
@click.argument("trunk_sid")
@click.argument("destination", nargs=-1, required=True)
@pass_settings
def destinations_add(settings: Settings, trunk_sid: str, destination: tuple[str, ...]) -> None:
    """Add DESTINATION ("host:port;transport=tls") to TRUNK_SID; several may be given.

    An IP host must be whitelisted first (exotel-trunking ips add). A destination that is
    already there is reported as 'exists'; the command fails only for the others.
    """

    async def add(client: AsyncTrunkingClient) -> list[dict[str, Any]]:
        wanted = [normalize_destination(item, "DESTINATION") for item in destination]
        try:
            added = await client.destination_uris.add(trunk_sid, wanted)
        except PartialFailureError as error:
            return _destination_rows(wanted, error.succeeded, error.failed)
        except ConflictError as error:
            if len(wanted) > 1:
                raise
            return _destination_rows(wanted, [], [(wanted[0], error)])
        return _destination_rows(wanted, added, [])

    rows = run(settings, add)

    def human() -> None:
        table = Table(title=f"Destinations of {trunk_sid}", title_justify="left")
        for column in ("destination", "status", "id or error"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(row["destination"], row["status"], row["id"] or row["error"] or "")
        settings.console.print(table)

    settings.emit(rows, human)
    if any(row["status"] == "failed" for row in rows):
        sys.exit(EXIT_FAILED)


def _destination_rows(
    wanted: Sequence[str],
    created: Sequence[DestinationUri],
    failed: Sequence[tuple[str, APIStatusError]],
) -> list[dict[str, Any]]:
    """One row per destination given, in order: created, exists or failed."""
    by_destination = {_bare(uri.destination): uri for uri in created}
    errors = dict(failed)
    rows = []
    for item in wanted:
        uri, error = by_destination.get(item), errors.get(item)
        if error is None:
            status = "created"
        elif error.status_code == 409:
            status = "exists"
        else:
            status = "failed"
        rows.append(
            {
                "destination": item,
                "status": status,
                "id": None if uri is None else uri.id,
                "error": None
                if status != "failed" or error is None
                else error.description or error.message,
            }
        )
    return rows


def _bare(destination: str) -> str:
    text = destination.strip().lower()
    return text[4:] if text.startswith("sip:") else text


@destinations.command("list")
@click.argument("trunk_sid")
@pass_settings
def destinations_list(settings: Settings, trunk_sid: str) -> None:
    """List the destinations of TRUNK_SID."""
    found = run(settings, lambda c: c.destination_uris.list(trunk_sid))
    columns = ("id", "destination", "date_created")
    _show(settings, f"Destinations of {trunk_sid}: {len(found)}", found, columns)


@destinations.command("remove")
@click.argument("trunk_sid")
@click.argument("destination")
@pass_settings
def destinations_remove(settings: Settings, trunk_sid: str, destination: str) -> None:
    """Remove DESTINATION ("host:port;transport=tls") from TRUNK_SID."""
    removed = run(settings, lambda c: c.destination_uris.remove(trunk_sid, destination))
    _show(settings, "Destination removed", removed, ("id", "destination", "trunk_sid"))


# -- credentials and alias -----------------------------------------------------------------------


class _CredentialsGroup(HelpGroup):
    """``credentials``' subcommands; ``credentials TRUNK_SID`` still works, as ``show``."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """A first word that is no subcommand is the trunk sid of the old ``credentials SID``.

        Only when no other word follows (options aside): ``credentials lst SID`` is a mistyped
        subcommand, which click names, with the one meant.
        """
        legacy = (
            args
            and args[0] not in self.commands
            and not args[0].startswith("-")
            and all(arg.startswith("-") for arg in args[1:])
        )
        if legacy:
            click.echo(
                f"note: 'credentials {args[0]}' is now 'credentials show {args[0]}'", err=True
            )
            return "show", self.commands["show"], args
        return super().resolve_command(ctx, args)


@cli.group(cls=_CredentialsGroup, short_help="SIP credentials a PBX or voice AI signs in with.")
def credentials() -> None:
    """The SIP credentials a PBX or a voice-AI platform signs in with.

    \b
    A new password is shown once, only where asked: --show-password prints it,
    --password-file PATH writes it to a file only you can read. The live service
    never returns a password again ('credentials rotate' sets a new one).
    'credentials TRUNK_SID' (before 'show' existed) still works, as 'show'.
    """


@credentials.command("show")
@click.argument("trunk_sid")
@click.option("--show-password", is_flag=True, help="Print the reference pair's password.")
@pass_settings
def credentials_show(settings: Settings, trunk_sid: str, show_password: bool) -> None:
    """Show TRUNK_SID's SIP credentials for your PBX, in the form the service keeps.

    The reference API's username and password (masked unless --show-password), or the live
    service's digest credentials, whose passwords it never returns.
    """

    async def fetch(client: AsyncTrunkingClient) -> Credentials | list[SipCredential] | None:
        return await client.credentials._current(trunk_sid)

    found = run(settings, fetch)
    if isinstance(found, list):
        title = f"SIP credentials of {trunk_sid}: {len(found)}"
        _show(settings, title, found, _CREDENTIAL_COLUMNS)
        if show_password:
            settings.warn(
                "[dim]the service never returns a digest credential's password; to set a new "
                f"one: exotel-trunking credentials rotate {trunk_sid} CREDENTIAL_ID "
                "--show-password[/]"
            )
        return
    data = record(found, show_password=show_password)

    def human() -> None:
        if data is None:
            settings.console.print(f"Trunk {trunk_sid} has no SIP credentials yet.")
            return
        settings.console.print(f"username: {data['username']}\npassword: {data['password']}")
        if not show_password:
            settings.warn("[dim]the password is masked: add --show-password to print it[/]")

    settings.emit(data, human)


@credentials.command("list")
@click.argument("trunk_sid")
@pass_settings
def credentials_list(settings: Settings, trunk_sid: str) -> None:
    """List TRUNK_SID's SIP digest credentials (never a password: the service keeps them)."""
    found = run(settings, lambda c: c.credentials.list(trunk_sid))
    _show(settings, f"SIP credentials of {trunk_sid}: {len(found)}", found, _CREDENTIAL_COLUMNS)


@credentials.command("create")
@click.argument("trunk_sid")
@click.argument("user_name")
@click.option("--friendly-name", help="A label of 1-32 characters.")
@click.option(
    "--password-env",
    metavar="VAR",
    help="Take the password from environment variable VAR instead of generating one.",
)
@password_options
@pass_settings
def credentials_create(
    settings: Settings,
    *,
    trunk_sid: str,
    user_name: str,
    friendly_name: str | None,
    password_env: str | None,
    show_password: bool,
    password_file: Path | None,
) -> None:
    """Create the SIP digest credential USER_NAME on TRUNK_SID.

    A strong password is generated (unless --password-env names a variable holding yours)
    and handed over once: --show-password prints it, --password-file PATH writes it.
    """
    output = PasswordOutput(show_password, password_file)
    try:
        wanted = CredentialSpec(user_name, friendly_name, password_env)
        password = wanted.password()
        output.check(generates=f"credential {user_name!r}" if wanted.generated else None)
    except InvalidParameterError as error:
        settings.fail(error)
    except click.UsageError as error:
        settings.fail(error)

    async def create(client: AsyncTrunkingClient) -> SipCredential:
        return await client.credentials.create(
            trunk_sid, wanted.user_name, password, friendly_name=wanted.friendly_name
        )

    created = run(settings, create)
    if not wanted.generated:  # the caller has the password it gave: it is not echoed
        created = attrs.evolve(created, password=None)
    _hand_over(settings, "Credential created", created, output)


@credentials.command("rotate")
@click.argument("trunk_sid")
@click.argument("credential_id")
@password_options
@pass_settings
def credentials_rotate(
    settings: Settings,
    *,
    trunk_sid: str,
    credential_id: str,
    show_password: bool,
    password_file: Path | None,
) -> None:
    """Give credential CREDENTIAL_ID of TRUNK_SID a new generated password, handed over once.

    --show-password prints it, --password-file PATH writes it; the old one stops working.
    """
    output = PasswordOutput(show_password, password_file)
    try:
        output.check(generates=f"credential {credential_id}")
    except click.UsageError as error:
        settings.fail(error)
    rotated = run(settings, lambda c: c.credentials.rotate(trunk_sid, credential_id))
    _hand_over(settings, "Password rotated", rotated, output)


@credentials.command("delete")
@click.argument("trunk_sid")
@click.argument("credential_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_settings
def credentials_delete(settings: Settings, trunk_sid: str, credential_id: str, yes: bool) -> None:
    """Delete credential CREDENTIAL_ID of TRUNK_SID: whatever signs in with it is refused."""
    if not yes:
        click.confirm(
            f"Delete credential {credential_id} of trunk {trunk_sid}?", abort=True, err=True
        )
    deleted = run(settings, lambda c: c.credentials.delete(trunk_sid, credential_id))
    _show(settings, "Credential deleted", deleted, _CREDENTIAL_COLUMNS)


def _hand_over(
    settings: Settings, title: str, credential: SipCredential, output: PasswordOutput
) -> None:
    """Show a credential; hand its new password over as asked (printed once, or to a file)."""
    written = None
    if credential.password is not None and output.file is not None:
        try:
            output.write([credential])
        except OSError as error:
            settings.warn(
                f"[bold red]error:[/] the credential {escape(credential.user_name)} (id "
                f"{credential.id}) has a new password, but it could not be written to "
                f"{escape(str(output.file))}: {escape(str(error))}. It cannot be read back: "
                "give it another with 'exotel-trunking credentials rotate'."
            )
            sys.exit(EXIT_FAILED)
        written = str(output.file)
    data = record(credential, show_password=output.show)
    if written is not None:
        data["password_file"] = written

    def human() -> None:
        settings.console.print(_fields(title, credential, _CREDENTIAL_COLUMNS[:3]))
        if credential.password is None:
            return
        if output.show:
            settings.console.print(
                f"password: {credential.password}  (shown once: the service never returns it)",
                markup=False,
            )
        if written is not None:
            settings.console.print(
                f"password written to {escape(written)} (readable by you only)", soft_wrap=True
            )

    settings.emit(data, human)


@cli.group()
def alias() -> None:
    """Set the caller-ID alias of a trunk."""


@alias.command("set")
@click.argument("trunk_sid")
@click.argument("phone_number")
@pass_settings
def alias_set(settings: Settings, trunk_sid: str, phone_number: str) -> None:
    """Show PHONE_NUMBER as caller ID for outbound calls on TRUNK_SID."""
    setting = run(settings, lambda c: c.settings.set_alias(trunk_sid, phone_number))
    _show(settings, "Alias set", setting, ("name", "value", "trunk_sid"))


cli.add_command(apply)
cli.add_command(emulator)
cli.add_command(demo)
cli.add_command(doctor)
cli.add_command(explain_command)
