"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx
import trustme

from . import wire


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/live/conftest.py: pytest reads options only from the conftests it
    # loads before parsing, and a bare ``pytest --live`` loads that one too late.
    parser.addoption(
        "--live",
        action="store_true",
        default=False,
        help="run tests/live against the Exotel account in EXOTEL_API_KEY, EXOTEL_API_TOKEN "
        "and EXOTEL_ACCOUNT_SID instead of the served emulator (see the README's "
        "'Checking against your account')",
    )


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on asyncio and on trio."""
    return str(request.param)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A test certificate authority (trustme), for TLS servers on 127.0.0.1."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_pem(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test CA's certificate, as a PEM file (what ``SSL_CERT_FILE`` / ``verify=`` name)."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def exotel() -> Iterator[respx.MockRouter]:
    """A respx router for the test account that fails on unrouted and uncalled routes."""
    with wire.mock_exotel() as router:
        yield router
