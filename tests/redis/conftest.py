"""A real ``redis-server`` on 127.0.0.1, started by the tests themselves.

The binary is required in CI (``.ci/run`` installs it); on a developer's machine without it
these tests are skipped with the reason, and a notice at the end of the run counts them and
says how to install it. Each server listens on a free port, saves nothing and
is killed at the end; tests that stop or pause Redis get a server of their own.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator

import pytest

from .redis_server import RedisServer, free_port

REDIS_SERVER = shutil.which("redis-server")
#: The reason of the skips when it is missing (the terminal summary counts them by it).
NO_REDIS_SERVER = (
    "redis-server is not installed (apt-get install redis-server, or brew install redis)"
)
#: coredis 6.9 creates a connection's memory streams in ``BaseConnection.__init__`` and closes
#: them only once it has connected: every attempt to reach a Redis that is down leaves six
#: unclosed streams to the garbage collector, which warns. Only that warning is ignored, and
#: only in these tests (the outages are on purpose); the garbage is collected before they end.
COREDIS_UNCLOSED_STREAMS = "ignore:Unclosed <MemoryObject:ResourceWarning"


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the Redis tests: .ci/run installs it)")
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say at the end of the run, where it is seen, that tests were skipped for want of Redis."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if NO_REDIS_SERVER in str(report.longrepr)
    ]
    if skipped:
        terminalreporter.write_sep("=", "redis-server is missing", yellow=True, bold=True)
        terminalreporter.write_line(
            f"{len(skipped)} Redis tests were skipped: redis-server is not installed. "
            "Install it (apt-get install redis-server, or brew install redis) and run again."
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.filterwarnings(COREDIS_UNCLOSED_STREAMS))


@pytest.fixture
def failed_connections_collected() -> Iterator[None]:
    """For tests that reach a Redis that is down: collect the connections that never
    connected while their warning is still ignored, so it cannot surface in a later test."""
    yield
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unclosed <MemoryObject", ResourceWarning)
        gc.collect()


@pytest.fixture(scope="session")
def redis_binary() -> str:
    _require(REDIS_SERVER is not None, NO_REDIS_SERVER)
    _require(
        importlib.util.find_spec("coredis") is not None,
        'coredis is not installed (the "redis" extra)',
    )
    assert REDIS_SERVER is not None
    return REDIS_SERVER


@pytest.fixture(scope="session")
def redis_server(redis_binary: str) -> Iterator[RedisServer]:
    """A server shared by the tests that leave it running (each uses its own key prefix)."""
    server = RedisServer(redis_binary)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_server(
    redis_binary: str, failed_connections_collected: None
) -> Iterator[RedisServer]:
    """A server for one test, which may kill or freeze it."""
    server = RedisServer(redis_binary)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.resume()
    server.stop()


@pytest.fixture
def key_prefix() -> str:
    """Keys of one test only, so that tests sharing a server never share a bucket."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def unreachable_redis_url(redis_binary: str, failed_connections_collected: None) -> str:
    """A Redis URL on a loopback port where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"
