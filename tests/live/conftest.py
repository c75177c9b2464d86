"""Where the live contract suite runs, its runs per client, and its report.

Without ``--live`` the suite runs against the emulator, served on 127.0.0.1 in the live
dialect. With ``--live`` it runs against the account in ``EXOTEL_API_KEY``,
``EXOTEL_API_TOKEN`` and ``EXOTEL_ACCOUNT_SID`` (``EXOTEL_BASE_URL`` or ``EXOTEL_REGION`` pick
the host), or is skipped, naming the variables that are missing. The ``--live`` option itself
is declared in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .contract import CLIENT_KINDS, Report, Run, Target, decide, new_emulator, run_against, served

REPORT = pytest.StashKey[Report]()


@pytest.fixture(scope="session")
def live_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The served emulator by default; the account in ``EXOTEL_*`` with ``--live``."""
    decision = decide(request.config.getoption("live"), os.environ)
    if decision.skip is not None:
        pytest.skip(decision.skip)
    if decision.against == "account":
        yield Target.account(decision.inputs)
        return
    emulator = new_emulator()
    with served(emulator) as base_url:
        yield Target.served_emulator(emulator, base_url)


@pytest.fixture(scope="module", params=CLIENT_KINDS)
def contract_run(request: pytest.FixtureRequest, live_target: Target) -> Run:
    """One client's whole run (its trunk created, used and deleted), shared by the tests."""
    run = run_against(live_target, request.param)
    request.config.stash.setdefault(REPORT, Report()).add(run)
    return run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = terminalreporter.config.stash.get(REPORT, None)
    if report is None:
        return
    terminalreporter.write_sep("-", "live contract: the service's records against the models")
    for line in report.lines():
        terminalreporter.write_line(line)
