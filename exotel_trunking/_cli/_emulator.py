"""``emulator``: serve the built-in Exotel emulator on 127.0.0.1."""

from __future__ import annotations

import sys

import click

from ..emulator._command import main as emulator_main


@click.command(
    "emulator",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """Serve the in-memory emulator on 127.0.0.1 (see: exotel-trunking emulator --help).

    It prints its base URL; point the other commands at it with --base-url or
    EXOTEL_BASE_URL. Latency, rate limits and faults are options.
    """
    sys.exit(emulator_main(ctx.args, prog="exotel-trunking emulator"))
