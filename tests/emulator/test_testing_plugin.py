"""The ``exotel_trunking.testing`` pytest plugin: its fixtures under both async plugins."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exotel_trunking import TrunkingClient, testing
from exotel_trunking.emulator import Emulator


def test_exotel_emulator_is_a_fresh_reference_emulator(exotel_emulator: Emulator) -> None:
    assert isinstance(exotel_emulator, Emulator)
    assert exotel_emulator.dialect == "reference"
    assert exotel_emulator.account_sid == testing.EMULATOR_ACCOUNT_SID
    assert exotel_emulator.api_key == testing.EMULATOR_API_KEY
    assert exotel_emulator.state.trunks == []


def test_exotel_sync_client_is_an_open_sync_client_on_the_same_emulator(
    exotel_sync_client: TrunkingClient, exotel_emulator: Emulator
) -> None:
    trunk = exotel_sync_client.trunks.create("sync_fixture")
    assert exotel_emulator.state.get_trunk(trunk.trunk_sid).trunk_name == "sync_fixture"
    assert exotel_sync_client.config.rate_limit is None


CONFTEST = """
import sys

import sniffio

import exotel_trunking.testing as plugin

# The plugin is loaded (entry point) but no fixture has run: the emulator must not be imported.
EMULATOR_IMPORTED_EARLY = "exotel_trunking.emulator" in sys.modules

LOOPS = []
_original = plugin._new_client


def _recording(emulator):
    # Record which event loop the client was opened in, to compare with the test's own.
    LOOPS.append(_current_loop())
    return _original(emulator)


def _current_loop():
    if sniffio.current_async_library() == "asyncio":
        import asyncio

        return ("asyncio", id(asyncio.get_running_loop()))
    import trio

    return ("trio", id(trio.lowlevel.current_root_task()))


plugin._new_client = _recording
"""

TESTS = """
import pytest
from conftest import EMULATOR_IMPORTED_EARLY, LOOPS, _current_loop


def test_the_plugin_is_import_light():
    assert not EMULATOR_IMPORTED_EARLY


async def use(client, emulator, name):
    trunk = await client.trunks.create(name)
    assert emulator.state.get_trunk(trunk.trunk_sid).trunk_name == name
    assert LOOPS[-1] == _current_loop(), "client and test run in different event loops"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_anyio(exotel_client, exotel_emulator, anyio_backend):
    await use(exotel_client, exotel_emulator, "on_anyio")


@pytest.mark.asyncio
async def test_pytest_asyncio(exotel_client, exotel_emulator):
    await use(exotel_client, exotel_emulator, "on_asyncio")


@pytest.mark.asyncio(loop_scope="module")
async def test_pytest_asyncio_module_loop(exotel_client, exotel_emulator):
    await use(exotel_client, exotel_emulator, "module_loop")


def test_sync_test_gets_a_clear_error(exotel_client):
    pass
"""


@pytest.mark.skipif(
    not hasattr(__import__("exotel_trunking"), "AsyncTrunkingClient"),
    reason="the SDK client is not available yet",
)
@pytest.mark.slow  # runs pytest in a subprocess
def test_exotel_client_works_under_anyio_and_pytest_asyncio(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_user_suite.py").write_text(textwrap.dedent(TESTS))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert "5 passed, 1 error" in output, output
    assert "exotel_client is an open async client" in output
