"""Running ``exotel-trunking`` against an emulator served on 127.0.0.1 (:func:`serve`).

In process with :class:`Cli` (click's runner, configured by environment), or as the installed
console script in a child process (:func:`script`, :func:`child_env`; on a pseudo-terminal,
:func:`on_terminal`).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
from anyio.from_thread import BlockingPortal, start_blocking_portal
from click.testing import CliRunner, Result

from exotel_trunking._cli._commands import cli
from exotel_trunking.emulator import Emulator, RequestRecord

KEY, TOKEN, SID = "cli-key", "cli-token-s3cret", "acme"


@attrs.define
class Served:
    """The served emulator, its URL, and the portal whose event loop it runs in."""

    emulator: Emulator
    url: str
    portal: BlockingPortal

    def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``function`` in the emulator's event loop thread (its state is not locked)."""
        return self.portal.call(lambda: function(*args, **kwargs))

    def arrived_since(self, moment: float) -> list[RequestRecord]:
        """The API requests that arrived at ``moment`` (on the emulator's clock) or later.

        Unlike a count of answered requests, a request of an earlier test that is answered
        late does not show here.
        """
        return [r for r in self.emulator.requests if r.arrived >= moment]

    def trunk_sids(self) -> list[str]:
        """The sids of the emulator's trunks, in creation order."""
        return [t.trunk_sid for t in self.call(lambda: list(self.emulator.state.trunks))]

    def numbers(self, trunk_sid: str) -> list[str]:
        """The numbers mapped to ``trunk_sid``, in mapping order."""
        records = self.call(self.emulator.state.phone_numbers, trunk_sid)
        return [r.phone_number for r in records]


@contextmanager
def serve(emulator: Emulator) -> Iterator[Served]:
    """Serve ``emulator`` on 127.0.0.1 from a background thread's event loop."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.serve()) as url,
    ):
        yield Served(emulator, url, portal)


@attrs.define
class Cli:
    """Run ``exotel-trunking`` in process, configured for the served emulator by environment."""

    served: Served
    env: dict[str, str]

    def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        runner = CliRunner()
        return runner.invoke(cli, list(args), input=input, env={**self.env, **env})

    def json(self, *args: str, input: str | None = None, expect: int = 0) -> Any:
        """Run with ``--json``; check the exit code and that stdout is one JSON document."""
        result = self("--json", *args, input=input)
        assert result.exit_code == expect, result.output
        return json.loads(result.stdout)

    def trunk(self, name: str = "acme_main") -> str:
        """Create a trunk through the command; return its sid."""
        return str(self.json("trunks", "create", name)["trunk_sid"])


def lines_of(text: str) -> Sequence[str]:
    """Non-empty lines."""
    return [line for line in text.splitlines() if line.strip()]


def script() -> str:
    """The installed ``exotel-trunking`` console script's path."""
    name = "exotel-trunking.exe" if sys.platform == "win32" else "exotel-trunking"
    path = Path(sysconfig.get_path("scripts")) / name
    assert path.exists(), f"the console script is not installed at {path}"
    return str(path)


def child_env(served: Served, **extra: str) -> dict[str, str]:
    """The environment of a child ``exotel-trunking``: this machine's, for the served emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOTEL_")}
    return {
        **env,
        "COLUMNS": "80",
        "EXOTEL_API_KEY": KEY,
        "EXOTEL_API_TOKEN": TOKEN,
        "EXOTEL_ACCOUNT_SID": SID,
        "EXOTEL_BASE_URL": served.url,
        **extra,
    }


def on_terminal(
    args: Sequence[str], env: dict[str, str], cwd: Path | None = None
) -> tuple[int, str]:
    """Run the console script with ``args`` on a pseudo-terminal; its exit code and all it drew."""
    main, terminal = os.openpty()
    child = subprocess.Popen(
        [script(), *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=env,
        cwd=cwd,
    )
    os.close(terminal)
    try:
        shown = read_until_closed(main, timeout=60)
        child.wait(timeout=10)
    finally:
        os.close(main)
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    return child.returncode, shown


def read_until_closed(fd: int, *, timeout: float) -> str:
    """Everything written to a pseudo-terminal until its last writer closes it."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")
