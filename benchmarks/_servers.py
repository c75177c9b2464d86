"""Servers in their own process (so the client's CPU is measured alone), and emulator admin.

Each server listens on 127.0.0.1 only, is stopped when its ``with`` block ends, and also dies
with this process (``PR_SET_PDEATHSIG`` on Linux), so none is ever left running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2

from ._canned import ACCOUNT_SID, API_KEY, API_TOKEN

_READY_TIMEOUT = 30.0


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Server:
    """A server running in another process."""

    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server has used so far (Linux; 0.0 elsewhere)."""
        try:
            with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _served(argv: list[str]) -> Iterator[Server]:
    """Run ``python argv...``, wait for the URL it prints, yield it, then stop the process."""
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            [sys.executable, *argv],
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            text=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], _READY_TIMEOUT)
            url = process.stdout.readline().strip() if ready else ""
            if not url.startswith("http://127.0.0.1:"):
                errors.seek(0)
                raise RuntimeError(f"{' '.join(argv)} did not start: {errors.read()[-2000:]}")
            yield Server(url, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def served_emulator(
    *, latency: float = 0.0, rate_limit: str | None = None
) -> contextlib.AbstractContextManager[Server]:
    """The emulator served by ``python -m exotel_trunking.emulator`` in another process."""
    argv = [
        "-m",
        "exotel_trunking.emulator",
        "--port",
        "0",
        "--api-key",
        API_KEY,
        "--api-token",
        API_TOKEN,
        "--account-sid",
        ACCOUNT_SID,
        "--latency",
        str(latency),
    ]
    if rate_limit is not None:
        argv += ["--rate-limit", rate_limit]
    return _served(argv)


def bare_server() -> contextlib.AbstractContextManager[Server]:
    """The canned-envelope server of :mod:`benchmarks.bare_server` in another process."""
    return _served(["-m", "benchmarks.bare_server", "--port", "0", "--max-seconds", "900"])


async def reset_emulator(admin: httpx2.AsyncClient, url: str) -> None:
    """Forget every trunk and number, the counters and the rate-limit bucket; keep the knobs."""
    response = await admin.post(f"{url}/_emulator/reset", json={"knobs": False, "faults": True})
    response.raise_for_status()


async def emulator_counters(admin: httpx2.AsyncClient, url: str) -> dict[str, Any]:
    """Counters by status and the connection stats of a served emulator."""
    response = await admin.get(f"{url}/_emulator/counters")
    response.raise_for_status()
    counters: dict[str, Any] = response.json()
    return counters
