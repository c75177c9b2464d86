"""The ``exotel-trunking`` command. It needs the ``cli`` extra (click and rich)."""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``exotel-trunking`` command."""
    try:
        from ._commands import cli  # noqa: PLC0415 - click and rich are an optional extra
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SystemExit(
            f"exotel-trunking's command needs the 'cli' extra ({error.name} is missing): "
            "pip install 'exotel-trunking[cli]'"
        ) from None
    cli(prog_name="exotel-trunking")
