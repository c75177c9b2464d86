"""``emulator``: serve the built-in Exotel emulator on 127.0.0.1, and say how to use it."""

from __future__ import annotations

import argparse
import functools
import sys

import click

from ..emulator import DEFAULT_API_TOKEN, Emulator
from ..emulator._command import build_parser, emulator_from_args, run_until_signalled

_PROG = "exotel-trunking emulator"

_EPILOG = """\
Then, in another shell, export what it prints and use the other commands, e.g.
  exotel-trunking trunks create acme
  exotel-trunking numbers import <trunk_sid> numbers.csv
The credentials default to emulator-key / emulator-token / account 'emulator'.
"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the epilog's lines; show the defaults that mean something."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        meaningless = action.default is None or action.default is False or action.default == []
        if text and not meaningless and action.default is not argparse.SUPPRESS:
            text += " (default: %(default)s)"
        return text


@click.command(
    "emulator",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
    short_help="Serve a local, in-memory Exotel API to try the commands on.",
)
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """Serve the in-memory emulator on 127.0.0.1 (options: exotel-trunking emulator --help).

    It prints the environment to point the other commands at it. Latency, rate limits and
    faults are options. Ctrl-C stops it.
    """
    sys.exit(main(ctx.args))


def main(argv: list[str]) -> int:
    """Run the emulator until a signal; return the exit status."""
    parser = build_parser(_PROG)
    parser.formatter_class = _HelpFormatter
    parser.epilog = _EPILOG
    args = parser.parse_args(argv)
    try:
        served = emulator_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    announce = functools.partial(
        _announce, served, custom_token=args.api_token != DEFAULT_API_TOKEN
    )
    return run_until_signalled(served, args, announce)


def _announce(served: Emulator, url: str, *, custom_token: bool) -> None:
    """Print the base URL alone on stdout, and how to use it on stderr."""
    print(url, flush=True)
    # The default token is a published constant; a token the user chose is not echoed.
    token = "<your --api-token>" if custom_token else DEFAULT_API_TOKEN
    print(
        f"Emulating account {served.account_sid!r} ({served.dialect} dialect). "
        "Point the commands at it with:\n"
        f"  export EXOTEL_BASE_URL={url} EXOTEL_ACCOUNT_SID={served.account_sid} \\\n"
        f"         EXOTEL_API_KEY={served.api_key} EXOTEL_API_TOKEN={token}\n"
        "Admin endpoints under /_emulator/. Ctrl-C stops.",
        file=sys.stderr,
        flush=True,
    )
