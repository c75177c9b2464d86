"""``emulator``: serve the built-in Exotel emulator on 127.0.0.1, and say how to use it.

The one command behind both ``exotel-trunking emulator`` and ``python -m
exotel_trunking.emulator``; it needs click (the ``cli`` extra), not rich.
"""

from __future__ import annotations

from typing import Any

import click

from ..emulator import DEFAULT_ACCOUNT_SID, DEFAULT_API_KEY, DEFAULT_API_TOKEN, Emulator
from ..emulator._dialects import DIALECTS
from ..emulator._faults import FAULT_KINDS, error_status
from ..emulator._knobs import Latency, to_latency
from ..emulator._ratelimit import RateLimitConfig
from ..emulator._standalone import banner, run_until_signalled

#: What ``python -m exotel_trunking.emulator`` calls itself in its help and errors.
MODULE_PROG = "python -m exotel_trunking.emulator"

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

_EPILOG = """\
\b
Then export what it prints and use the other commands against it, e.g.
  exotel-trunking trunks create acme
  exotel-trunking numbers import <trunk_sid> numbers.csv
"""


class _CannotListen(click.ClickException):
    """The address could not be listened on: a configuration error (exit code 2)."""

    exit_code = 2


def _latency(_: click.Context, __: click.Parameter, value: str) -> Latency:
    try:
        return to_latency(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected seconds such as 0.05, or LOW-HIGH such as 0.02-0.08"
        ) from None


def _rate_limit(_: click.Context, __: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return RateLimitConfig.parse(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected CALLS/SECONDS[/BURST] such as 200/60"
        ) from None


#: The fault kinds that mean something on the command line: ``ok`` needs headers to add, and
#: served, ``refuse`` and ``write_error`` close the connection just as ``drop_before`` does.
SERVED_FAULTS = tuple(kind for kind in FAULT_KINDS if kind not in ("ok", "refuse", "write_error"))


def _faults(_: click.Context, __: click.Parameter, values: tuple[str, ...]) -> Any:
    faults: dict[str, float] = {}
    for text in values:
        kind, equals, share = text.partition("=")
        if kind not in SERVED_FAULTS and error_status(kind) is None:
            raise click.BadParameter(
                f"unknown fault {kind!r}; one of {', '.join(SERVED_FAULTS)}, "
                "or an HTTP error status from 400 to 599"
            )
        if kind in faults:
            raise click.BadParameter(f"{kind!r} is given twice; give each KIND once")
        try:
            probability = float(share) if equals else 1.0
        except ValueError:
            probability = -1.0
        if not 0.0 <= probability <= 1.0:
            raise click.BadParameter(f"{text!r}: expected KIND=P with P from 0 to 1, e.g. 503=0.1")
        faults[kind] = probability
    return faults


@click.command(
    "emulator",
    context_settings=_CONTEXT,
    epilog=_EPILOG,
    short_help="Serve a local Exotel API to point the other commands at.",
)
@click.option(
    "--port",
    metavar="PORT",
    type=click.IntRange(0, 65535),
    default=4010,
    help="Port to listen on; 0 picks a free one. [default: 4010]",
)
@click.option(
    "--host",
    metavar="ADDRESS",
    default="127.0.0.1",
    help="Address to listen on. [default: 127.0.0.1]",
)
@click.option(
    "--api-key",
    metavar="KEY",
    default=DEFAULT_API_KEY,
    help=f"The API key it accepts. [default: {DEFAULT_API_KEY}]",
)
@click.option(
    "--api-token",
    metavar="TOKEN",
    default=DEFAULT_API_TOKEN,
    help="The API token it accepts; one you choose is never printed. "
    f"[default: {DEFAULT_API_TOKEN}]",
)
@click.option(
    "--account-sid",
    metavar="SID",
    default=DEFAULT_ACCOUNT_SID,
    help=f"The account it emulates; other accounts answer 403. [default: {DEFAULT_ACCOUNT_SID}]",
)
@click.option(
    "--dialect",
    type=click.Choice(DIALECTS),
    default="reference",
    help="Answer in the reference document's shapes, or the live service's. [default: reference]",
)
@click.option(
    "--seed",
    metavar="N",
    type=int,
    default=0,
    help="Seed of everything random: ids, latency, faults. [default: 0]",
)
@click.option(
    "--latency",
    metavar="SECONDS",
    default="0",
    callback=_latency,
    help="Delay before each answer: fixed (0.05) or a range (0.02-0.08). [default: 0]",
)
@click.option(
    "--rate-limit",
    metavar="CALLS/SECONDS",
    callback=_rate_limit,
    help="Answer 429 beyond this, e.g. 200/60 (Exotel's account limit) or 200/60/20 "
    "(bursts of 20). [default: none]",
)
@click.option(
    "--concurrency-limit",
    metavar="N",
    type=click.IntRange(min=1),
    help="Answer 429 beyond this many requests in flight. [default: none]",
)
@click.option(
    "--fault",
    "faults",
    metavar="KIND[=P]",
    multiple=True,
    callback=_faults,
    help=f"Inject a fault into a share P (0 to 1, default 1) of requests; repeatable. KIND: "
    f"{', '.join(SERVED_FAULTS)}, or an HTTP error status (400 to 599).",
)
@click.option(
    "--slow-seconds",
    metavar="SECONDS",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    help="How long a 'slow' fault holds its answer. [default: 30]",
)
@click.option(
    "--page-size",
    metavar="N",
    type=click.IntRange(min=1),
    default=50,
    help="Items per page of a live-dialect list. [default: 50]",
)
@click.option(
    "--idle-timeout",
    metavar="SECONDS",
    type=click.FloatRange(min=0, min_open=True),
    help="Close keep-alive connections idle this long. [default: never]",
)
@click.option(
    "--no-credentials",
    is_flag=True,
    help="Create trunks without SIP credentials [default: the dialect's way: reference "
    "trunks get them at once, live ones do not].",
)
@click.option(
    "--backend",
    type=click.Choice(["asyncio", "trio"]),
    default="asyncio",
    help="The event loop to serve from. [default: asyncio]",
)
def emulator(host: str, port: int, backend: str, no_credentials: bool, **options: Any) -> None:
    """Serve an in-memory Exotel Voice Trunking API on 127.0.0.1 until Ctrl-C.

    It prints its base URL on stdout, then on stderr the 'export' line that points the other
    commands at it, its rate limit and how to make a client match it. Latency, limits and
    faults are options; everything random comes from --seed.
    """
    try:
        # Without --no-credentials the dialect decides (the live service issues none at once).
        served = Emulator(**options, issue_credentials=False if no_credentials else None)
    except ValueError as error:
        raise click.UsageError(str(error)) from None

    def announce(url: str) -> None:
        click.echo(url)  # alone on stdout, for scripts
        click.echo(banner(served, url), err=True)

    try:
        run_until_signalled(served, host, port, backend=backend, announce=announce)
    except OSError as error:
        raise _CannotListen(
            f"cannot listen on {host}:{port}: {error.strerror or error}; "
            "choose another --port (0 picks a free one)"
        ) from None
