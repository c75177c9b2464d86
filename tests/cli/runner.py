"""Running ``exotel-trunking`` against the emulator that ``conftest.py`` serves on 127.0.0.1.

In process with :class:`Cli` (click's runner, configured by environment), or as the installed
console script in a child process (:func:`script`, :func:`child_env`).
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from anyio.from_thread import BlockingPortal
from click.testing import CliRunner, Result

from exotel_trunking._cli._commands import cli
from exotel_trunking.emulator import Emulator

KEY, TOKEN, SID = "cli-key", "cli-token-s3cret", "acme"


@attrs.define
class Served:
    """The served emulator, its URL, and the portal whose event loop it runs in."""

    emulator: Emulator
    url: str
    portal: BlockingPortal

    def call(self, function: Any, *args: Any) -> Any:
        """Run ``function`` in the emulator's event loop thread (its state is not locked)."""
        return self.portal.call(lambda: function(*args))


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
