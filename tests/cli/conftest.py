"""Fixtures for the command's tests: an emulator served on 127.0.0.1, and a way to run the CLI.

The emulator runs in a background thread (an anyio blocking portal) for the whole module, so
that each command runs its own ``anyio.run`` against real HTTP, as it does for a user. Every
test starts from an empty account.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
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


@pytest.fixture(scope="module")
def _served() -> Iterator[Served]:
    # New trunks get SIP credentials at once, as on an account where Exotel issues them (the
    # live service's default is none), so that the commands that show them have some.
    emulator = Emulator(KEY, TOKEN, SID, dialect="live", seed=0, issue_credentials=True)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.serve()) as url,
    ):
        yield Served(emulator, url, portal)


@pytest.fixture
def served(_served: Served) -> Served:
    """The module's served emulator, emptied for this test."""
    _served.call(_served.emulator.reset)
    return _served


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


@pytest.fixture
def run_cli(served: Served, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``run_cli("numbers", "list", sid)`` runs the command against the served emulator."""
    for name in ("KEY", "TOKEN", "ACCOUNT_SID", "REGION", "BASE_URL", "RATE_LIMIT"):
        monkeypatch.delenv(f"EXOTEL_API_{name}", raising=False)
        monkeypatch.delenv(f"EXOTEL_{name}", raising=False)
    env = {
        "EXOTEL_API_KEY": KEY,
        "EXOTEL_API_TOKEN": TOKEN,
        "EXOTEL_ACCOUNT_SID": SID,
        "EXOTEL_BASE_URL": served.url,
        "COLUMNS": "80",
    }
    return Cli(served, env)


def lines_of(text: str) -> Sequence[str]:
    """Non-empty lines."""
    return [line for line in text.splitlines() if line.strip()]
