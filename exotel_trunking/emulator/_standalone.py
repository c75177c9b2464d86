"""The emulator as a server process: serve until a signal, and the banner saying how to use it.

``exotel-trunking emulator`` and ``python -m exotel_trunking.emulator`` (the same click
command, in ``exotel_trunking._cli._emulator``) are built on these. Nothing here needs the
``cli`` extra.
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable

import anyio

from ._emulator import DEFAULT_API_TOKEN, Emulator
from ._ratelimit import RateLimitConfig
from ._server import run_server

__all__ = ["banner", "client_rate_limit", "run_until_signalled", "serve_until_signalled"]


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


def run_until_signalled(
    emulator: Emulator,
    host: str,
    port: int,
    *,
    backend: str = "asyncio",
    announce: Callable[[str], object] | None = None,
) -> None:
    """Serve ``emulator`` on ``host:port`` until SIGINT or SIGTERM, in a new event loop.

    ``announce`` is called with the base URL once connections are accepted.

    Raises:
        OSError: If the address cannot be listened on (a port in use, say).
    """
    serve = functools.partial(serve_until_signalled, emulator, host, port, on_ready=announce)
    try:
        anyio.run(serve, backend=backend)
    except KeyboardInterrupt:  # a signal that arrived before the receiver was installed
        return
    except Exception as error:
        # Task groups wrap the bind failure in an exception group; dig it out.
        cause = _os_error(error)
        if cause is None:
            raise
        raise cause from None


def client_rate_limit(limit: RateLimitConfig) -> str:
    """The client's ``--rate-limit`` / ``EXOTEL_RATE_LIMIT`` value that matches ``limit``."""
    text = f"{limit.calls}/{limit.period:g}"
    return text if limit.burst is None else f"{text}/{limit.burst}"


def banner(emulator: Emulator, url: str) -> str:
    """What the served emulator prints on stderr once it listens: how to use it, in full.

    It names the base URL and the account, the ``export`` line for the ``exotel-trunking``
    command (with the pacing that matches the emulator's rate limit, if it has one), how to
    make a Python client match, and the knobs that are on. A token other than the published
    default is never shown: a quoted placeholder (still valid shell) stands in for it.
    """
    token = emulator._api_token  # the package's own reading of its private field
    shown_token = DEFAULT_API_TOKEN if token == DEFAULT_API_TOKEN else "'<your --api-token>'"
    limit = emulator.knobs.rate_limit
    exports = [
        f"EXOTEL_BASE_URL={url} EXOTEL_ACCOUNT_SID={emulator.account_sid}",
        f"EXOTEL_API_KEY={emulator.api_key} EXOTEL_API_TOKEN={shown_token}",
    ]
    if limit is not None:
        exports.append(f"EXOTEL_RATE_LIMIT={client_rate_limit(limit)}")
    lines = [
        f"Exotel emulator at {url}: account {emulator.account_sid!r}, {emulator.dialect} dialect.",
        "Point the exotel-trunking command (or AsyncTrunkingClient()) at it:",
        "  export " + " \\\n         ".join(exports),
        *_rate_limit_lines(limit),
        *_knob_lines(emulator),
        "Admin endpoints (state, requests, counters, knobs, faults) under /_emulator/.",
        "Ctrl-C stops it.",
    ]
    return "\n".join(lines)


def _rate_limit_lines(limit: RateLimitConfig | None) -> list[str]:
    if limit is None:
        return [
            "Rate limit: none. The command does not pace requests to a loopback URL; a",
            "Python client paces at Exotel's 200 calls a minute unless given rate_limit=None.",
        ]
    calls, period = limit.calls, f"{limit.period:g}"
    burst = "" if limit.burst is None else f", burst={limit.burst}"
    return [
        f"Rate limit: {calls} calls per {period} s (bursts of {limit.capacity}); beyond it,"
        " 429 with Retry-After.",
        "Pace clients to match or they meet 429s: EXOTEL_RATE_LIMIT above (or",
        f"--rate-limit {client_rate_limit(limit)}) paces the command; a Python client needs",
        f"  AsyncTrunkingClient(..., rate_limit=RateLimit(calls={calls}, period={period}{burst}))",
    ]


def _knob_lines(emulator: Emulator) -> list[str]:
    knobs = emulator.knobs
    shown = []
    if knobs.latency:
        latency = knobs.latency
        seconds = f"{latency[0]:g}-{latency[1]:g}" if isinstance(latency, tuple) else f"{latency:g}"
        shown.append(f"latency {seconds} s")
    if knobs.concurrency_limit is not None:
        shown.append(f"at most {knobs.concurrency_limit} requests in flight")
    rules = emulator.faults.rules
    if rules:
        shown.append("faults " + ", ".join(f"{r.kind} {r.probability:.0%}" for r in rules))
    return [f"Also on: {', '.join(shown)}."] if shown else []


def _os_error(error: BaseException) -> OSError | None:
    if isinstance(error, OSError):
        return error
    for inner in getattr(error, "exceptions", ()):
        found = _os_error(inner)
        if found is not None:
            return found
    return None
