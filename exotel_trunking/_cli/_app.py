"""What every subcommand shares: global options, the client, output, and exit codes."""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from itertools import islice
from typing import Any, NoReturn, TypeVar

import anyio
import attrs
import click
import httpx2
from rich.console import Console
from rich.markup import escape

from .._client import AsyncTrunkingClient
from .._config import _is_loopback
from .._exceptions import (
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    ExotelError,
    InvalidParameterError,
    NotFoundError,
    NotOnTrunkError,
    PermissionDeniedError,
)
from .._models import Credentials, SipCredential
from .._transport import RateLimit

T = TypeVar("T")

#: Exit codes, as documented in ``exotel-trunking --help`` and the README. ``EXIT_NOT_FOUND``:
#: the trunk itself is not found, or in conflict (its name is taken). ``EXIT_INTERRUPTED``:
#: Ctrl-C, or a confirmation answered no.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130

#: What ``--rate-limit`` accepts to turn client-side pacing off.
_OFF = ("off", "none", "0")


@attrs.define
class Settings:
    """The global options, handed to every subcommand through click's context.

    ``rate_limit`` is ``None`` when not given (Exotel's 200 calls a minute, or no pacing for
    a loopback ``base_url``), ``False`` for ``--rate-limit off``, else the limit.
    """

    api_key: str | None = None
    api_token: str | None = None
    account_sid: str | None = None
    region: str | None = None
    base_url: str | None = None
    rate_limit: RateLimit | bool | None = None
    as_json: bool = False
    trace: bool = False
    console: Console = attrs.Factory(lambda: Console(highlight=False))
    errors: Console = attrs.Factory(lambda: Console(stderr=True, highlight=False))

    def client(self, **overrides: Any) -> AsyncTrunkingClient:
        """Build a client from the options (the SDK falls back to ``EXOTEL_*`` variables)."""
        options: dict[str, Any] = {
            "api_key": self.api_key,
            "api_token": self.api_token,
            "account_sid": self.account_sid,
            "region": self.region,
            "base_url": self.base_url,
        }
        pacing = self.pacing()
        if pacing is not True:
            options["rate_limit"] = pacing
        options.update(overrides)
        return AsyncTrunkingClient(**options)

    def pacing(self) -> RateLimit | bool | None:
        """The client's ``rate_limit``: ``True`` for the SDK's default, ``None`` for none."""
        if isinstance(self.rate_limit, RateLimit):
            return self.rate_limit
        if self.rate_limit is False:
            return None
        # The emulator (a loopback URL) has no account limit unless it is told to enforce
        # one, and pacing a local import at 200 calls a minute only makes a user wait.
        return None if _loopback(self.base_url) else True

    @property
    def show_progress(self) -> bool:
        """Whether bulk work draws a progress bar (on stderr; with ``--json`` only on a tty)."""
        return not self.as_json or self.errors.is_terminal

    def emit(self, data: Any, human: Callable[[], None]) -> None:
        """Print ``data`` as JSON with ``--json``, else call ``human`` to print it nicely."""
        if self.as_json:
            click.echo(json.dumps(data, indent=2, default=_json_default))
        else:
            human()

    def warn(self, text: str) -> None:
        """Print a warning or hint on stderr (never on stdout: ``--json`` stays parseable)."""
        self.errors.print(text, soft_wrap=True)

    def fail(self, error: BaseException, hint: str | None = None) -> NoReturn:
        """Report ``error`` (with a hint for what to do) and exit with the code it calls for."""
        code = exit_code_for(error)
        hint = hint or hint_for(error)
        if self.as_json:
            report = {"error": type(error).__name__, "message": str(error), "exit_code": code}
            click.echo(json.dumps(report if hint is None else {**report, "hint": hint}))
        else:
            self.errors.print(
                f"[bold red]error:[/] {type(error).__name__}: {escape(str(error))}", soft_wrap=True
            )
            if hint is not None:
                self.errors.print(f"[dim]hint:[/] {escape(hint)}", soft_wrap=True)
        sys.exit(code)


class HelpGroup(click.Group):
    """A command group whose help lists each subcommand's summary whole, wrapped, never cut.

    click cuts a summary longer than the line to fit with "...": here it wraps instead.
    """

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The "Commands:" section, each summary wrapped rather than cut."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=_NO_LIMIT)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


#: A summary length that click never reaches, so that it cuts nothing.
_NO_LIMIT = 10_000


class GlobalOptionsGroup(HelpGroup):
    """A command group whose own options may also follow the subcommand.

    ``exotel-trunking numbers list SID --json`` is read as ``exotel-trunking --json numbers
    list SID``: the group's options found after the subcommand are moved before it (after
    the ones already there, so that a later one still wins). A subcommand's own options of
    the same name stay with it (``emulator`` has an ``--api-key`` of its own, the key it
    accepts), and one that takes extra arguments raw keeps them all.

    It also gives the exit codes of an interruption: Ctrl-C outside the work that handles it
    itself (:mod:`._interrupt`), and a confirmation answered no, exit with 130 (click's
    "Aborted!" and 1 would read as "some items failed"). Its subgroups are :class:`HelpGroup`.
    """

    group_class = HelpGroup

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._hoist(ctx, args))

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; Ctrl-C and a declined confirmation exit with 130."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
        except click.Abort:
            click.echo("\ncancelled: nothing more was done", err=True)
        ctx.exit(EXIT_INTERRUPTED)

    def _hoist(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = _options_taking_values(self)
        # The subcommand is the first word that is neither an option nor an option's value.
        at = 0
        while at < len(args) and args[at].startswith("-") and args[at] != "--":
            at += 2 if takes_value.get(args[at]) else 1
        if at >= len(args) or args[at] == "--":
            return args
        command = self.get_command(ctx, args[at])
        if command is None or command.context_settings.get("allow_extra_args"):
            return args
        own = _options_taking_values(command, nested=True)
        moved: list[str] = []
        rest: list[str] = []
        tail = iter(args[at + 1 :])
        for word in tail:
            if word == "--":
                rest += [word, *tail]
                break
            name, equals, _ = word.partition("=")
            if own.get(name) and not equals:
                rest += [word, *islice(tail, 1)]  # the subcommand's option and its value
                continue
            if name not in takes_value or (equals and not takes_value[name]):
                rest.append(word)
                continue
            moved.append(word)
            if takes_value[name] and not equals:
                value = list(islice(tail, 1))
                if not value:
                    raise click.UsageError(f"Option '{name}' requires an argument.", ctx)
                moved += value
        return [*args[:at], *moved, args[at], *rest]


def parse_rate_limit(_: click.Context, __: click.Parameter, value: str | None) -> Any:
    """Parse ``--rate-limit``: ``CALLS/SECONDS[/BURST]`` or ``off``; ``None`` if not given."""
    if value is None:
        return None
    text = value.strip().lower()
    if text in _OFF:
        return False
    try:
        parts = [float(part) for part in text.split("/")]
        if len(parts) not in (2, 3) or any(p <= 0 or p != int(p) for p in parts[::2]):
            raise ValueError
        calls, period, *burst = parts
        return RateLimit(int(calls), period, *(int(b) for b in burst))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected CALLS/SECONDS[/BURST] such as 200/60, or 'off'"
        ) from None


def _loopback(base_url: str | None) -> bool:
    if not base_url:
        return False
    try:
        return _is_loopback(httpx2.URL(base_url.strip()).host)
    except (httpx2.InvalidURL, TypeError):
        return False


def _trunk_not_found(error: BaseException) -> bool:
    """The trunk is unknown or not this account's (the SDK reads the live 403 / 1003 so too).

    Not a record the trunk does not hold (:class:`NotOnTrunkError`): that is the item's. Nor
    a service without the trunk-map lookup (:func:`_call_missing`): no trunk was named.
    """
    return (
        isinstance(error, NotFoundError)
        and not isinstance(error, NotOnTrunkError)
        and not _call_missing(error)
    )


def _call_missing(error: BaseException) -> bool:
    """The service has no such call: the reference API answers the live service's extras so.

    A 405 for a method the path does not take, or a 404 for the trunk-map lookup (a path of
    no trunk, so it cannot mean an unknown trunk).
    """
    if not isinstance(error, APIStatusError):
        return False
    lookup = error.status_code == 404 and error.path.rstrip("/").endswith("/trunk-maps")
    return error.status_code == 405 or lookup


def _trunk_conflict(error: BaseException) -> bool:
    """A 409 to creating a trunk (the name is taken), or two trunks found of one name.

    A 409 for an item is the item's.
    """
    return (
        isinstance(error, ConflictError)
        and error.method in ("POST", "GET")
        and error.path.rstrip("/").endswith("/trunks")
    )


def exit_code_for(error: BaseException) -> int:
    """Map an exception to the command's exit code (the README's table).

    2 for usage and configuration, including an address the emulator cannot listen on
    ("port in use"); 4 for the trunk itself (not found, or its name taken); 3 for refused
    credentials; 1 otherwise (a number, IP, destination or credential the trunk does not
    hold is the item's failure).
    """
    if isinstance(error, (ConfigurationError, InvalidParameterError, click.UsageError)):
        return EXIT_USAGE
    if isinstance(error, OSError) and error.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
        return EXIT_USAGE
    if _trunk_not_found(error) or _trunk_conflict(error):
        return EXIT_NOT_FOUND
    if isinstance(error, (AuthenticationError, PermissionDeniedError)):
        return EXIT_AUTH
    return EXIT_FAILED


#: A next step for each error a new user meets first: the first whose test holds.
_HINTS: tuple[tuple[Callable[[BaseException], bool], str], ...] = (
    (
        lambda e: isinstance(e, ConfigurationError) and "missing" in str(e),
        "set EXOTEL_API_KEY, EXOTEL_API_TOKEN and EXOTEL_ACCOUNT_SID (or pass --api-key, "
        "--api-token, --account-sid); to try the command offline run "
        "'exotel-trunking emulator' and follow what it prints",
    ),
    (
        lambda e: isinstance(e, AuthenticationError),
        "the API key or token was refused: check EXOTEL_API_KEY and EXOTEL_API_TOKEN",
    ),
    (
        _call_missing,
        "this service has no such call (the reference API lacks it; Exotel's live service "
        "has it): against the emulator, start it with --dialect live",
    ),
    (
        _trunk_not_found,
        "no such trunk on this account, or not this account's: check the trunk sid "
        "('exotel-trunking trunks create' prints it) and EXOTEL_ACCOUNT_SID",
    ),
    (
        lambda e: isinstance(e, NotOnTrunkError),
        "the trunk does not hold it: its list command shows what it holds",
    ),
    (
        lambda e: isinstance(e, PermissionDeniedError),
        "the credentials work but may not do this: check EXOTEL_ACCOUNT_SID",
    ),
)


def hint_for(error: BaseException) -> str | None:
    """A next step for the errors a new user meets first, or ``None``."""
    return next((hint for applies, hint in _HINTS if applies(error)), None)


def run(
    settings: Settings,
    work: Callable[[AsyncTrunkingClient], Awaitable[T]],
    hint: Callable[[ExotelError], str | None] = lambda _: None,
    client_options: Mapping[str, Any] | None = None,
) -> T:
    """Build a client, run ``work`` with it, close it; turn SDK errors into exit codes.

    ``hint`` may suggest a next step for an error, in the command's own terms.
    ``client_options`` go to the client as well, e.g. a progress display's hooks
    (``ClientActivity.client_options()``).
    """

    async def main() -> T:
        async with settings.client(**(client_options or {})) as client:
            return await work(client)

    try:
        return anyio.run(main)
    except ExotelError as error:
        settings.fail(error, hint(error))


#: What a SIP password is shown as, unless asked for.
PASSWORD_MASK = "********"  # noqa: S105 - the mask shown instead of a password


def record(value: Any, *, show_password: bool = False) -> Any:
    """A model (or list of models) as plain JSON-ready data; a SIP password is masked.

    A digest credential's password is there only on the result of the call that set it;
    where there is none, it stays ``null``.
    """
    if isinstance(value, list):
        return [record(item, show_password=show_password) for item in value]
    if value is None or not attrs.has(type(value)):
        return value
    data = attrs.asdict(value, value_serializer=lambda _, __, v: _json_default(v))
    secret = isinstance(value, Credentials) or (
        isinstance(value, SipCredential) and value.password is not None
    )
    if secret and not show_password:
        data["password"] = PASSWORD_MASK
    return data


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return value


def _options_taking_values(command: click.Command, *, nested: bool = False) -> dict[str, bool]:
    """Each option name of ``command`` (and, ``nested``, of its subcommands): takes a value?"""
    names = {
        name: not (param.is_flag or param.count)
        for param in command.params
        if isinstance(param, click.Option) and not param.is_eager
        for name in (*param.opts, *param.secondary_opts)
    }
    if nested and isinstance(command, click.Group):
        for sub in command.commands.values():
            names = {**_options_taking_values(sub, nested=True), **names}
    return names
