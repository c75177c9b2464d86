"""Fixtures for the command's tests: an emulator served on 127.0.0.1, and a way to run the CLI.

The emulator runs in a background thread (an anyio blocking portal) for the whole module, so
that each command runs its own ``anyio.run`` against real HTTP, as it does for a user. Every
test starts from an empty account. The classes the tests use live in ``runner.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exotel_trunking.emulator import Emulator

from .runner import KEY, SID, TOKEN, Cli, Served, serve


@pytest.fixture(scope="module")
def _served() -> Iterator[Served]:
    # New trunks get SIP credentials at once, as on an account where Exotel issues them (the
    # live service's default is none), so that the commands that show them have some.
    emulator = Emulator(KEY, TOKEN, SID, dialect="live", seed=0, issue_credentials=True)
    with serve(emulator) as served:
        yield served


@pytest.fixture
def served(_served: Served) -> Served:
    """The module's served emulator, emptied for this test."""
    _served.call(_served.emulator.reset)
    return _served


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
