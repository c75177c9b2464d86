"""pytest fixtures that give tests an SDK client wired to a fresh in-memory Exotel emulator.

Installing ``exotel-trunking`` registers this plugin (``pytest11`` entry point), so these
fixtures are available in every test suite without any import:

``exotel_emulator``
    A fresh :class:`~exotel_trunking.emulator.Emulator` (reference dialect, seed 0). Configure
    it before the code under test runs, inspect it afterwards::

        def test_provisioning(exotel_emulator):
            exotel_emulator.configure(latency=0.01)
            exotel_emulator.script("POST", "/trunks", "503")

``exotel_client``
    An open :class:`~exotel_trunking.AsyncTrunkingClient` talking to ``exotel_emulator`` in
    process (``rate_limit=None``, and retries that back off by milliseconds), closed after the
    test::

        @pytest.mark.anyio  # or @pytest.mark.asyncio with pytest-asyncio
        async def test_create(exotel_client, exotel_emulator):
            trunk = await exotel_client.trunks.create("my_trunk")
            assert exotel_emulator.state.get_trunk(trunk.trunk_sid)

``exotel_sync_client``
    An open :class:`~exotel_trunking.TrunkingClient` (the synchronous client) talking to
    ``exotel_emulator`` in process, with the same settings, closed after the test; for plain
    ``def`` tests of Django or Flask views, scripts and Celery tasks::

        def test_view(exotel_sync_client, exotel_emulator):
            trunk = exotel_sync_client.trunks.create("my_trunk")
            assert exotel_emulator.state.get_trunk(trunk.trunk_sid)

How ``exotel_client`` works under both async test plugins
---------------------------------------------------------
An async fixture must be driven by the plugin that runs the test, in the test's own event
loop. The two plugins pick async fixtures up differently:

* anyio's plugin runs *any* ``async def`` fixture whose request involves its
  ``anyio_backend`` fixture (a test marked ``@pytest.mark.anyio`` does), on that backend,
  asyncio or trio.
* pytest-asyncio in strict mode runs only fixtures decorated with ``pytest_asyncio.fixture``,
  in the loop of the ``loop_scope`` they declare; it ignores the others.

So ``exotel_client`` is a plain fixture that dispatches to one of two private async fixtures:
``_exotel_client_anyio`` (undecorated, so only anyio ever runs it) when the test uses
``anyio_backend``, or, for a test marked ``asyncio``, ``_exotel_client_asyncio_<scope>`` (made
with ``pytest_asyncio.fixture`` when pytest-asyncio is installed) whose ``loop_scope`` matches
the test's, so client and test share one event loop. A sync test asking for it fails with a
message saying what to do. pytest-asyncio's *auto* mode also claims anyio's tests; keep it in
strict mode (its default) where anyio tests use these fixtures.

Loading the plugin imports no emulator code: that happens only when a fixture is used, so
test runs that never use them pay nothing for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, get_args

import pytest

if TYPE_CHECKING:
    from exotel_trunking import AsyncTrunkingClient, TrunkingClient
    from exotel_trunking.emulator import Emulator

try:  # optional: only needed to serve tests that pytest-asyncio runs
    import pytest_asyncio
except ImportError:  # pragma: no cover - depends on the user's environment
    pytest_asyncio = None  # type: ignore[assignment]

__all__ = [
    "EMULATOR_ACCOUNT_SID",
    "EMULATOR_API_KEY",
    "EMULATOR_API_TOKEN",
    "exotel_client",
    "exotel_emulator",
    "exotel_sync_client",
]

#: The credentials the fixtures' emulator accepts and their client sends.
EMULATOR_API_KEY = "test-api-key"
EMULATOR_API_TOKEN = "test-api-token"  # noqa: S105 - a fixed test credential, not a secret
EMULATOR_ACCOUNT_SID = "test_account"

_LoopScope = Literal["function", "class", "module", "package", "session"]
_LOOP_SCOPES: tuple[_LoopScope, ...] = get_args(_LoopScope)


@pytest.fixture
def exotel_emulator() -> Emulator:
    """A fresh in-memory Exotel account: reference dialect, seed 0."""
    from exotel_trunking.emulator import Emulator  # noqa: PLC0415 - keep the plugin light

    return Emulator(
        api_key=EMULATOR_API_KEY,
        api_token=EMULATOR_API_TOKEN,
        account_sid=EMULATOR_ACCOUNT_SID,
        dialect="reference",
        seed=0,
    )


def _client_options(emulator: Emulator) -> dict[str, Any]:
    from exotel_trunking import RetryPolicy  # noqa: PLC0415 - keep the plugin light

    return {
        "api_key": EMULATOR_API_KEY,
        "api_token": EMULATOR_API_TOKEN,
        "account_sid": emulator.account_sid,
        "transport": emulator.transport(),
        "rate_limit": None,
        # Milliseconds of backoff, so a test that injects a 503 does not sleep for seconds.
        # A Retry-After is still honoured to the letter (the emulator's fault_retry_after).
        "retry": RetryPolicy(initial_delay=0.001, max_delay=0.01),
    }


def _new_client(emulator: Emulator) -> AsyncTrunkingClient:
    from exotel_trunking import AsyncTrunkingClient  # noqa: PLC0415 - keep the plugin light

    return AsyncTrunkingClient(**_client_options(emulator))


@pytest.fixture
def exotel_sync_client(exotel_emulator: Emulator) -> Iterator[TrunkingClient]:
    """An open ``TrunkingClient`` wired to ``exotel_emulator``, closed after the test."""
    from exotel_trunking import TrunkingClient  # noqa: PLC0415 - keep the plugin light

    with TrunkingClient(**_client_options(exotel_emulator)) as client:
        yield client


@pytest.fixture
async def _exotel_client_anyio(exotel_emulator: Emulator) -> AsyncIterator[AsyncTrunkingClient]:
    # Deliberately not a pytest_asyncio fixture: only anyio's plugin may run this one.
    async with _new_client(exotel_emulator) as client:
        yield client


def _asyncio_client_fixture(loop_scope: _LoopScope) -> Callable[..., Any]:
    async def client(exotel_emulator: Emulator) -> AsyncIterator[AsyncTrunkingClient]:
        async with _new_client(exotel_emulator) as opened:
            yield opened

    name = f"_exotel_client_asyncio_{loop_scope}"
    try:
        decorate = pytest_asyncio.fixture(loop_scope=loop_scope, name=name)
    except TypeError:  # pytest-asyncio < 0.24 knows no loop scopes: one loop per test
        decorate = pytest_asyncio.fixture(name=name)
    return decorate(client)


if pytest_asyncio is not None:
    # One per loop scope, so the client lives in the very loop its test runs in.
    _exotel_client_asyncio_function = _asyncio_client_fixture("function")
    _exotel_client_asyncio_class = _asyncio_client_fixture("class")
    _exotel_client_asyncio_module = _asyncio_client_fixture("module")
    _exotel_client_asyncio_package = _asyncio_client_fixture("package")
    _exotel_client_asyncio_session = _asyncio_client_fixture("session")


def _asyncio_loop_scope(request: pytest.FixtureRequest, marker: pytest.Mark) -> str:
    """The loop scope pytest-asyncio runs the test in: its marker's, else the ini default."""
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    if scope is None:
        try:
            scope = request.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # pytest-asyncio older than the option: tests get function loops
            scope = None
    return scope if scope in _LOOP_SCOPES else "function"


@pytest.fixture
def exotel_client(request: pytest.FixtureRequest) -> AsyncTrunkingClient:
    """An open ``AsyncTrunkingClient`` wired to ``exotel_emulator``, closed after the test.

    Works in tests run by anyio's plugin (asyncio or trio) and by pytest-asyncio.
    """
    if "anyio_backend" in request.fixturenames:
        client: AsyncTrunkingClient = request.getfixturevalue("_exotel_client_anyio")
        return client
    marker = request.node.get_closest_marker("asyncio")
    if marker is not None and pytest_asyncio is not None:
        scope = _asyncio_loop_scope(request, marker)
        client = request.getfixturevalue(f"_exotel_client_asyncio_{scope}")
        return client
    pytest.fail(
        "exotel_client is an open async client: use it from an async test marked "
        "@pytest.mark.anyio (anyio's plugin) or @pytest.mark.asyncio (pytest-asyncio)",
        pytrace=False,
    )
