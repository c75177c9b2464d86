"""The ``python -m exotel_trunking.emulator`` command, in pieces a bigger CLI can reuse.

:func:`add_arguments` declares the options, :func:`emulator_from_args` builds the emulator
from them, and :func:`serve_until_signalled` serves it until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys
from collections.abc import Callable, Sequence

import anyio

from ._dialects import DIALECTS
from ._emulator import DEFAULT_ACCOUNT_SID, DEFAULT_API_KEY, DEFAULT_API_TOKEN, Emulator
from ._faults import FAULT_KINDS
from ._knobs import to_latency
from ._ratelimit import RateLimitConfig
from ._server import run_server

__all__ = [
    "add_arguments",
    "build_parser",
    "emulator_from_args",
    "main",
    "run_until_signalled",
    "serve_until_signalled",
]


def _fault(text: str) -> tuple[str, float]:
    kind, _, probability = text.partition("=")
    if kind not in FAULT_KINDS:
        raise argparse.ArgumentTypeError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
    try:
        return kind, float(probability) if probability else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KIND=PROBABILITY") from None


def _checked(parse: Callable[[str], object]) -> Callable[[str], object]:
    @functools.wraps(parse)
    def wrapper(text: str) -> object:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return wrapper


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the emulator's options on ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=4010, help="port (0: any free port)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="accepted API key")
    parser.add_argument("--api-token", default=DEFAULT_API_TOKEN, help="accepted API token")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID, help="account sid")
    parser.add_argument("--dialect", choices=DIALECTS, default="reference")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument(
        "--latency", type=_checked(to_latency), default=0.0, help="seconds, or LOW-HIGH jitter"
    )
    parser.add_argument(
        "--rate-limit",
        type=_checked(RateLimitConfig.parse),
        default=None,
        help="CALLS/PERIOD[/BURST], e.g. 200/60",
    )
    parser.add_argument("--concurrency-limit", type=int, default=None)
    parser.add_argument("--page-size", type=int, default=50, help="live list page size")
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND=P",
        help=f"inject a fault with probability P (repeatable); KIND: {', '.join(FAULT_KINDS)}",
    )
    parser.add_argument("--slow-seconds", type=float, default=30.0, help="delay of 'slow'")
    parser.add_argument("--idle-timeout", type=float, default=None, help="keep-alive idle close")
    parser.add_argument(
        "--no-credentials",
        action="store_true",
        help="create trunks without SIP credentials",
    )
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")


def build_parser(prog: str = "python -m exotel_trunking.emulator") -> argparse.ArgumentParser:
    """The stand-alone command's parser."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve an in-memory Exotel Voice Trunking API on 127.0.0.1.",
    )
    add_arguments(parser)
    return parser


def emulator_from_args(args: argparse.Namespace) -> Emulator:
    """Build an :class:`Emulator` from parsed options.

    Raises:
        ValueError: For an invalid combination of values.
    """
    return Emulator(
        api_key=args.api_key,
        api_token=args.api_token,
        account_sid=args.account_sid,
        dialect=args.dialect,
        seed=args.seed,
        faults=dict(args.fault),
        latency=args.latency,
        rate_limit=args.rate_limit,
        concurrency_limit=args.concurrency_limit,
        page_size=args.page_size,
        slow_seconds=args.slow_seconds,
        idle_timeout=args.idle_timeout,
        issue_credentials=not args.no_credentials,
    )


async def serve_until_signalled(
    emulator: Emulator,
    host: str = "127.0.0.1",
    port: int = 4010,
    *,
    on_ready: Callable[[str], object] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (or cancellation), then close every connection."""
    # The signal receiver is installed before the URL is announced, so a signal sent as soon
    # as the URL is read still ends the server cleanly.
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as task_group:
            await task_group.start(
                functools.partial(run_server, emulator, host, port, on_ready=on_ready)
            )
            async for _ in signals:
                break
            task_group.cancel_scope.cancel()


def main(
    argv: Sequence[str] | None = None, prog: str = "python -m exotel_trunking.emulator"
) -> int:
    """Run the command; return its exit status."""
    args = build_parser(prog).parse_args(argv)
    try:
        emulator = emulator_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def announce(url: str) -> None:
        print(url, flush=True)
        print(
            f"emulating account {emulator.account_sid!r} ({emulator.dialect} dialect); "
            "admin endpoints under /_emulator/; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )

    return run_until_signalled(emulator, args, announce)


def run_until_signalled(
    emulator: Emulator, args: argparse.Namespace, announce: Callable[[str], object]
) -> int:
    """Serve ``emulator`` where ``args`` say until SIGINT or SIGTERM; return the exit status.

    ``announce`` is called with the base URL once connections are accepted. A port that
    cannot be bound is reported on stderr (status 1), not raised.
    """
    serve = functools.partial(
        serve_until_signalled, emulator, args.host, args.port, on_ready=announce
    )
    try:
        anyio.run(serve, backend=args.backend)
    except KeyboardInterrupt:  # a signal that arrived before the receiver was installed
        return 0
    except Exception as error:
        # Task groups wrap the bind failure in an exception group; dig it out.
        cause = _os_error(error)
        if cause is None:
            raise
        print(f"error: cannot listen on {args.host}:{args.port}: {cause}", file=sys.stderr)
        return 1
    return 0


def _os_error(error: BaseException) -> OSError | None:
    if isinstance(error, OSError):
        return error
    for inner in getattr(error, "exceptions", ()):
        found = _os_error(inner)
        if found is not None:
            return found
    return None
