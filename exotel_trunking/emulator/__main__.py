"""``python -m exotel_trunking.emulator``: the ``exotel-trunking emulator`` command, again.

It needs click, from the ``cli`` extra; without it, it says so and exits with status 2.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run the emulator command (see ``python -m exotel_trunking.emulator --help``)."""
    try:
        from .._cli._emulator import MODULE_PROG, emulator  # noqa: PLC0415 - click is optional
    except ImportError as error:
        if error.name != "click":
            raise
        print(
            "python -m exotel_trunking.emulator needs the 'cli' extra (click is missing):\n"
            "  pip install 'exotel-trunking[cli]'\n"
            "or serve it from Python: async with Emulator(...).serve() as base_url: ...",
            file=sys.stderr,
        )
        sys.exit(2)
    emulator.main(prog_name=MODULE_PROG)


if __name__ == "__main__":
    main()
