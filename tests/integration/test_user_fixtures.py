"""The pytest plugin's fixtures, used as a user would, in a throwaway suite run by pytest.

``tests/emulator/test_testing_plugin.py`` already checks that ``exotel_client`` runs in the
test's own event loop under anyio (asyncio, trio) and pytest-asyncio (function and module
loops), and that a sync test gets a clear error. These runs cover what a user then does: inject
a fault with ``exotel_emulator.script`` and check that the SDK retried, rely on a fresh
emulator per test, see a failing assertion reported as a failure, and use the fixtures with
anyio's plugin alone (pytest-asyncio not installed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test runs a user's suite with pytest in a subprocess

PYTEST_INI = """\
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

#: Written as a user of the SDK would, against the fixtures only.
USER_SUITE = """
import pytest

from exotel_trunking import RetryPolicy

FAST = RetryPolicy(initial_delay=0.001, max_delay=0.01)


@pytest.mark.asyncio
async def test_sdk_retries_an_injected_503(exotel_client, exotel_emulator):
    exotel_emulator.script("POST", "/trunks/*/phone-numbers", "503", times=2)
    client = exotel_client.with_options(retry=FAST)
    trunk = await client.trunks.create("retry_me")
    number = await client.phone_numbers.map(trunk.trunk_sid, "+919876543210")
    posts = [r.status for r in exotel_emulator.requests if r.path.endswith("/phone-numbers")]
    assert posts == [503, 503, 200]
    assert [n.id for n in exotel_emulator.state.phone_numbers(trunk.trunk_sid)] == [number.id]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_sdk_waits_out_an_injected_429(exotel_client, exotel_emulator, anyio_backend):
    exotel_emulator.configure(fault_retry_after=0)
    exotel_emulator.script("POST", "/trunks", "429")
    trunk = await exotel_client.trunks.create("after_429")
    assert [r.status for r in exotel_emulator.requests] == [429, 200]
    assert exotel_emulator.state.get_trunk(trunk.trunk_sid).trunk_name == "after_429"


@pytest.mark.asyncio
async def test_sdk_does_not_repeat_a_dropped_create(exotel_client, exotel_emulator):
    from exotel_trunking import APIConnectionError

    exotel_emulator.script("POST", "/trunks", "drop_after")
    with pytest.raises(APIConnectionError, match="may have been created"):
        await exotel_client.trunks.create("once_only")
    assert len(exotel_emulator.requests) == 1
    assert len(exotel_emulator.state.trunks) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("attempt", [1, 2])
async def test_every_test_gets_a_fresh_emulator(exotel_client, exotel_emulator, attempt):
    await exotel_client.trunks.create("same_name")  # a 409 if state leaked between tests
    assert len(exotel_emulator.state.trunks) == 1


@pytest.mark.asyncio
async def test_a_wrong_expectation_fails(exotel_client):
    trunk = await exotel_client.trunks.create("real_name")
    assert trunk.trunk_name == "expected_name"
"""

#: The same kind of test for a project that uses anyio's plugin and not pytest-asyncio.
ANYIO_ONLY_SUITE = """
import pytest

from exotel_trunking import RetryPolicy


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_sdk_retries_an_injected_502_page(exotel_client, exotel_emulator):
    trunk = await exotel_client.trunks.create("anyio_only")
    exotel_emulator.script("GET", "/trunks/*/whitelisted-ips", "502_html")
    client = exotel_client.with_options(retry=RetryPolicy(initial_delay=0.001))
    assert await client.whitelisted_ips.list(trunk.trunk_sid) == []
    assert [r.status for r in exotel_emulator.requests][-2:] == [502, 200]


def test_pytest_asyncio_is_really_absent():
    from exotel_trunking import testing

    assert testing.pytest_asyncio is None
"""

#: Loaded with ``-p`` before any entry point: pytest-asyncio then looks uninstalled.
BLOCK_PYTEST_ASYNCIO = """\
import sys

sys.modules["pytest_asyncio"] = None
"""

_OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR) (\S+)", re.MULTILINE)


@pytest.fixture(scope="module")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bytecode shared by the runs below, so that only the first compiles the world.

    (Where ``PYTHONDONTWRITEBYTECODE`` is set, every run would otherwise compile every module
    it imports, for seconds; the cache lives in a temporary directory, never in the repo.)
    """
    return tmp_path_factory.mktemp("pycache")


def run_user_suite(
    directory: Path, pycache: Path, suite: str, ini: str, *options: str
) -> tuple[dict[str, str], str]:
    """Run ``suite`` with pytest in a subprocess; return each test's outcome and the output."""
    (directory / "pytest.ini").write_text(ini)
    (directory / "test_user_suite.py").write_text(textwrap.dedent(suite))
    (directory / "block_pytest_asyncio.py").write_text(BLOCK_PYTEST_ASYNCIO)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    # respx's plugin is no part of a user's setup here, and costs a second to import cold.
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:respx"]
    result = subprocess.run(
        [*command, "-rA", *options, "."],
        check=False,
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    found = _OUTCOME.findall(result.stdout)
    return {node.split("::", 1)[1]: outcome for outcome, node in found}, output


def test_a_users_fault_injection_tests_pass_and_a_wrong_expectation_fails(
    tmp_path: Path, pycache: Path
) -> None:
    outcomes, output = run_user_suite(tmp_path, pycache, USER_SUITE, PYTEST_INI)
    assert outcomes == {
        "test_sdk_retries_an_injected_503": "PASSED",
        "test_sdk_waits_out_an_injected_429[asyncio]": "PASSED",
        "test_sdk_waits_out_an_injected_429[trio]": "PASSED",
        "test_sdk_does_not_repeat_a_dropped_create": "PASSED",
        "test_every_test_gets_a_fresh_emulator[1]": "PASSED",
        "test_every_test_gets_a_fresh_emulator[2]": "PASSED",
        "test_a_wrong_expectation_fails": "FAILED",
    }, output
    assert "AssertionError: assert 'real_name' == 'expected_name'" in output


def test_the_fixtures_work_with_anyio_when_pytest_asyncio_is_not_installed(
    tmp_path: Path, pycache: Path
) -> None:
    ini = "[pytest]\nfilterwarnings = error\n"
    blocked = ("-p", "block_pytest_asyncio", "-p", "no:asyncio")
    outcomes, output = run_user_suite(tmp_path, pycache, ANYIO_ONLY_SUITE, ini, *blocked)
    assert outcomes == {
        "test_sdk_retries_an_injected_502_page[asyncio]": "PASSED",
        "test_sdk_retries_an_injected_502_page[trio]": "PASSED",
        "test_pytest_asyncio_is_really_absent": "PASSED",
    }, output
